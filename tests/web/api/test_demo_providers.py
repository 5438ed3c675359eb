"""The demo's payment provider and courier (engine/demo_providers.py, issue 17, item 6) as a
newcomer meets them: the demo's data, the app served over HTTP on 127.0.0.1 with its payment and
courier adapters set to http at the providers' URLs, and the real provider server beside it. The
platform's signed call is accepted, the provider's signed callback lands on POST /api/messages
and the request moves on; a call without the platform's signature is refused.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal

import pytest
from werkzeug.serving import make_server

from engine import clock, demo, reconciliation, signatures
from engine import platform as engine_platform
from engine.config import Settings
from engine.demo_providers import DemoProviders
from engine.jobs import outbox
from tests.conftest import ROOT, T0
from tests.web.conftest import Auth
from web import create_app

OUTGOING = "demo-providers-test-outgoing-secret-0123456789"


class DemoAuth(Auth):
    """Sign in with the demo users' password."""

    def login(self, username: str, password: str = demo.PASSWORD, **kwargs) -> dict:
        return super().login(username, password, **kwargs)


def demo_app(db_url, tmp_path, providers, **settings):
    """The app, its payments and pickups set to `providers`, on the demo's data (loaded with
    the built-in adapters, as `aftersales demo` loads it)."""
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False, "outgoing_secret": OUTGOING,
                      **providers.settings(), **settings})
    demo.load(app.extensions["aftersales"].sessions,
              engine_platform.runtime(Settings(database_url=db_url)), ROOT / "bpmn")
    return app


@pytest.fixture
def loop(db_url, tmp_path):
    """(platform, auth, providers): the demo loaded (with the built-in adapters, as `aftersales
    demo` loads it), then the app served with the providers' adapters, as `--providers`
    serves it."""
    providers = DemoProviders(OUTGOING, delay=0, pickup_delay=0)
    app = demo_app(db_url, tmp_path, providers)
    world = app.extensions["aftersales"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    providers.call_back(f"http://127.0.0.1:{server.server_port}",
                        demo.provider_clients(world.sessions))
    yield world, DemoAuth(app.test_client()), providers
    providers.stop()
    server.shutdown()
    serving.join()
    world.engine.dispose()


def task_of(auth, user, bpmn_id):
    items = auth.as_(user).get("/api/tasks", query_string={"per_page": 100}).get_json()["items"]
    [task] = [t for t in items if t["bpmn_id"] == bpmn_id]
    return task


def complete(auth, user, task, data):
    done = auth.as_(user).post(f"/api/tasks/{task['task_id']}/complete", json={"data": data})
    assert done.status_code == 200, done.get_json()


def called_back(providers, count, seconds=20.0) -> list[dict]:
    """The providers' callbacks once `count` were sent (waiting for them, at most `seconds`)."""
    deadline = time.monotonic() + seconds
    while len(providers.callbacks) < count:
        assert time.monotonic() < deadline, f"only {providers.callbacks} called back"
        time.sleep(0.05)
    return list(providers.callbacks)


def history(auth, instance_id):
    return [(e["kind"], e["element"]) for e in auth.as_("auditor").get(
        f"/api/instances/{instance_id}/history?per_page=100").get_json()["items"]]


def test_a_refund_is_paid_by_the_providers_signed_callback(loop):
    world, auth, providers = loop
    approval = task_of(auth, "fin_1", "approve_refund")
    number = approval["request_number"]
    complete(auth, "fin_1", approval, {"refund_approved": True, "refund_amount": 399,
                                       "refund_note": "ok"})
    assert outbox.dispatch_due(world.sessions, world.runtime)["done"] >= 1
    [callback] = called_back(providers, 1)
    assert (callback["name"], callback["correlation"], callback["status"]) == \
        ("refund_result", number, 200)
    [paid] = auth.as_("fin_1").get(f"/api/requests/{number}/payments").get_json()["items"]
    assert (paid["status"], paid["amount"]) == ("paid", "399.00")
    assert paid["reference"].startswith("DEMO-RF-")
    timeline = [e["event"] for e in auth.as_("alice").get(f"/api/requests/{number}")
                .get_json()["timeline"]]
    assert "refund_paid" in timeline and "return_instructions" in timeline   # moved on
    instance_id = approval["instance_id"]
    assert history(auth, instance_id).count(("message_delivered", "refund_result")) == 1
    assert outbox.dispatch_due(world.sessions, world.runtime)["retry"] == 0
    assert auth.as_("admin").get("/api/incidents").get_json()["items"] == []
    assert auth.as_("auditor").get(f"/api/instances/{instance_id}/replay").get_json()["ok"]
    statement = reconciliation.fetch_statement(world.settings, T0.date())     # signed GET
    assert [(e.idempotency_key, e.status, e.amount) for e in statement] == \
        [(paid["idempotency_key"], "paid", Decimal("399.00"))]


def test_a_claw_back_is_collected_by_the_providers_signed_callback(loop):
    world, auth, providers = loop
    inspection = task_of(auth, "wh_1", "inspect_goods")      # refunded while the demo loaded
    number = inspection["request_number"]
    complete(auth, "wh_1", inspection, {"inspection_passed": False, "goods_condition": "used"})
    complete(auth, "fin_1", task_of(auth, "fin_1", "clawback_review"),
             {"clawback_decision": "claw_back", "clawback_amount": 259})
    outbox.dispatch_due(world.sessions, world.runtime)
    [callback] = called_back(providers, 1)
    assert (callback["name"], callback["correlation"], callback["status"]) == \
        ("clawback_result", number, 200)
    shown = auth.as_("fin_1").get(f"/api/requests/{number}/payments").get_json()
    assert (shown["refunded"], shown["clawed_back"]) == ("0.00", "259.00")
    [clawback] = [p for p in shown["items"] if p["kind"] == "clawback"]
    assert clawback["status"] == "paid" and clawback["reference"].startswith("DEMO-CB-")
    assert history(auth, inspection["instance_id"]).count(
        ("message_delivered", "clawback_result")) == 1


def test_a_pickup_is_booked_then_picked_up_by_the_couriers_callbacks(loop):
    world, auth, providers = loop
    confirm = task_of(auth, "log_1", "confirm_pickup_address")
    complete(auth, "log_1", confirm, {"pickup_address": "上海市徐汇区", "contact_phone": "13800000000"})
    outbox.dispatch_due(world.sessions, world.runtime)
    sent = called_back(providers, 2)
    assert [(c["name"], c["status"]) for c in sent] == [("pickup_booked", 200), ("picked_up", 200)]
    events = history(auth, confirm["instance_id"])
    assert events[-2:] == [("message_delivered", "pickup_booked"),
                           ("message_delivered", "picked_up")]
    assert auth.as_("auditor").get(f"/api/instances/{confirm['instance_id']}/replay") \
        .get_json()["ok"]


def provider_call(providers, body: dict, signature: str | None):
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[signatures.HEADER] = signature
    request = urllib.request.Request(providers.payment_url, data=raw, method="POST",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def providers():
    """The providers alone; they have no credentials to call anyone back with."""
    running = DemoProviders(OUTGOING, delay=0, pickup_delay=0)
    running.call_back("http://127.0.0.1:9", {})
    yield running
    running.stop()


def test_the_provider_refuses_a_call_without_the_platforms_signature(providers):
    body = {"kind": "refund", "request_no": "AS-20261123-0001", "idempotency_key": "forged-1",
            "amount": "399.00"}
    raw = json.dumps(body).encode()
    for signature in (None, signatures.sign("somebody-elses-secret-0123456789abcdef", raw),
                      "t=1,v1=" + "0" * 64):
        status, answer = provider_call(providers, body, signature)
        assert status == 401 and signatures.HEADER in answer["error"] or \
            "signature was refused" in answer["error"], answer
    assert providers.payments == [] and providers.answers == {}
    status, answer = provider_call(providers, body, signatures.sign(OUTGOING, raw))
    assert status == 200 and answer["status"] == "accepted"


def test_a_call_repeated_with_its_idempotency_key_is_paid_once(providers):
    body = {"kind": "refund", "request_no": "AS-20261123-0001", "idempotency_key": "twice",
            "amount": "10.00"}
    raw = json.dumps(body).encode()
    first = provider_call(providers, body, signatures.sign(OUTGOING, raw))
    again = provider_call(providers, body, signatures.sign(OUTGOING, raw))
    assert first == again and first[0] == 200
    assert [p["idempotency_key"] for p in providers.payments] == ["twice"]


def test_calls_the_provider_refuses_for_their_signature_pay_nothing_and_end_in_an_incident(
        db_url, tmp_path):
    """The platform signs with another secret than the provider was given."""
    providers = DemoProviders("what-the-provider-was-given-0123456789abcdef", delay=0)
    app = demo_app(db_url, tmp_path, providers, outbox_max_attempts=2)
    world, auth = app.extensions["aftersales"], DemoAuth(app.test_client())
    try:
        approval = task_of(auth, "fin_1", "approve_refund")
        complete(auth, "fin_1", approval, {"refund_approved": True, "refund_amount": 399,
                                           "refund_note": "ok"})
        assert outbox.dispatch_due(world.sessions, world.runtime)["retry"] == 1
        clock.advance(timedelta(minutes=5))
        assert outbox.dispatch_due(world.sessions, world.runtime)["incident"] == 1
        [incident] = auth.as_("admin").get("/api/incidents").get_json()["items"]
        assert incident["operation"] == "payment.refund" and "401" in incident["last_error"]
        [payment] = auth.as_("fin_1").get(
            f"/api/requests/{approval['request_number']}/payments").get_json()["items"]
        assert payment["status"] == "pending"
        assert providers.payments == [] and providers.callbacks == []
    finally:
        providers.stop()
        world.engine.dispose()
