"""`aftersales validate` and `deploy` judge one file as the API does: against what is deployed
(issue 16, items 2 and 3), or alone with --standalone."""
from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from web.cli import main


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_one_file_validates_and_deploys_against_what_is_deployed(cli, tmp_path):
    assert cli("deploy", str(ROOT / "bpmn")).exit_code == 0
    folder = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", folder)
    refund_first = folder / "refund_first.bpmn"
    refund_first.write_text(refund_first.read_text().replace(
        'name="Record refund paid', 'name="Record the refund as paid'))

    alone = cli("validate", "--standalone", str(refund_first))
    assert alone.exit_code == 1 and "return_goods" in alone.output
    checked = cli("validate", str(refund_first))
    assert checked.exit_code == 0, checked.output
    assert "  refund_first: new version" in checked.output.splitlines()
    deployed = cli("deploy", str(refund_first))
    assert deployed.exit_code == 0, deployed.output
    assert deployed.output.splitlines() == ["refund_first v2: deployed"]
