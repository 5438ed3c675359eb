"""One error shape for every refusal: unknown routes, wrong methods, oversized bodies."""
from __future__ import annotations

from tests.web.conftest import error_of


def test_unknown_route_and_wrong_method_keep_the_shape(auth):
    admin = auth.as_("admin")
    missing = admin.get("/api/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = admin.delete("/api/tasks")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


def test_json_body_over_the_limit_is_413(app, auth):
    limit = app.extensions["aftersales"].settings.max_request_bytes
    response = auth.as_("alice").post("/api/requests", json={"order_id": "O-1001",
                                                              "reason": "x" * limit})
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "too_large" and error["details"]["limit"] == limit


def test_unknown_ids_are_404_with_the_shape(auth):
    admin = auth.as_("admin")
    for path in ("/api/instances/999", "/api/requests/AS-19990101-0001", "/api/tasks/nope",
                 "/api/attachments/5", "/api/definitions/ghost/versions"):
        response = admin.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"
    for huge in ("99999999999999999999999", str(2**63), str(2**63 - 1)):   # BIGINT's edge
        response = admin.get(f"/api/instances/{huge}")
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_a_locked_database_is_503_with_retry_after(auth, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from engine import tasklist

    def locked(*args, **kwargs):
        raise OperationalError("SELECT ...", {}, Exception("database is locked"))
    monkeypatch.setattr(tasklist, "list_tasks", locked)
    response = auth.as_("finance_1").get("/api/tasks")
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert error_of(response)["code"] == "busy"
