"""Input that could poison the platform, sent through the HTTP API and the pages: every case is
a clean 4xx naming the field (or, for an odd but storable value, a normal answer), changes
nothing, and leaves an audit history that verifies; on PostgreSQL as on SQLite (NUL anywhere
was a 500 there). A real `aftersales serve` takes a few of the cases while it answers its
health check within a second, and `aftersales audit verify` passes afterwards.

Issue 15, item 5: JSON nested above 32 levels, NaN, Infinity, 1e999, lone surrogates and NUL
in bodies, keys, query strings, paths and page forms; item lists at filing; odd content types;
pages on odd stored data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, update

from engine.access import SYSTEM
from engine.history import replay
from engine.models import AuditEvent, Instance, ServiceRequest, ShopOrder
from tests.web.conftest import Auth, error_of, file_request, open_tasks, order_body, populate
from tests.web.pages.conftest import Browser
from web import create_app

DEPTH_LIMIT = 32


def nested(depth: int, leaf="1") -> str:
    """JSON text of `leaf` inside `depth` lists."""
    return "[" * depth + leaf + "]" * depth


@dataclass
class Case:
    """One hostile request: who sends what where, and the status and field it must get."""

    name: str
    method: str
    path: str
    user: str | None = "alice"
    body: str | bytes | None = None
    content_type: str = "application/json"
    status: int | tuple = 422
    field: str | None = None      # the field the error must name (422s)
    form: dict | None = None      # a page's form post instead of a JSON body
    page: bool = False            # sent by a browser signed in to the pages


def filing(**fields) -> str:
    """A filing body as JSON text; a value of the form RAW:... is pasted in as JSON text."""
    body = {"order_id": "O-1001", "type": "complaint", "reason": "r", **fields}
    text = json.dumps(body)
    for name, value in fields.items():
        if isinstance(value, str) and value.startswith("RAW:"):
            text = text.replace(json.dumps(value), value[4:])
    return text


def message(payload: str, correlation: str = "AS-1") -> str:
    return ('{"name": "picked_up", "correlation": %s, "payload": %s}'
            % (json.dumps(correlation), payload))


def order(**fields) -> str:
    return json.dumps(order_body(**fields))


CASES = [
    # -- nesting
    Case("33 levels in a field", "post", "/api/requests", body=filing(reason=f"RAW:{nested(32)}"),
         field="reason" + "[0]" * (DEPTH_LIMIT - 1)),
    Case("600 levels in a field", "post", "/api/requests", body=filing(reason=f"RAW:{nested(600)}"),
         field="reason" + "[0]" * (DEPTH_LIMIT - 1)),
    Case("100,000 levels (past the parser)", "post", "/api/requests",
         body=filing(reason=f"RAW:{nested(100_000)}"), status=400, field="body"),
    Case("32 levels of objects in a message", "post", "/api/messages", user="courier",
         body=message('{"a": %s}' % nested(30)), status=404),
    Case("33 levels in a message payload", "post", "/api/messages", user="courier",
         body=message('{"a": %s}' % nested(31)), field="payload.a" + "[0]" * 30),
    # -- numbers
    *[Case(f"{raw} in a field", "post", "/api/requests", body=filing(reason=f"RAW:{raw}"),
           field="reason") for raw in ("NaN", "Infinity", "-Infinity", "1e999", "-1e999")],
    Case("NaN in a message payload", "post", "/api/messages", user="courier",
         body=message('{"weight": NaN}'), field="payload.weight"),
    Case("Infinity in an order's price", "put", "/api/orders/O-9", user="shop",
         body=order().replace('"299.00"', "Infinity", 1), field="paid_amount"),
    Case("1e999 in form data", "post", "/api/tasks/{task}/complete", user="customer_service_1",
         body='{"data": {"approved": true, "note": 1e999}}', field="data.note"),
    Case("a 70-bit whole number", "post", "/api/requests",
         body=filing(items=f"RAW:[{{\"sku\": \"SKU-O-1001\", \"quantity\": {2**70}}}]"),
         field="items[0].quantity"),
    Case("a 5,000-digit whole number", "post", "/api/requests",
         body=filing(reason="RAW:" + "9" * 5000), status=400, field="body"),
    # -- text
    Case("a lone surrogate in a field", "post", "/api/requests", body=filing(reason="a\ud800b"),
         field="reason"),
    Case("a lone low surrogate in a key", "post", "/api/requests",
         body=filing(**{"\udfff": 1}), field="\\udfff"),
    Case("NUL in a field", "post", "/api/requests", body=filing(reason="a\x00b"), field="reason"),
    Case("NUL in a key", "post", "/api/requests", body=filing(**{"\x00": 1}), field="\\u0000"),
    Case("NUL in an item's sku", "post", "/api/requests",
         body=filing(items=[{"sku": "SKU\x00", "quantity": 1}]), field="items[0].sku"),
    Case("NUL in a message correlation", "post", "/api/messages", user="courier",
         body=message("{}", correlation="AS\x00"), field="correlation"),
    Case("a surrogate in a message payload", "post", "/api/messages", user="courier",
         body=message('{"note": "\\udc00"}'), field="payload.note"),
    Case("NUL in an order's address", "put", "/api/orders/O-9", user="shop",
         body=order(shipping_address="a\x00b"), field="shipping_address"),
    Case("a surrogate in an order item's name", "put", "/api/orders/O-9", user="shop",
         body=order().replace('"item SKU-1"', '"\\ud83d"'), field="items[0].name"),
    Case("NUL in form data", "post", "/api/tasks/{task}/complete", user="customer_service_1",
         body='{"data": {"approved": true, "note": "\\u0000"}}', field="data.note"),
    Case("NUL in a comment", "post", "/api/tasks/{task}/comments", user="customer_service_1",
         body='{"body": "hi\\u0000"}', field="body"),
    Case("NUL in a login name", "post", "/api/auth/token", user=None,
         body='{"username": "alice\\u0000", "password": "x"}', field="username"),
    Case("a surrogate in a login name", "post", "/api/auth/token", user=None,
         body='{"username": "\\ud800", "password": "x"}', field="username"),
    Case("a long string", "post", "/api/requests", body=filing(reason="x" * 200_000),
         field="reason"),
    Case("a huge string within the body limit", "post", "/api/requests",
         body=filing(reason="x" * 900_000), field="data"),
    # -- items at filing
    Case("items: ['x']", "post", "/api/requests", body=filing(items=["x"]), field="items.0"),
    Case("items: an object", "post", "/api/requests", body=filing(items={"sku": "SKU-O-1001"}),
         field="items"),
    Case("items nested 600 deep", "post", "/api/requests",
         body=filing(items=f"RAW:{nested(600)}"), field="items" + "[0]" * (DEPTH_LIMIT - 1)),
    Case("an item with a nested quantity", "post", "/api/requests",
         body=filing(items=f"RAW:[{{\"sku\": \"SKU-O-1001\", \"quantity\": {nested(3)}}}]"),
         field="items.0.quantity"),
    Case("an item with an extra field", "post", "/api/requests",
         body=filing(items=[{"sku": "SKU-O-1001", "price": "0.01"}]), field="price"),
    Case("an item's quantity as text", "post", "/api/requests",
         body=filing(items=[{"sku": "SKU-O-1001", "quantity": "1"}]), field="items.0.quantity"),
    # -- odd bodies and content types
    Case("JSON sent as text/plain", "post", "/api/requests", body=filing(),
         content_type="text/plain", status=400, field="body"),
    Case("JSON sent as a form", "post", "/api/requests", body=filing(),
         content_type="application/x-www-form-urlencoded", status=400, field="body"),
    Case("a multipart body", "post", "/api/requests", body=b"--b\r\n\r\nx\r\n--b--\r\n",
         content_type="multipart/form-data; boundary=b", status=400, field="body"),
    Case("bytes that are not UTF-8", "post", "/api/requests", body=b'{"reason": "\xff\xfe"}',
         status=400, field="body"),
    Case("an empty body", "post", "/api/requests", body=b"", status=400, field="body"),
    Case("a JSON list", "post", "/api/requests", body="[1, 2]", status=400, field="body"),
    Case("an empty JSON list", "post", "/api/requests", body="[]", status=400, field="body"),
    Case("a body over the limit", "post", "/api/requests",
         body=filing(reason="x" * (1024 * 1024 + 10)), status=413),
    # -- query strings and paths
    *[Case(f"NUL in {path}", "get", path, user="admin", body=None, field=name)
      for path, name in (("/api/requests?customer_id=%00", "customer_id"),
                         ("/api/requests?order_id=a%00b", "order_id"),
                         ("/api/tasks?assignee=%00", "assignee"),
                         ("/api/orders?customer_id=C%00", "customer_id"),
                         ("/api/kpis?category=%00", "category"),
                         ("/api/requests?%00=1", "\\u0000"),
                         ("/api/requests/AS%00", "path"),
                         ("/api/orders/O%001", "path"),
                         ("/api/tasks/%00", "path"),
                         ("/api/requests/AS-1/payments?x=%00", "x"))],
    Case("NUL in a path without a token", "get", "/api/orders/%00", user=None, field="path"),
    Case("a surrogate's bytes in a query", "get", "/api/requests?order_id=%ED%A0%80",
         user="admin", status=200),
    # -- the pages
    Case("NUL in the login form", "post", "/login", user=None,
         form={"username": "alice\x00", "password": "x"}, field="username"),
    Case("NUL in a page's query", "get", "/inbox?assignee=%00", user="customer_service_1",
         page=True, field="assignee"),
    Case("NUL in the audit search", "get", "/audit?q=%00", user="auditor", page=True, field="q"),
    Case("NUL in a page path", "get", "/tasks/%00", user="customer_service_1", page=True,
         field="path"),
    Case("NUL in an asset path", "get", "/assets/app/x%00.css", user=None, field="path"),
    Case("NUL in a page comment", "post", "/tasks/{task}/comments", user="customer_service_1",
         page=True, form={"body": "a\x00b"}, field="body"),
    Case("NUL in a page form's field name", "post", "/tasks/{task}/complete",
         user="customer_service_1", page=True, form={"approved": "true", "\x00": "x"},
         field="\\u0000"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def hostile_app(request, db_url, tmp_path):
    url = db_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    app = create_app({"database_url": url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False})
    populate(app.extensions["aftersales"])
    yield app
    app.extensions["aftersales"].engine.dispose()


def counts(platform) -> dict:
    """How many rows each table an attack could write holds, and the audit heads."""
    with platform.sessions() as session:
        return {"requests": session.scalar(select(func.count()).select_from(ServiceRequest)),
                "orders": session.scalar(select(func.count()).select_from(ShopOrder)),
                "events": session.scalar(select(func.count()).select_from(AuditEvent)),
                "heads": sorted(session.scalars(select(Instance.audit_head)))}


def send(app, auth: Auth, case: Case, task_id: str):
    path = case.path.replace("{task}", task_id)
    if case.page or case.form is not None:
        browser = Browser(app)
        if case.user:
            browser.login(case.user)
        if case.form is None:
            return browser.get(path)
        return browser.post(path, case.form)
    client = auth.as_(case.user) if case.user else auth.client
    body = case.body.encode("utf-8", "surrogatepass") if isinstance(case.body, str) else case.body
    if case.method == "get":
        return client.get(path)
    return getattr(client, case.method)(path, data=body, content_type=case.content_type)


def problems_of(case: Case, response) -> list[str]:
    """What is wrong with the answer to `case` (nothing: it was refused as it must be)."""
    wanted = case.status if isinstance(case.status, tuple) else (case.status,)
    if response.status_code not in wanted:
        return [f"status {response.status_code}, not {wanted}: {response.data[:300]!r}"]
    if response.status_code < 400 or not response.is_json:
        if case.field is not None and case.field not in response.get_data(as_text=True):
            return [f"the page does not name {case.field!r}"]
        return []
    error = error_of(response)
    if len(error["message"]) > 1200:
        return [f"a message of {len(error['message'])} characters"]
    if case.field is not None and (error["details"] or {}).get("field") != case.field:
        return [f"names {(error['details'] or {}).get('field')!r}, not {case.field!r}: "
                f"{error['message'][:200]}"]
    return []


def test_every_hostile_input_is_a_clean_refusal_that_changes_nothing(hostile_app):
    """Every case of CASES, on both databases: the status, the field, nothing stored, and the
    audit history verifies afterwards."""
    platform = hostile_app.extensions["aftersales"]
    auth = Auth(hostile_app.test_client())
    file_request(auth, "alice", order_id="O-1003")   # a request with an open review task
    [task] = open_tasks(auth, "customer_service_1")
    before = counts(platform)
    failures = {}
    for case in CASES:
        problems = problems_of(case, send(hostile_app, auth, case, task["task_id"]))
        after = counts(platform)
        if after != before:
            problems.append(f"stored something: {before} -> {after}")
            before = after
        if problems:
            failures[case.name] = problems
    assert failures == {}, f"{len(failures)} of {len(CASES)} cases failed:\n" + "\n".join(
        f"{name}: {'; '.join(p)}" for name, p in failures.items())
    with platform.sessions() as session:
        results = replay.verify_all(session, platform.runtime.script_engine, stop_at_first=False)
    assert results and all(r.ok for r in results), [r.divergence for r in results if not r.ok]


def test_pages_and_reads_render_odd_stored_data(app, world, platform, auth):
    """A request stored before items were checked (items: ["x"] was a 500 on the staff task
    page) and an instance started with odd types in every field the pages show."""
    filed = file_request(auth, "alice")
    odd = {"request_no": "ODD-1", "type": "complaint", "items": ["x", 5, None, {"sku": 1}],
           "amount": "abc", "customer_tier": [1], "reason": {"a": 1}, "category": 7,
           "address": ["a"], "priority": "high", "csat": {"score": "x"}, "route": 3,
           "outcome": ["x"], "order_id": None, "customer_id": 12, "damage": "yes"}
    with platform.sessions.begin() as session:
        session.execute(update(ServiceRequest).values(items=["x", 5, None]))
        started = platform.runtime.start(session, "aftersales_request", odd, SYSTEM)
        instance_ids = [filed["instance_id"], started.id]
    browser = Browser(app)
    browser.login("admin")
    tasks = [t["task_id"] for t in open_tasks(auth)]
    assert len(tasks) == 2
    pages = [p for t in tasks for p in (f"/tasks/{t}", f"/inbox?task={t}")] + [
        "/inbox", "/overdue", "/dashboard", "/audit"] + [f"/audit/instances/{i}"
                                                         for i in instance_ids]
    assert {p: browser.get(p).status_code for p in pages} == {p: 200 for p in pages}
    reads = [f"/api/requests/{filed['number']}", "/api/requests", "/api/kpis", "/api/tasks"] + [
        f"/api/tasks/{t}" for t in tasks] + [f"/api/instances/{i}{tail}" for i in instance_ids
                                             for tail in ("", "/history", "/replay")]
    admin = auth.as_("admin")
    assert {p: admin.get(p).status_code for p in reads} == {p: 200 for p in reads}
