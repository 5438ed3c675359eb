"""Deploying and validating BPMN uploads over HTTP, and reading deployed versions."""
from __future__ import annotations

import io

from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.conftest import DATA
from tests.web.conftest import error_of

SIMPLE = DATA / "simple"


def simple_upload(**changes) -> list[tuple[str, str, bytes]]:
    """(field, file name, content) of the simple bundle, with some files replaced."""
    files = {"simple.bpmn": (SIMPLE / "simple.bpmn").read_bytes(),
             "forms/review.json": (SIMPLE / "forms" / "review.json").read_bytes(),
             "forms/confirm.json": (SIMPLE / "forms" / "confirm.json").read_bytes()}
    files.update(changes)
    return [("files", name, content) for name, content in files.items() if content is not None]


def post(caller, path, uploads, **fields):
    values = [(field, FileStorage(io.BytesIO(content), filename=name))
              for field, name, content in uploads] + list(fields.items())
    from werkzeug.datastructures import MultiDict

    boundary, body = encode_multipart(MultiDict(values))
    return caller.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_deploy_then_identical_redeploy(auth):
    owner = auth.as_("owner")
    first = post(owner, "/api/definitions", simple_upload(), comment="first cut")
    assert first.status_code == 201
    assert first.get_json()["deployed"] == [{"process_key": "simple", "version": 1,
                                             "definition_id": 2, "created": True}]
    again = post(owner, "/api/definitions", simple_upload())
    assert again.status_code == 200 and again.get_json()["created"] is False
    changed = (SIMPLE / "simple.bpmn").read_bytes().replace(b"Review request", b"Review (v2)")
    second = post(owner, "/api/definitions", simple_upload(**{"simple.bpmn": changed}))
    assert second.status_code == 201 and second.get_json()["deployed"][0]["version"] == 2
    versions = owner.get("/api/definitions/simple/versions").get_json()["items"]
    assert [(v["version"], v["comment"], v["deployed_by"]) for v in versions] == [
        (1, "first cut", "owner"), (2, None, "owner")]
    latest = {d["process_key"]: d["version"] for d in owner.get("/api/definitions").get_json()["items"]}
    assert latest == {"aftersales_request": 1, "simple": 2}
    source = owner.get("/api/definitions/simple/versions/2").get_json()
    assert "Review (v2)" in source["sources"]["simple.bpmn"] and "review.json" in source["forms"]
    assert owner.get("/api/definitions/simple/versions/3").status_code == 404


def test_forms_may_come_as_text_fields(auth):
    uploads = simple_upload(**{"forms/review.json": None})
    review = (SIMPLE / "forms" / "review.json").read_text()
    response = post(auth.as_("owner"), "/api/definitions", uploads, **{"forms/review.json": review})
    assert response.status_code == 201


def test_invalid_upload_lists_every_problem_and_stores_nothing(auth):
    owner = auth.as_("owner")
    broken = (SIMPLE / "simple.bpmn").read_bytes().replace(b'targetRef="decide"', b'targetRef="nowhere"')
    response = post(owner, "/api/definitions",
                    simple_upload(**{"simple.bpmn": broken, "forms/review.json": None}))
    assert response.status_code == 422
    problems = error_of(response)["details"]["problems"]
    assert len(problems) >= 2 and {p["file"] for p in problems} == {"simple.bpmn"}
    messages = " ".join(p["message"] for p in problems)
    assert "nowhere" in messages and "review.json" in messages
    assert owner.get("/api/definitions/simple/versions").status_code == 404


def test_validate_reports_without_deploying(auth):
    owner = auth.as_("owner")
    ok = post(owner, "/api/definitions/validate", simple_upload())
    assert ok.status_code == 200 and ok.get_json() == {"ok": True, "problems": [],
                                                       "would_version": ["simple"],
                                                       "unchanged": []}
    bad = post(owner, "/api/definitions/validate", simple_upload(**{"forms/confirm.json": b"{oops"}))
    assert bad.status_code == 200 and bad.get_json()["ok"] is False
    assert "confirm.json" in bad.get_json()["problems"][0]["message"]
    assert owner.get("/api/definitions/simple/versions").status_code == 404


def test_a_form_ref_to_nothing_is_refused_naming_the_task_and_form(auth):
    """Deployed, it made every completion of the task a 500 (jsonschema's PointerToNowhere)."""
    owner = auth.as_("owner")
    review = (b'{"type": "object", "required": ["approved"], "properties": {'
              b'"approved": {"type": "boolean"}, "note": {"$ref": "#/definitions/nowhere"}}}')
    uploads = simple_upload(**{"forms/review.json": review})
    checked = post(owner, "/api/definitions/validate", uploads)
    assert checked.status_code == 200 and checked.get_json()["ok"] is False
    [problem] = checked.get_json()["problems"]
    assert (problem["file"], problem["element_id"]) == ("simple.bpmn", "review")
    assert "review.json" in problem["message"] and "'#/definitions/nowhere'" in problem["message"]
    deployed = post(owner, "/api/definitions", uploads)
    assert deployed.status_code == 422
    assert [p["element_id"] for p in error_of(deployed)["details"]["problems"]] == ["review"]
    assert owner.get("/api/definitions/simple/versions").status_code == 404


def test_recursive_call_activities_are_refused_over_http(auth):
    # A process calling itself, and two calling each other, would never finish starting.
    owner = auth.as_("owner")
    recursive = DATA / "recursive"
    for names, refused in ((["self_calling.bpmn"], [("self_calling.bpmn", "call_self_calling")]),
                           (["ping.bpmn", "pong.bpmn"], [("ping.bpmn", "call_pong"),
                                                         ("pong.bpmn", "call_ping")])):
        uploads = [("files", name, (recursive / name).read_bytes()) for name in names]
        checked = post(owner, "/api/definitions/validate", uploads)
        assert checked.status_code == 200 and checked.get_json()["ok"] is False
        problems = checked.get_json()["problems"]
        assert [(p["file"], p["element_id"]) for p in problems] == refused
        assert all(p["line"] == 7 and "may not call itself" in p["message"] for p in problems)
        deployed = post(owner, "/api/definitions", uploads)
        assert deployed.status_code == 422
        assert [p["element_id"] for p in error_of(deployed)["details"]["problems"]] == [
            element for _, element in refused]
    assert owner.get("/api/definitions/ping/versions").status_code == 404   # nothing stored


def test_upload_refusals(app, auth):
    owner = auth.as_("owner")
    json_body = owner.post("/api/definitions", json={"files": []})
    assert json_body.status_code == 422 and error_of(json_body)["details"]["field"] == "files"
    no_bpmn = post(owner, "/api/definitions", [("files", "forms/review.json", b"{}")])
    assert no_bpmn.status_code == 422
    exe = post(owner, "/api/definitions", simple_upload(**{"tool.exe": b"MZ"}))
    assert exe.status_code == 422 and error_of(exe)["details"]["problems"][0]["file"] == "tool.exe"
    limit = app.extensions["aftersales"].settings.max_upload_bytes
    huge = post(owner, "/api/definitions", simple_upload(**{"simple.bpmn": b" " * (limit + 1)}))
    assert huge.status_code == 413
    hostile = post(owner, "/api/definitions/validate", simple_upload(**{"simple.bpmn": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<x>&e;</x>')}))
    assert hostile.status_code == 200 and hostile.get_json()["ok"] is False
    assert "root:" not in str(hostile.get_json()["problems"])     # the entity was not resolved
