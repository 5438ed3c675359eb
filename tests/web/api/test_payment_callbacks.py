"""A payment's result from both sides (issue 17, item 7), with the http payment adapter against a
real provider server on 127.0.0.1: the provider pays in its answer or accepts and calls back;
the same result twice, or from both sides, is one payment and one delivery; a result that comes
before the dispatch means nobody is called; a result naming another amount than the approved one
is an incident an operator sees, settles nothing and pays nothing twice.
"""
from __future__ import annotations

import pytest

from engine import money_audit
from engine.jobs import outbox
from tests.http_server import LocalServer
from tests.web.api.test_integrations import complete
from tests.web.conftest import Auth, error_of, file_request, populate
from web import create_app

OUTGOING = "payment-callbacks-test-outgoing-secret-0123456789"


@pytest.fixture
def provider():
    """The payment provider: answers `provider.reply` (accepted, unless a test says paid)."""
    server = LocalServer(lambda received: (200, server.reply))
    server.reply = {"status": "accepted", "reference": "PSP-1"}
    yield server
    server.stop()


@pytest.fixture
def world(db_url, tmp_path, provider):
    """(platform, auth): the fixture bundle and people, payments through the http adapter."""
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False, "outgoing_secret": OUTGOING,
                      "adapters": {"payment.refund": "http", "payment.clawback": "http"},
                      "http_urls": {"payment": provider.url + "/pay"}})
    platform = app.extensions["aftersales"]
    populate(platform)
    yield platform, Auth(app.test_client())
    platform.engine.dispose()


def approved_refund(auth) -> dict:
    """A request whose refund finance approved: its payment is pending in the ledger and its
    outbox row waits for the dispatch. Returns the payment (as GET .../payments lists it)
    with the request's number and instance."""
    filed = file_request(auth, "alice")
    complete(auth, "customer_service_1", filed["number"], {"approved": True})
    shipped = auth.as_("alice").post(f"/api/requests/{filed['number']}/shipped",
                                     json={"tracking_no": "SF1", "carrier": "SF"})
    assert shipped.status_code == 200, shipped.get_json()
    complete(auth, "finance_1", filed["number"], {"refunded": True})
    [payment] = payments(auth, filed["number"])
    assert payment["status"] == "pending"
    return dict(payment, number=filed["number"], instance_id=filed["instance_id"])


def payments(auth, number) -> list[dict]:
    return auth.as_("finance_1").get(f"/api/requests/{number}/payments").get_json()["items"]


def provider_says(auth, payment, **payload):
    return auth.as_("payment").post("/api/messages", json={
        "name": "refund_result", "correlation": payment["number"],
        "payload": {"status": "paid", "idempotency_key": payment["idempotency_key"],
                    **payload}})


def deliveries(auth, payment) -> int:
    """How often the instance heard the refund's result."""
    events = auth.as_("auditor").get(f"/api/instances/{payment['instance_id']}/history"
                                     "?per_page=100").get_json()["items"]
    return sum((e["kind"], e["element"]) == ("message_delivered", "refund_result")
               for e in events)


def dispatch(platform) -> dict:
    return outbox.dispatch_due(platform.sessions, platform.runtime)


def incidents(auth) -> list[dict]:
    return auth.as_("admin").get("/api/incidents").get_json()["items"]


def test_an_accepted_refund_is_paid_by_the_providers_callback(world, provider):
    platform, auth = world
    payment = approved_refund(auth)
    assert dispatch(platform)["done"] >= 1
    [call] = [c for c in provider.received if c.path == "/pay"]
    assert call.json == {"kind": "refund", "request_no": payment["number"],
                         "idempotency_key": payment["idempotency_key"],
                         "amount": payment["amount"], "currency": "CNY"}
    assert call.headers["Idempotency-Key"] == payment["idempotency_key"]
    [pending] = payments(auth, payment["number"])
    assert (pending["status"], pending["reference"], pending["provider_status"]) == \
        ("pending", "PSP-1", "accepted")
    assert deliveries(auth, payment) == 0                  # accepted is not paid
    with platform.sessions() as session:                   # and the book is right meanwhile
        assert money_audit.check(session).problems == []
    paid = provider_says(auth, payment, amount=payment["amount"], reference="PSP-1")
    assert paid.status_code == 200 and paid.get_json()["delivered_to"], paid.get_json()
    assert [p["status"] for p in payments(auth, payment["number"])] == ["paid"]
    assert deliveries(auth, payment) == 1
    assert dispatch(platform)["retry"] == 0 and len(provider.received) == 1


def test_the_providers_answer_and_its_callback_pay_once(world, provider):
    platform, auth = world
    provider.reply = {"status": "paid", "reference": "PSP-9"}
    payment = approved_refund(auth)
    dispatch(platform)
    [paid] = payments(auth, payment["number"])
    assert (paid["status"], paid["reference"]) == ("paid", "PSP-9")
    assert deliveries(auth, payment) == 1
    for _ in range(2):                                      # its webhook, and again
        late = provider_says(auth, payment, amount=payment["amount"], reference="PSP-9")
        assert late.status_code == 200, late.get_json()
    assert payments(auth, payment["number"]) == [paid]
    assert deliveries(auth, payment) == 1 and len(provider.received) == 1
    refunded = auth.as_("finance_1").get(f"/api/requests/{payment['number']}/payments")
    assert refunded.get_json()["refunded"] == payment["amount"]


def test_the_same_result_twice_before_the_dispatch_pays_once_and_calls_nobody(world, provider):
    platform, auth = world
    payment = approved_refund(auth)
    for _ in range(2):
        assert provider_says(auth, payment, reference="PSP-1").status_code == 200
    assert dispatch(platform)["incident"] == 0
    assert provider.received == []                           # the result was in: nobody called
    assert [p["status"] for p in payments(auth, payment["number"])] == ["paid"]
    assert deliveries(auth, payment) == 1 and incidents(auth) == []


def test_a_result_with_another_amount_is_an_incident_and_pays_nothing(world, provider):
    platform, auth = world
    payment = approved_refund(auth)
    dispatch(platform)
    for _ in range(2):                                       # the provider's retry is the same
        wrong = provider_says(auth, payment, amount="999.00", reference="PSP-1")
        assert wrong.status_code == 409
        error = error_of(wrong)
        assert error["details"]["field"] == "payload.amount"
        assert "999.00" in error["message"] and payment["amount"] in error["message"]
    [held] = payments(auth, payment["number"])
    assert (held["status"], held["provider_status"]) == ("pending", "reported 999.00")
    assert deliveries(auth, payment) == 0                    # the instance heard nothing
    [incident] = incidents(auth)
    assert (incident["kind"], incident["idempotency_key"], incident["id"]) == \
        ("outbox", payment["idempotency_key"], error["details"]["outbox_id"])
    assert "999.00" in incident["last_error"]
    dispatch(platform)
    assert len(provider.received) == 1                       # nobody is asked to pay again
    right = provider_says(auth, payment, amount=payment["amount"], reference="PSP-1")
    assert right.status_code == 200, right.get_json()
    assert [p["status"] for p in payments(auth, payment["number"])] == ["paid"]
    assert deliveries(auth, payment) == 1
    retried = auth.as_("admin").post(f"/api/incidents/{incident['id']}",
                                     json={"action": "retry"})
    assert retried.status_code == 200, retried.get_json()
    dispatch(platform)                    # its result is in: done without calling anyone
    assert len(provider.received) == 1 and deliveries(auth, payment) == 1
    assert incidents(auth) == []


def test_a_providers_answer_with_another_amount_is_an_incident_and_pays_nothing(world,
                                                                              provider):
    platform, auth = world
    provider.reply = {"status": "paid", "reference": "PSP-7", "amount": "999.00"}
    payment = approved_refund(auth)
    assert dispatch(platform)["incident"] == 1
    [held] = payments(auth, payment["number"])
    assert (held["status"], held["provider_status"]) == ("pending", "reported 999.00")
    assert deliveries(auth, payment) == 0                    # the instance heard nothing
    [incident] = incidents(auth)
    assert incident["idempotency_key"] == payment["idempotency_key"]
    assert "999.00" in incident["last_error"] and payment["amount"] in incident["last_error"]
    dispatch(platform)
    assert len(provider.received) == 1                       # nobody is asked to pay again


def test_a_result_with_another_amount_before_the_dispatch_stops_it(world, provider):
    platform, auth = world
    payment = approved_refund(auth)
    assert provider_says(auth, payment, amount="1.00").status_code == 409
    dispatch(platform)
    assert provider.received == []
    assert [i["idempotency_key"] for i in incidents(auth)] == [payment["idempotency_key"]]
    assert [p["status"] for p in payments(auth, payment["number"])] == ["pending"]


@pytest.mark.parametrize("amount", ["lots", "1.005", -5, True])
def test_a_result_with_an_unreadable_amount_is_refused_naming_it(world, provider, amount):
    platform, auth = world
    payment = approved_refund(auth)
    bad = provider_says(auth, payment, amount=amount)
    assert bad.status_code == 422 and error_of(bad)["details"]["field"] == "payload.amount"
    assert [p["status"] for p in payments(auth, payment["number"])] == ["pending"]
    assert incidents(auth) == [] and deliveries(auth, payment) == 0


@pytest.mark.parametrize("later", [{"status": "failed"}, {"status": "paid"},
                                   {"status": "failed", "amount": "APPROVED"}])
def test_a_held_payment_is_not_settled_by_a_later_result_that_could_free_its_money(
        world, provider, later):
    platform, auth = world
    payment = approved_refund(auth)
    dispatch(platform)
    assert provider_says(auth, payment, amount="999.00").status_code == 409
    if later.get("amount") == "APPROVED":
        later = dict(later, amount=payment["amount"])
    refused = provider_says(auth, payment, **later)
    assert refused.status_code == 409, refused.get_json()
    assert error_of(refused)["details"]["field"] == "payload.status"
    assert "999.00" in error_of(refused)["message"]
    [held] = payments(auth, payment["number"])
    assert (held["status"], held["provider_status"]) == ("pending", "reported 999.00")
    assert deliveries(auth, payment) == 0
    assert [i["idempotency_key"] for i in incidents(auth)] == [payment["idempotency_key"]]


def test_a_result_for_a_settled_payment_with_another_amount_or_no_status_changes_nothing(
        world, provider):
    platform, auth = world
    provider.reply = {"status": "paid", "reference": "PSP-9"}
    payment = approved_refund(auth)
    dispatch(platform)
    [paid] = payments(auth, payment["number"])
    bad_status = provider_says(auth, payment, status="chargeback", amount="999.00")
    assert bad_status.status_code == 422
    assert error_of(bad_status)["details"]["field"] == "status"
    other = provider_says(auth, payment, amount="999.00")
    assert other.status_code == 409 and error_of(other)["details"]["field"] == "payload.amount"
    assert payments(auth, payment["number"]) == [paid]
    assert incidents(auth) == [] and deliveries(auth, payment) == 1


def test_an_operators_retry_of_a_held_payment_takes_the_providers_new_answer(world, provider):
    platform, auth = world
    payment = approved_refund(auth)
    dispatch(platform)
    assert provider_says(auth, payment, amount="999.00").status_code == 409
    [incident] = incidents(auth)
    provider.reply = {"status": "failed", "reference": "PSP-1"}    # checked with the provider
    retried = auth.as_("admin").post(f"/api/incidents/{incident['id']}", json={"action": "retry"})
    assert retried.status_code == 200, retried.get_json()
    dispatch(platform)
    assert [p["status"] for p in payments(auth, payment["number"])] == ["failed"]
    assert deliveries(auth, payment) == 1 and incidents(auth) == []
