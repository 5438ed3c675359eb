"""A process owner validates an upload (problems listed with their line), deploys a new version,
sees the changed element on the two diagrams, and migrates the running request to it after a
dry run."""
from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.models import Definition, Instance
from tests.conftest import ROOT
from tests.e2e.conftest import login, shot

pytestmark = pytest.mark.e2e

OLD_NAME = 'name="Approve refund 审批退款"'
NEW_NAME = 'name="Approve refund (finance) 财务审批退款"'


def bundle_files(folder):
    return sorted(str(p) for p in [*folder.glob("*.bpmn"), *folder.glob("*.dmn"),
                                   *(folder / "forms").glob("*.json")])


def test_validate_deploy_diff_and_migrate(page, desk, tmp_path, app):
    number = desk.file().number
    folder = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", folder)
    source = (folder / "refund_first.bpmn").read_text("utf-8")
    assert OLD_NAME in source

    login(page, "owner")
    expect(page).to_have_url("/processes")
    expect(page.locator("table.grid")).to_contain_text("aftersales_request")
    page.click("text=上传与部署")

    # A broken reference: nothing is deployed, the problem names its file and line.
    broken = tmp_path / "broken" / "refund_first.bpmn"
    broken.parent.mkdir()
    broken.write_text(source.replace('targetRef="approve_refund"', 'targetRef="approve_refund_typo"'),
                      "utf-8")
    page.set_input_files("input[type=file]",
                         [str(broken), str(folder / "refund_approval.dmn"),
                          *map(str, sorted((folder / "forms").glob("*.json")))])
    page.click("button[value=validate]")
    problems = page.locator("#upload-result table.problems tbody tr")
    expect(problems).to_have_count(1)
    expect(problems.first).to_contain_text("approve_refund_typo")
    line = int(problems.first.locator("td.line").inner_text())
    assert 'approve_refund_typo' in broken.read_text("utf-8").splitlines()[line - 1]
    shot(page, "06-upload-validation-problems")

    # The same bundle with the task renamed: deploying makes new versions.
    (folder / "refund_first.bpmn").write_text(source.replace(OLD_NAME, NEW_NAME), "utf-8")
    page.set_input_files("input[type=file]", bundle_files(folder))
    page.fill("input[name=comment]", "审批任务改名")
    page.click("button[value=deploy]")
    result = page.locator("#upload-result")
    expect(result.locator(".alert.success")).to_have_text("已部署。")
    expect(result).to_contain_text("aftersales_request v2")
    expect(result).to_contain_text("refund_first v2")

    # The difference, coloured on both diagrams; the running request stands on the change.
    page.goto("/processes/aftersales_request")
    page.click("text=查看差异")
    expect(page.locator("#n-changed")).to_have_text("1")
    for side in ("old", "new"):
        box = page.locator(f'[data-diagram="{side}"].rendered')
        expect(box).to_have_attribute("data-file", "refund_first.bpmn")
        expect(box.locator('.djs-element.mark-changed[data-element-id="approve_refund"]')).to_have_count(1)
    expect(page.locator("table.diff-table")).to_contain_text("财务审批退款")
    expect(page.locator("body")).to_contain_text(number)
    shot(page, "07-version-diff")

    # Dry run first, then the move.
    page.goto("/processes/aftersales_request/migrate")
    page.select_option("select[name=from]", "1")
    page.select_option("select[name=to]", "2")
    page.click("button[value=dry_run]")
    report = page.locator("#migration-report")
    expect(report.locator("h2")).to_have_text("试运行报告")
    expect(report.locator("tr", has_text=number)).to_contain_text("可迁移")
    expect(report.locator("tr", has_text=number)).to_contain_text("approve_refund")
    shot(page, "08-migration-dry-run")
    with app.extensions["aftersales"].sessions() as session:
        version = session.scalar(select(Definition.version).join(
            Instance, Instance.definition_id == Definition.id).where(Instance.business_key == number))
    assert version == 1
    page.click("button[value=migrate]")
    expect(report.locator("h2")).to_have_text("迁移报告")
    expect(report.locator("tr", has_text=number)).to_contain_text("已迁移")
    with app.extensions["aftersales"].sessions() as session:
        version = session.scalar(select(Definition.version).join(
            Instance, Instance.definition_id == Definition.id).where(Instance.business_key == number))
    assert version == 2
