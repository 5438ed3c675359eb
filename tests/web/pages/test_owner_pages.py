"""Process owner pages (web/pages/owner.py): processes and versions, upload with validation,
deploy, the difference between two versions and the migration of running instances."""
from __future__ import annotations

import json

import pytest

from tests.web.pages.conftest import bundle_files, select, table_rows, text_of, texts

KEY = "aftersales_request"
RENAME = [('name="Review request"', 'name="Check the request"')]
TYPO = [('targetRef="approved"', 'targetRef="approved_typo"')]


def html_of(response) -> str:
    return response.get_data(as_text=True)


def versions_of(html: str) -> list[dict]:
    """The process page's versions table, newest first."""
    return [{"version": row[0], "by": row[2], "comment": row[3], "running": row[5]}
            for row in table_rows(html, "<h2>Versions</h2>")]


def newest_version_listed(owner) -> str:
    [row] = table_rows(owner.get("/processes").get_data(as_text=True))
    return row[2]


@pytest.fixture
def owner(browser):
    return browser("owner")


@pytest.fixture
def v2(owner, desk):
    """A running request on v1, then v2 (the review task renamed) deployed in the page."""
    number = desk.file()["number"]
    deployed = owner.upload("/processes/upload", bundle_files(replace=RENAME),
                            fields={"action": "deploy", "comment": "review renamed"})
    assert deployed.status_code == 200, text_of(html_of(deployed))
    return number


# ------------------------------------------------------------------ processes

def test_processes_lists_the_newest_versions_with_running_instances(owner, desk):
    desk.file()
    desk.file("bob", order_id="O-1002", type="complaint")
    html = html_of(owner.get("/processes"))
    assert texts(html, "h1") == ["Processes"]
    [row] = table_rows(html)
    assert [row[0], row[1], row[2], row[4], row[5]] == [
        "After-sales request (test fixture)", KEY, "v1", "owner", "2"]
    assert select(html, "a", "href", f"/processes/{KEY}")
    assert select(html, "a", "href", "/processes/upload")


def test_process_page_shows_the_versions_and_the_diagram(owner, v2):
    html = html_of(owner.get(f"/processes/{KEY}"))
    assert texts(html, "h1") == ["After-sales request (test fixture) aftersales_request"]
    assert versions_of(html) == [
        {"version": "v2", "by": "owner", "comment": "review renamed", "running": "0"},
        {"version": "v1", "by": "owner", "comment": "", "running": "1"}]
    [payload] = texts(html, "script", "class", "diagram-data")
    assert json.loads(payload)["files_url"].startswith("/definitions/2/bpmn.json")
    assert select(html, "a", "href", f"/processes/{KEY}/migrate")
    assert len(select(html, "form", "action", f"/processes/{KEY}/diff")) == 1


def test_a_single_version_cannot_be_compared(owner, world):
    html = html_of(owner.get(f"/processes/{KEY}"))
    assert "Only one version is deployed." in text_of(html)
    assert select(html, "form", "action", f"/processes/{KEY}/diff") == []


def test_an_unknown_process_is_404(owner, world):
    response = owner.get("/processes/no_such_process")
    assert response.status_code == 404
    assert "Process no_such_process is not deployed." in text_of(html_of(response))


# ------------------------------------------------------------------ diff

def test_diff_shows_the_changed_element_and_the_instances_on_it(owner, v2):
    response = owner.get(f"/processes/{KEY}/diff?a=1&b=2")
    html = html_of(response)
    assert response.status_code == 200
    assert texts(html, "h1") == ["What changed from v1 to v2"]
    assert [texts(html, "div", "id", f"n-{kind}")[0] for kind in ("added", "removed", "changed")] == ["0", "0", "1"]
    [change] = texts(html, "tr", "class", "change-changed")
    assert change == 'Changed Check the request review userTask name: "Review request" → "Check the request"'
    [affected] = texts(html, "li", "class", "reqno")
    assert affected.startswith(v2) and "review (READY, changed)" in affected
    old, new = (json.loads(t) for t in texts(html, "script", "class", "diagram-data"))
    assert old["marks"] == {"review": "changed"} and new["marks"] == {"review": "changed"}


def test_diff_of_a_version_with_itself_is_empty(owner, world):
    html = html_of(owner.get(f"/processes/{KEY}/diff?a=1&b=1"))
    assert "The two versions run the same elements" in text_of(html)
    assert texts(html, "div", "id", "n-changed") == ["0"]


@pytest.mark.parametrize("query, status, message", [
    ("a=x&b=1", 422, "Choose two deployed versions."),
    ("b=1", 422, "Choose two deployed versions."),
    ("a=1&b=9", 404, "process 'aftersales_request' has no version 9"),
])
def test_diff_with_bad_versions(owner, world, query, status, message):
    response = owner.get(f"/processes/{KEY}/diff?{query}")
    assert response.status_code == status
    assert message in text_of(html_of(response))


# ------------------------------------------------------------------ migrate

def test_migrate_page_offers_the_versions(owner, v2):
    html = html_of(owner.get(f"/processes/{KEY}/migrate"))
    assert texts(html, "h1") == ["Migrate running instances of aftersales_request"]
    start = html.index('<select name="from">')
    sources = select(html[start:html.index("</select>", start)], "option")
    assert [(o["text"], "selected" in o["attrs"]) for o in sources] == [("v1 (1)", True), ("v2 (0)", False)]
    assert select(html, "section", "id", "migration-report") == []


def test_dry_run_reports_and_moves_nothing(owner, v2):
    response = owner.post(f"/processes/{KEY}/migrate", {"from": "1", "to": "2", "action": "dry_run"})
    html = html_of(response)
    assert response.status_code == 200
    assert len(select(html, "section", "id", "migration-report")) == 1
    assert texts(html, "h2")[-1] == "Dry-run report"
    assert table_rows(html, 'id="migration-report"') == [[v2, "can move", "review → review", ""]]
    running = [v["running"] for v in versions_of(html_of(owner.get(f"/processes/{KEY}")))]
    assert running == ["0", "1"]                                  # still on v1


def test_migrate_moves_the_instances(owner, desk, v2):
    response = owner.post(f"/processes/{KEY}/migrate", {"from": "1", "to": "2", "action": "migrate"})
    html = html_of(response)
    assert texts(html, "h2")[-1] == "Migration report"
    assert table_rows(html, 'id="migration-report"') == [[v2, "moved", "review → review", ""]]
    running = [v["running"] for v in versions_of(html_of(owner.get(f"/processes/{KEY}")))]
    assert running == ["1", "0"]
    task = desk.task_of(v2)
    assert task["name"] == "Check the request"


def test_dry_run_with_nothing_on_the_source_version(owner, v2):
    html = html_of(owner.post(f"/processes/{KEY}/migrate", {"from": "2", "to": "1"}))
    assert "No unfinished instance runs on v2." in text_of(html)


@pytest.mark.parametrize("form, status, message", [
    ({"from": "1", "to": "2", "mapping": "nonsense"}, 422, "Write one old_id=new_id per line."),
    ({"from": "1", "to": ""}, 422, "Choose two deployed versions."),
    ({"from": "1", "to": "7"}, 404, "has no version 7"),
])
def test_migrate_with_bad_input(owner, v2, form, status, message):
    response = owner.post(f"/processes/{KEY}/migrate", form)
    assert response.status_code == status
    assert message in text_of(html_of(response))


def test_migrate_of_an_unknown_process_is_404(owner, world):
    assert owner.get("/processes/no_such_process/migrate").status_code == 404


# ------------------------------------------------------------------ upload

def test_upload_page_has_the_form(owner, world):
    html = html_of(owner.get("/processes/upload"))
    assert texts(html, "h1") == ["Upload and deploy"]
    [form] = select(html, "form", "id", "upload-form")
    assert form["attrs"]["enctype"] == "multipart/form-data"
    assert [b["attrs"]["value"] for b in select(html, "button", "name", "action")] == ["validate", "deploy"]
    assert texts(html, "section", "id", "upload-result") == [""]


def test_validating_a_good_bundle_deploys_nothing(owner, world):
    response = owner.upload("/processes/upload", bundle_files(replace=RENAME),
                            fields={"action": "validate"}, fetch=True)
    html = html_of(response)
    assert response.status_code == 200 and "<html" not in html
    assert texts(html, "div", "role", "status") == [
        "No problems found in aftersales_request.bpmn, diagnose.json, refund.json, "
        "repair_item.json, respond.json, review.json. You can deploy."]
    assert newest_version_listed(owner) == "v1"


def test_validating_a_bad_bundle_lists_the_problem_with_file_and_line(owner, world):
    files = bundle_files(replace=TYPO)
    response = owner.upload("/processes/upload", files, fields={"action": "validate"})
    html = html_of(response)
    assert response.status_code == 422 and html.startswith("<!doctype html>")
    assert texts(html, "div", "role", "alert") == ["1 problem(s): nothing was deployed."]
    [[name, line, element, message]] = table_rows(html, 'class="grid problems"')
    assert (name, element) == ("aftersales_request.bpmn", "f_reviewed")
    assert "approved_typo" in message
    source = dict(files)["aftersales_request.bpmn"].decode().splitlines()
    assert "approved_typo" in source[int(line) - 1]


def test_deploying_a_bad_bundle_is_refused(owner, world):
    response = owner.upload("/processes/upload", bundle_files(replace=TYPO),
                            fields={"action": "deploy"}, fetch=True)
    assert response.status_code == 422
    [problem] = table_rows(html_of(response), 'class="grid problems"')
    assert "approved_typo" in problem[3]
    assert [v["version"] for v in versions_of(html_of(owner.get(f"/processes/{KEY}")))] == ["v1"]


def test_deploy_stores_a_new_version_once(owner, world):
    files = bundle_files(replace=RENAME)
    response = owner.upload("/processes/upload", files, fields={"action": "deploy"}, fetch=True)
    html = html_of(response)
    assert response.status_code == 200
    assert texts(html, "div", "role", "status") == ["Deployed."]
    assert texts(html, "li") == ["aftersales_request v2"]
    assert newest_version_listed(owner) == "v2"
    again = owner.upload("/processes/upload", files, fields={"action": "deploy"}, fetch=True)
    assert texts(html_of(again), "li") == [
        "aftersales_request v2 (unchanged: identical content was already deployed)"]


@pytest.mark.parametrize("files, message", [
    ([("notes.txt", b"hello")], "notes.txt is not a .bpmn, .dmn or form .json file."),
    ([("review.json", b"{}")], "Choose at least one .bpmn or .dmn file."),
    ([], "Choose at least one .bpmn or .dmn file."),
])
def test_upload_without_a_bpmn_file_is_422(owner, world, files, message):
    response = owner.upload("/processes/upload", files, fields={"action": "validate"})
    assert response.status_code == 422
    assert message in text_of(html_of(response))


def test_upload_needs_the_csrf_token(owner, world):
    owner.token = "forged"
    response = owner.upload("/processes/upload", bundle_files(replace=RENAME),
                            fields={"action": "deploy"})
    assert response.status_code == 400
