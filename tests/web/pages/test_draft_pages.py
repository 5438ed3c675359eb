"""The owners' draft pages (web/pages/drafts.py): a draft started from a process page, the
editor page with its files, what the editor asks as the owner types (field checks, validation
of unsaved files, the form preview), saving, sharing, the zip, what-if and the deploy with its
confirmation. Refusals of the editor's calls are JSON with the API's shape and status."""
from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from tests.web.pages.conftest import select, text_of

KEY = "aftersales_request"


@pytest.fixture
def owner(browser):
    return browser("owner")


def call(page, path, body):
    """The editor's script: a JSON post with the page's CSRF token."""
    return page.client.post(path, json=body, headers={"X-CSRF-Token": page.token,
                                                      "X-Requested-With": "fetch"})


def editor_config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="editor-config">(.*?)</script>',
                      html, re.S)
    return json.loads(found.group(1))


@pytest.fixture
def draft(owner):
    page = owner.get(f"/processes/{KEY}")
    assert select(page.get_data(as_text=True), "form", "id", "edit-process")
    created = owner.post("/drafts", {"process_key": KEY})
    assert created.status_code == 302
    path = created.headers["Location"]
    html = owner.get(path).get_data(as_text=True)
    return path, editor_config(html)


def test_the_editor_opens_the_deployed_files_of_the_process(owner, draft):
    path, config = draft
    assert f"{KEY}.bpmn" in config["files"] and config["revision"] == 1
    assert "finance" in config["vocabulary"]["departments"]
    assert config["labels"]["finance"] == "Finance"
    html = owner.get(path).get_data(as_text=True)
    assert "build/editor.js" in html and "Started from the deployed version" in text_of(html)


def test_field_checks_and_unsaved_validation_use_deploys_rules(owner, draft):
    path, config = draft
    week = call(owner, "/editor/check", {"kind": "sla", "text": "P1W"}).get_json()
    assert week["ok"] is False and "P1W" in week["error"]
    due = call(owner, "/editor/check", {"kind": "sla", "text": "PT4H"}).get_json()
    assert due["ok"] and due["preview"]["due_at"]
    refused = call(owner, "/editor/check", {"kind": "nope", "text": ""})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"]["field"] == "kind"

    source = config["files"][f"{KEY}.bpmn"]
    broken = {**config["files"], f"{KEY}.bpmn": re.sub(r'(name="sla" value=")[^"]*"',
                                                       r'\1P1W"', source, count=1)}
    checked = call(owner, f"{path}/check", {"files": broken}).get_json()
    assert checked["ok"] is False and "P1W" in checked["problems"][0]["message"]
    assert checked["problems"][0]["element_id"]
    assert call(owner, f"{path}/check", {"files": config["files"]}).get_json()["ok"] is True
    bad = call(owner, f"{path}/check", {"files": {"x.txt": "no"}})
    assert bad.status_code == 422 and bad.get_json()["error"]["details"]["field"] == "files"


def test_the_form_preview_draws_the_fields_as_the_task_page_reads_them(owner):
    schema = {"type": "object", "required": ["amount"], "properties": {
        "amount": {"type": "number", "title": "Amount", "description": "金额", "minimum": 0},
        "reason": {"type": "string", "enum": ["damaged", "late"], "title": "Reason"}}}
    html = owner.client.post("/editor/form-preview", json={"schema": schema},
                             headers={"X-CSRF-Token": owner.token}).get_data(as_text=True)
    fields = select(html, "div", "class", "field")
    assert [f["attrs"]["data-field"] for f in fields] == ["amount", "reason"]
    assert 'min="0"' in html and "damaged" in html and "*" in text_of(html)


def test_save_share_download_and_the_stale_save(owner, browser, draft):
    path, config = draft
    saved = call(owner, f"{path}/save", {"files": config["files"], "note": "n",
                                         "base_revision": 1})
    assert saved.status_code == 200 and saved.get_json()["revision"] == 2
    stale = call(owner, f"{path}/save", {"files": config["files"], "base_revision": 1})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["details"]["field"] == "base_revision"
    zipped = owner.get(f"{path}/bundle.zip")
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as archive:
        assert sorted(archive.namelist()) == sorted(config["files"])
    admin = browser("admin")
    assert admin.get(path).status_code == 200           # admins read every draft
    staff = browser("customer_service_1")
    assert staff.get(path).status_code == 403


def test_what_if_and_deploy_need_a_confirmation(owner, draft):
    path, _config = draft
    report = owner.post(f"{path}/whatif", {"days": "30"})
    assert report.status_code == 200
    assert select(report.get_data(as_text=True), "div", "id", "n-examined")
    assert owner.post(f"{path}/whatif", {"days": "0"}).status_code == 422
    page = owner.get(f"{path}/deploy").get_data(as_text=True)
    assert "creates no new version" in text_of(page)
    unconfirmed = owner.post(f"{path}/deploy", {"revision": "1"})
    assert unconfirmed.status_code == 422
    deployed = owner.post(f"{path}/deploy", {"revision": "1", "confirm": "yes"})
    assert deployed.status_code == 200
    assert "unchanged" in text_of(deployed.get_data(as_text=True))


def test_the_deploy_page_of_a_draft_that_does_not_validate_lists_its_problems(owner, draft):
    path, config = draft
    source = config["files"][f"{KEY}.bpmn"]
    broken = {**config["files"], f"{KEY}.bpmn": re.sub(r'(name="sla" value=")[^"]*"',
                                                       r'\1P1W"', source, count=1)}
    assert call(owner, f"{path}/save", {"files": broken, "base_revision": 1}).status_code == 200
    page = owner.get(f"{path}/deploy")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "P1W" in text_of(html) and not select(html, "form", "id", "deploy-form")
    refused = owner.post(f"{path}/deploy", {"revision": "2", "confirm": "yes"})
    assert refused.status_code == 422 and "P1W" in text_of(refused.get_data(as_text=True))
    assert "v2" not in text_of(owner.get(f"/processes/{KEY}").get_data(as_text=True))


def test_a_body_nested_deeper_than_the_parser_goes_is_no_json_object(owner, draft):
    """The parser's RecursionError passed request.get_json(silent=True): a 500."""
    path, _config = draft
    deep = "[" * 100_000 + "]" * 100_000
    for url in (f"{path}/save", f"{path}/check", "/editor/check", "/editor/form-preview"):
        response = owner.client.post(url, data=deep, content_type="application/json",
                                     headers={"X-CSRF-Token": owner.token,
                                              "X-Requested-With": "fetch"})
        if url == "/editor/form-preview":           # no schema: the empty preview
            assert response.status_code == 200
            assert select(response.get_data(as_text=True), "div", "class", "field") == []
        else:
            assert response.status_code == 422, url
            assert response.get_json()["error"]["details"]["field"] == "body"
