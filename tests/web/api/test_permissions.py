"""The permission matrix: every role against every endpoint.

Allowed cells must get past the permission checks (any answer but 401/403: the call may still
be refused for its content, e.g. 409 when an earlier cell already completed the task); refused
cells must be 403, except that a customer asking about another customer's request gets 404.
The world is built once for the module; cells run in any order against it.

The instance's work is in customer service: staff of another department (finance) and a
supervisor of another department (finance) may neither read it nor act on it, as for its tasks.
"""
from __future__ import annotations

import io
import shutil

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from engine import clock, users
from engine.models import Outbox
from tests.conftest import DATA, T0
from tests.web.conftest import FAST_HASH, PASSWORD, Auth, file_request, order_body, populate
from web import create_app

USERS = {"customer": "alice", "other_customer": "bob", "staff": "customer_service_1",
         "staff_other": "finance_1", "supervisor": "cs_lead", "supervisor_other": "finance_lead",
         "process_owner": "owner",
         "auditor": "auditor", "admin": "admin", "courier": "courier", "payment": "payment", "shop": "shop"}
ROLES = list(USERS)

CUSTOMERS = {"customer", "other_customer"}
TASK_READ = {"staff", "supervisor", "auditor", "admin"}
TASK_ACT = {"staff", "supervisor", "admin"}
INTERNAL_READ = {"staff", "staff_other", "supervisor", "supervisor_other", "process_owner",
                 "auditor", "admin"}
# Staff and supervisors of any department, and the roles that read everything.
STAFF_READ = {"staff", "staff_other", "supervisor", "supervisor_other", "auditor", "admin"}
# An instance whose work is in customer service: not for finance's staff or supervisor.
INSTANCE_READ = INTERNAL_READ - {"staff_other", "supervisor_other"}
SUPERVISE = {"supervisor", "admin"}
OWN = {"process_owner", "admin"}

# (method, path, allowed roles, roles answered 404 instead of 403)
MATRIX = [
    ("put", "/api/orders/O-3001", {"shop"}, set()),
    ("get", "/api/orders?customer_id=C001", CUSTOMERS | STAFF_READ, set()),
    ("get", "/api/orders/O-1001", {"customer"} | STAFF_READ, {"other_customer"}),
    ("post", "/api/requests", CUSTOMERS | {"staff", "supervisor", "admin"}, set()),
    ("get", "/api/requests", CUSTOMERS | STAFF_READ, set()),
    ("get", "/api/requests/{ref}", {"customer"} | INSTANCE_READ - {"process_owner"},
     {"other_customer"}),
    # Finance answers for the money of every request.
    ("get", "/api/requests/{ref}/payments",
     {"customer", "staff_other", "supervisor_other", "auditor", "admin"}, {"other_customer"}),
    *[("post", f"/api/requests/{{ref}}/{answer}", {"customer"}, {"other_customer"})
      for answer in ("quote-answer", "feedback", "rating", "shipped")],
    # The customer's app (web/api/customer.py); photos are read like the request itself.
    ("get", "/api/app/orders", CUSTOMERS, set()),
    ("post", "/api/app/requests", CUSTOMERS, set()),
    ("get", "/api/app/requests/{ref}", {"customer"}, {"other_customer"}),
    ("get", "/api/app/messages", CUSTOMERS, set()),
    ("get", "/api/requests/{ref}/pickup-slots", {"customer"}, {"other_customer"}),
    ("post", "/api/requests/{ref}/pickup-slot", {"customer"}, {"other_customer"}),
    ("get", "/api/requests/{ref}/label.png", {"customer"}, {"other_customer"}),
    ("get", "/api/requests/{ref}/label.pdf", {"customer"}, {"other_customer"}),
    *[("get", f"/api/requests/{{ref}}/{photos}", {"customer"} | INSTANCE_READ - {"process_owner"},
       {"other_customer"}) for photos in ("photos", "photos/1")],
    ("get", "/api/tasks", TASK_READ | {"staff_other", "supervisor_other"}, set()),
    ("get", "/api/tasks/{task}", TASK_READ, set()),
    ("post", "/api/tasks/{task}/claim", TASK_ACT, set()),
    ("post", "/api/tasks/{task}/release", TASK_ACT, set()),
    ("post", "/api/tasks/{task}/complete", TASK_ACT, set()),
    ("post", "/api/tasks/{task}/reassign", SUPERVISE, set()),
    ("post", "/api/tasks/reassign", SUPERVISE, set()),
    ("get", "/api/tasks/{task}/comments", TASK_READ, set()),
    ("post", "/api/tasks/{task}/comments", TASK_ACT, set()),
    ("get", "/api/tasks/{task}/attachments", TASK_READ, set()),
    ("post", "/api/tasks/{task}/attachments", TASK_ACT, set()),
    ("get", "/api/attachments/{attachment}", TASK_READ, set()),
    ("post", "/api/messages", {"courier", "payment", "admin"}, set()),
    ("get", "/api/messages/buffered", {"supervisor", "supervisor_other", "auditor", "admin"},
     set()),
    # Any supervisor may send; which instances take it is judged per instance (test_signals).
    ("post", "/api/signals", SUPERVISE | {"supervisor_other"}, set()),
    ("get", "/api/instances/{instance}", INSTANCE_READ, set()),
    ("get", "/api/instances/{instance}/history", INSTANCE_READ, set()),
    ("get", "/api/instances/{instance}/replay", INSTANCE_READ, set()),
    ("get", "/api/instances/{instance}/replay/1", INSTANCE_READ, set()),
    ("get", "/api/timers", SUPERVISE | {"supervisor_other"}, set()),
    *[("post", f"/api/instances/{{spare}}/timers/no-such-timer/{verb}", SUPERVISE, set())
      for verb in ("fire", "reschedule")],
    *[("post", f"/api/instances/{{spare}}/{verb}", SUPERVISE, set())
      for verb in ("suspend", "resume", "retry", "skip", "cancel")],
    ("post", "/api/definitions", OWN, set()),
    ("post", "/api/definitions/validate", OWN, set()),
    ("get", "/api/definitions", INTERNAL_READ, set()),
    ("get", "/api/definitions/aftersales_request/versions", INTERNAL_READ, set()),
    ("get", "/api/definitions/aftersales_request/versions/1", INTERNAL_READ, set()),
    ("get", "/api/definitions/aftersales_request/diff?from=1&to=1", OWN | {"auditor"}, set()),
    ("post", "/api/definitions/aftersales_request/migrations", OWN, set()),
    ("post", "/api/whatif", OWN, set()),
    # Drafts: owners and admins; whose draft it is the engine decides (test_drafts.py).
    ("get", "/api/drafts", OWN, set()),
    ("post", "/api/drafts", OWN, set()),
    ("get", "/api/drafts/{draft}", OWN, set()),
    ("put", "/api/drafts/{draft}", OWN, set()),
    ("get", "/api/drafts/{draft}/bundle", OWN, set()),
    ("post", "/api/drafts/{draft}/validate", OWN, set()),
    ("post", "/api/drafts/{draft}/shares", OWN, set()),
    ("delete", "/api/drafts/{draft}/shares/nobody", OWN, set()),
    ("post", "/api/drafts/{draft}/whatif", OWN, set()),
    ("post", "/api/drafts/{draft}/deploy", OWN, set()),
    # Drafts' last what-ifs, for supervisors: what each sees of one the engine decides
    # (test_whatif_results.py).
    ("get", "/api/whatif-results", SUPERVISE | {"supervisor_other"}, set()),
    ("get", "/api/whatif-results/{draft}", SUPERVISE | {"supervisor_other"}, set()),
    ("get", "/api/instances/{instance}/export", {"supervisor", "auditor", "admin"}, set()),
    ("get", "/api/instances/{instance}/checkpoint", {"auditor", "admin"}, set()),
    ("get", "/api/audit/events.csv?from=2026-11-01T00:00:00%2B00:00",
     {"supervisor", "supervisor_other", "auditor", "admin"}, set()),
    # The top bar's search: everyone inside who reads requests (each finds what they may read).
    ("get", "/api/search?q=C001", STAFF_READ, set()),
    ("get", "/api/kpis", {"supervisor", "supervisor_other", "process_owner", "auditor", "admin"},
     set()),
    # Customers' words: those who read every request search them (not finance's staff).
    ("get", "/api/feedback", {"staff", "supervisor", "auditor", "admin"}, set()),
    ("get", "/api/feedback/taxonomy", {"supervisor", "supervisor_other", "process_owner",
                                       "auditor", "admin"}, set()),
    ("post", "/api/feedback/taxonomy", OWN, set()),
    ("get", "/api/tiers", {"supervisor", "supervisor_other", "auditor", "admin"}, set()),
    ("put", "/api/users/nobody/tier", {"admin"}, set()),
    *[("get", path, {"supervisor", "supervisor_other", "process_owner", "auditor", "admin"},
       set()) for path in ("/api/reports", "/api/reports/2026-11", "/api/reports/2026-11/report.xlsx")],
    ("post", "/api/feedback/classify", {"supervisor", "supervisor_other", "process_owner",
                                        "admin"}, set()),
    ("get", "/api/incidents", {"admin", "auditor"}, set()),
    ("post", "/api/incidents/{incident}", {"admin"}, set()),
    # Accounts: an unknown user, so that no cell ends a sign-in the other cells use.
    *[("post", f"/api/users/nobody/{action}", {"admin"}, set())
      for action in ("deactivate", "activate", "reset-password", "revoke-tokens")],
    ("get", "/api/users/nobody/secrets", {"admin"}, set()),
    *[("post", f"/api/users/nobody/{action}", {"admin"}, set())
      for action in ("secrets", "secrets/retire")],
    ("get", "/api/login-locks", {"admin"}, set()),
    ("get", "/api/calendar", INTERNAL_READ, set()),
    ("post", "/api/login-locks/lift", {"admin"}, set()),
]

MESSAGE_FOR = {"courier": "picked_up", "payment": "refund_result"}


@pytest.fixture(scope="module")
def world(template_db, tmp_path_factory):
    clock.freeze(T0)
    path = tmp_path_factory.mktemp("matrix") / "matrix.sqlite"
    shutil.copy(template_db, path)
    app = create_app({"database_url": f"sqlite:///{path}", "TESTING": True, "SQL_DURABLE": False})
    platform = app.extensions["aftersales"]
    populate(platform)
    with platform.sessions.begin() as session:
        users.create_user(session, "finance_lead", PASSWORD, "supervisor", "finance", None,
                          method=FAST_HASH)
    auth = Auth(app.test_client())
    for user in USERS.values():
        auth.login(user)
    first = file_request(auth, "alice")
    spare = file_request(auth, "alice", order_id="O-1003")
    admin = auth.as_("admin")
    task = admin.get("/api/tasks?department=customer_service").get_json()["items"]
    task = next(t for t in task if t["instance_id"] == first["instance_id"])
    attachment = _upload(auth.as_("customer_service_2"), task["task_id"]).get_json()
    with platform.sessions.begin() as session:
        session.add(Outbox(instance_id=first["instance_id"], business_key=first["number"],
                           idempotency_key="matrix:1", operation="notify.customer", payload={},
                           status="incident", attempts=5, next_attempt_at=T0, created_at=T0))
        session.flush()
        incident = session.scalar(select(Outbox.id).where(Outbox.idempotency_key == "matrix:1"))
    draft = auth.as_("owner").post("/api/drafts", json={"title": "matrix",
                                                        "files": _simple_files()}).get_json()
    ids = {"ref": first["number"], "task": task["task_id"], "instance": first["instance_id"],
           "spare": spare["instance_id"], "attachment": attachment["id"], "incident": incident,
           "draft": draft["id"]}
    yield auth, ids
    platform.engine.dispose()
    clock.freeze(None)


def _upload(caller, task_id):
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(b"photo"), filename="a.jpg")})
    return caller.post(f"/api/tasks/{task_id}/attachments", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def _bundle_body():
    simple = DATA / "simple"
    values = MultiDict([("files", FileStorage(io.BytesIO((simple / "simple.bpmn").read_bytes()),
                                              filename="simple.bpmn"))] +
                       [("files", FileStorage(io.BytesIO(p.read_bytes()), filename=f"forms/{p.name}"))
                        for p in sorted((simple / "forms").iterdir())])
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def _simple_files() -> dict[str, str]:
    simple = DATA / "simple"
    return {"simple.bpmn": (simple / "simple.bpmn").read_text(),
            **{f"forms/{p.name}": p.read_text() for p in sorted((simple / "forms").iterdir())}}


def _draft_body(path: str) -> dict:
    """A body each draft route takes; saves and deploys may then be a 409 (a cell saved or the
    revision is not the newest), shares a 422 (no such owner)."""
    for suffix, body in (("/shares", {"username": "nobody"}), ("/whatif", {"days": 1}),
                         ("/deploy", {"revision": 999})):
        if path.endswith(suffix):
            return body
    if path == "/api/drafts":
        return {"title": "cell", "files": _simple_files()}
    return {"files": _simple_files(), "base_revision": 1}


def _request_kwargs(path: str, role: str, ids: dict) -> dict:
    if path.endswith("/attachments"):
        boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(b"x"), filename="x.txt")})
        return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}
    if path.endswith("/migrations"):
        return {"json": {"from": 1, "to": 1, "dry_run": True}}
    if path.startswith("/api/definitions") or path == "/api/whatif":
        return _bundle_body()
    if path.startswith("/api/drafts"):
        return {"json": _draft_body(path)}
    bodies = {
        "/api/orders/O-3001": order_body(),
        "/api/requests": {"order_id": "O-1001", "type": "exchange"},
        "/quote-answer": {"approved": True}, "/feedback": {"confirmed": True},
        "/rating": {"score": 5}, "/shipped": {"tracking_no": "SF1", "carrier": "SF"},
        "/pickup-slot": {"slot_start": "2026-11-24T09:00:00+08:00"},
        "/complete": {"data": {"approved": False}},
        "/api/tasks/reassign": {"task_ids": [ids["task"]], "assignee": "customer_service_2"},
        "/reassign": {"assignee": "customer_service_2"}, "/comments": {"body": "noted"},
        "/api/messages": {"name": MESSAGE_FOR.get(role, "picked_up"), "correlation": ids["ref"]},
        "/api/incidents": {"action": "skip"},
        "/api/signals": {"name": "nobody_waits_for_this"},
        "/api/feedback/classify": {"texts": ["物流太慢"]}, "/api/feedback/taxonomy": {},
        "/reschedule": {"due_at": "2026-11-24T10:00:00+00:00"},
    }
    if path in bodies:
        return {"json": bodies[path]}
    for suffix, body in bodies.items():
        if path.endswith(suffix):
            return {"json": body}
    for prefix, body in bodies.items():
        if path.startswith(prefix + "/"):
            return {"json": body}
    return {}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, path, allowed, hidden", MATRIX,
                         ids=[f"{m.upper()} {p}" for m, p, _, _ in MATRIX])
def test_matrix(world, method, path, allowed, hidden, role):
    auth, ids = world
    url = path.format(**ids)
    response = getattr(auth.as_(USERS[role]), method)(url, **_request_kwargs(url, role, ids))
    if role in allowed:
        assert response.status_code not in (401, 403, 500), (response.status_code, response.get_json())
    elif role in hidden:
        assert response.status_code == 404, response.get_json()
    else:
        assert response.status_code == 403, (response.status_code, response.get_json())


def test_matrix_covers_every_api_route(app):
    documented = {(m, p.split("{")[0].rstrip("/")) for m, p, _, _ in MATRIX}
    for rule in app.url_map.iter_rules():
        # Logout ends the caller's tokens, which the other cells use: tests/web/api/
        # test_sign_ins.py checks who may call it.
        if not rule.rule.startswith("/api/") or rule.endpoint in ("openapi", "health",
                                                                  "api.auth.token",
                                                                  "api.auth.logout"):
            continue
        prefix = rule.rule.split("<")[0].rstrip("/")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert any(m == method.lower() and (p == prefix or p.startswith(prefix))
                       for m, p in documented), (method, rule.rule)


def test_public_endpoints_need_no_token(world):
    client = world[0].client
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/health").get_json() == {"status": "ok"}
    assert client.post("/api/auth/token", json={"username": "alice", "password": PASSWORD}).status_code == 200
