"""`aftersales report --period`, run as an operator runs it."""
from __future__ import annotations

import json

import openpyxl

from engine import db, reports

from tests.web.cli.test_cli import cli  # noqa: F401  (the fixture: the command on a test database)


def test_report_writes_the_workbook_and_prints_a_summary(cli, tmp_path):  # noqa: F811
    out = tmp_path / "q4.xlsx"
    result = cli("report", "--period", "2026-Q4", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "2026-Q4 (2026-09-30T16:00:00+00:00 - 2026-12-31T16:00:00+00:00): 0 requests")
    assert result.output.splitlines()[-1] == f"written to {out}"
    assert "复购 Repurchase" in openpyxl.load_workbook(out).sheetnames


def test_report_as_json_and_kept_with_store(cli, db_url):  # noqa: F811
    result = cli("report", "--period", "2026-11", "--json", "--store")
    assert json.loads(result.output)["kpis"]["overall"]["requests"] == 0
    with db.make_session_factory(db.make_engine(db_url))() as session:
        assert [r["period"] for r in reports.listed(session)] == ["2026-11"]
        assert reports.stored(session, "2026-11") == json.loads(result.output)


def test_a_bad_period_is_named(cli):  # noqa: F811
    result = cli("report", "--period", "Q4")
    assert result.exit_code == 1 and "period must be a week (2026-W48)" in result.stderr
