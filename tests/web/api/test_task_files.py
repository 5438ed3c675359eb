"""Comments and attachments on tasks."""
from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import update
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from engine.models import Attachment
from tests.web.conftest import error_of, file_request, open_tasks


@pytest.fixture
def task_id(auth):
    file_request(auth, "alice")
    return open_tasks(auth)[0]["task_id"]


def upload(caller, task_id, content: bytes, name="photo.jpg", content_type="image/jpeg",
           field="file"):
    # Encoded here, in memory: the test client spools big bodies to temp files it never closes.
    boundary, body = encode_multipart(
        {field: FileStorage(io.BytesIO(content), filename=name, content_type=content_type)})
    return caller.post(f"/api/tasks/{task_id}/attachments", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_comments_are_added_and_listed(auth, task_id):
    cs = auth.as_("customer_service_1")
    added = cs.post(f"/api/tasks/{task_id}/comments", json={"body": "called the customer"})
    assert added.status_code == 201 and added.get_json()["author"] == "customer_service_1"
    assert cs.post(f"/api/tasks/{task_id}/comments", json={"body": ""}).status_code == 422
    listed = auth.as_("auditor").get(f"/api/tasks/{task_id}/comments").get_json()["items"]
    assert [c["body"] for c in listed] == ["called the customer"]
    shown = cs.get(f"/api/tasks/{task_id}").get_json()
    assert [c["body"] for c in shown["comments"]] == ["called the customer"]


def test_attachment_round_trip_in_the_database(auth, task_id):
    cs = auth.as_("customer_service_1")
    stored = upload(cs, task_id, b"\xff\xd8jpeg-bytes", name="../../etc/破损.jpg")
    assert stored.status_code == 201
    meta = stored.get_json()
    assert meta["filename"] == "破损.jpg" and meta["size"] == 12
    listed = cs.get(f"/api/tasks/{task_id}/attachments").get_json()["items"]
    assert [a["id"] for a in listed] == [meta["id"]]
    download = auth.as_("auditor").get(meta["url"])
    assert download.status_code == 200 and download.data == b"\xff\xd8jpeg-bytes"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert auth.as_("finance_1").get(meta["url"]).status_code == 403
    assert auth.as_("alice").get(meta["url"]).status_code == 403


def test_attachment_in_a_folder(app, auth, task_id, tmp_path):
    platform = app.extensions["aftersales"]
    platform.settings = platform.settings.with_(attachments_dir=tmp_path / "files")
    meta = upload(auth.as_("customer_service_1"), task_id, b"%PDF-1.7 invoice", "invoice.pdf",
                  "application/pdf").get_json()
    [stored] = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    assert stored.read_bytes() == b"%PDF-1.7 invoice" and stored.name == meta["sha256"]
    assert auth.as_("admin").get(meta["url"]).data == b"%PDF-1.7 invoice"


def test_attachment_over_the_limit_is_413(app, auth, task_id):
    limit = app.extensions["aftersales"].settings.max_attachment_bytes
    cs = auth.as_("customer_service_1")
    just_over = upload(cs, task_id, b"x" * (limit + 1))
    assert just_over.status_code == 413 and error_of(just_over)["code"] == "too_large"
    far_over = upload(cs, task_id, b"x" * (limit + 200_000))
    assert far_over.status_code == 413
    assert cs.get(f"/api/tasks/{task_id}/attachments").get_json()["items"] == []


def test_attachment_needs_a_file_field(auth, task_id):
    response = upload(auth.as_("customer_service_1"), task_id, b"x", field="other")
    assert response.status_code == 422 and error_of(response)["details"]["field"] == "file"


@pytest.mark.parametrize("content_type", ["图片/png", "image/p\u00e9g", "image png", "png",
                                          "image/" + "x" * 100])
def test_a_content_type_no_header_can_carry_is_refused_and_nothing_stored(auth, task_id,
                                                                        content_type):
    """Stored, 图片/png made the download a 500 (a header must be Latin-1)."""
    cs = auth.as_("customer_service_1")
    refused = upload(cs, task_id, b"\x89PNG data", name="a.png", content_type=content_type)
    assert refused.status_code == 422 and error_of(refused)["details"]["field"] == "file"
    assert cs.get(f"/api/tasks/{task_id}/attachments").get_json()["items"] == []


def test_a_content_types_parameters_are_dropped(auth, task_id):
    cs = auth.as_("customer_service_1")
    stored = upload(cs, task_id, b"\x89PNG data", name="a.png",
                    content_type="image/png; name=照片")
    assert stored.status_code == 201 and stored.get_json()["content_type"] == "image/png"
    assert cs.get(stored.get_json()["url"]).headers["Content-Type"] == "image/png"


def test_an_attachment_stored_with_an_unusable_content_type_downloads_as_bytes(
        auth, task_id, sessions):
    """As one stored before uploads were checked: served as it was, it was a 500."""
    cs = auth.as_("customer_service_1")
    meta = upload(cs, task_id, b"\x89PNG data", name="a.png").get_json()
    with sessions.begin() as session:
        session.execute(update(Attachment).values(content_type="图片/png"))
    served = cs.get(meta["url"])
    assert served.status_code == 200 and served.data == b"\x89PNG data"
    assert served.headers["Content-Type"] == "application/octet-stream"


def test_comments_stay_readable_after_completion(auth, task_id):
    cs = auth.as_("customer_service_1")
    cs.post(f"/api/tasks/{task_id}/comments", json={"body": "approved after photo check"})
    cs.post(f"/api/tasks/{task_id}/complete", json={"data": {"approved": False}})
    listed = cs.get(f"/api/tasks/{task_id}/comments").get_json()["items"]
    assert [c["body"] for c in listed] == ["approved after photo check"]
    assert auth.as_("finance_1").get(f"/api/tasks/{task_id}/comments").status_code == 403


def test_comments_and_attachments_are_audit_events_that_keep_the_instance_version(auth, task_id):
    cs = auth.as_("customer_service_1")
    assert cs.post(f"/api/tasks/{task_id}/claim").status_code == 200
    loaded = cs.get(f"/api/tasks/{task_id}").get_json()
    instance_id = loaded["task"]["instance_id"]
    assert cs.post(f"/api/tasks/{task_id}/comments", json={"body": "图片已收到"}).status_code == 201
    assert upload(cs, task_id, b"\xff\xd8 receipt").status_code == 201

    auditor = auth.as_("auditor")
    events = auditor.get(f"/api/instances/{instance_id}/history").get_json()["items"]
    notes = [e for e in events if e["kind"] in ("comment_added", "attachment_added")]
    assert [(e["kind"], e["actor"], e["task_id"]) for e in notes] == [
        ("comment_added", "customer_service_1", task_id),
        ("attachment_added", "customer_service_1", task_id)]
    assert "body" not in notes[0]["payload"]          # history readers need not see the text
    assert notes[0]["payload"]["sha256"] == hashlib.sha256("图片已收到".encode()).hexdigest()
    assert notes[1]["payload"]["filename"] == "photo.jpg" and notes[1]["payload"]["size"] == 10
    assert auditor.get(f"/api/instances/{instance_id}/replay").get_json()["ok"] is True
    # A colleague's note does not make the form loaded before it stale.
    assert cs.get(f"/api/tasks/{task_id}").get_json()["task"]["version"] == loaded["task"]["version"]
    done = cs.post(f"/api/tasks/{task_id}/complete",
                   json={"data": {"approved": True, "note": "ok"},
                         "version": loaded["task"]["version"]})
    assert done.status_code == 200, done.get_json()


def test_a_refused_comment_records_nothing(auth, task_id):
    cs = auth.as_("customer_service_1")
    instance_id = cs.get(f"/api/tasks/{task_id}").get_json()["task"]["instance_id"]
    before = auth.as_("auditor").get(f"/api/instances/{instance_id}/history").get_json()["total"]
    assert cs.post(f"/api/tasks/{task_id}/comments", json={"body": ""}).status_code == 422
    assert cs.post(f"/api/tasks/{task_id}/comments", json={"body": "   "}).status_code == 422
    assert auth.as_("warehouse_1").post(f"/api/tasks/{task_id}/comments",
                                        json={"body": "not mine"}).status_code == 403
    after = auth.as_("auditor").get(f"/api/instances/{instance_id}/history").get_json()["total"]
    assert after == before
