"""The courier's contract over HTTP (issue 17, items 1, 2 and 7): the result of a booking comes
back once whichever side answers first, an adapter can be off or a real HTTP provider (a server
on 127.0.0.1 started here), and a message that arrives before its process waits for it is kept,
then delivered in order, or expires where supervisors see it.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock, config, integrations, message_buffer
from engine.jobs import outbox
from engine.models import Outbox
from tests.conftest import ROOT
from tests.http_server import LocalServer
from tests.web.api.test_definitions import post
from tests.web.conftest import WEB_DATA, Auth, error_of, file_request, open_tasks, pay, populate
from web import create_app

COURIER = WEB_DATA / "courier_race" / "aftersales_request.bpmn"
SCHEMAS = ROOT / "bpmn" / "messages"


def courier_upload():
    return [("files", "aftersales_request.bpmn", COURIER.read_bytes())] + [
        ("files", f"messages/{name}.json", (SCHEMAS / f"{name}.json").read_bytes())
        for name in ("pickup_booked", "picked_up")]


def make_world(db_url, tmp_path, **settings):
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False, **settings})
    platform = app.extensions["aftersales"]
    populate(platform)
    auth = Auth(app.test_client())
    deployed = post(auth.as_("owner"), "/api/definitions", courier_upload())
    assert deployed.status_code == 201, deployed.get_json()
    return app, platform, auth


@pytest.fixture
def courier(db_url, tmp_path):
    app, platform, auth = make_world(db_url, tmp_path)
    yield platform, auth
    app.extensions["aftersales"].engine.dispose()


def outbox_row(platform, number) -> dict:
    """The request's courier booking row (key, status, result)."""
    with platform.sessions() as session:
        [row] = session.scalars(select(Outbox).where(Outbox.operation == "courier.book_pickup",
                                                     Outbox.business_key == number))
        return {"key": row.idempotency_key, "status": row.status, "result": row.result}


def history(auth, instance_id):
    return auth.as_("auditor").get(f"/api/instances/{instance_id}/history?per_page=100")\
        .get_json()["items"]


def verified(auth, instance_id):
    return auth.as_("auditor").get(f"/api/instances/{instance_id}/replay").get_json()["ok"]


def slot(key=None, booking="PK-COURIER"):
    start = clock.now() + timedelta(days=1)
    payload = {"slot_start": start.isoformat(),
               "slot_end": (start + timedelta(hours=3)).isoformat(), "booking": booking}
    return dict(payload, idempotency_key=key) if key else payload


def courier_says(auth, name, number, payload, **extra):
    return auth.as_("courier").post("/api/messages", json={
        "name": name, "correlation": number, "payload": payload, **extra})


def instance_status(auth, instance_id):
    return auth.as_("admin").get(f"/api/instances/{instance_id}").get_json()["status"]


@pytest.fixture
def filed(courier):
    platform, auth = courier
    request = file_request(auth, "alice")
    return platform, auth, request


def test_the_couriers_callback_before_the_dispatch_counts_once(filed):
    platform, auth, request = filed
    row = outbox_row(platform, request["number"])
    answer = courier_says(auth, "pickup_booked", request["number"], slot(row["key"]))
    assert answer.status_code == 200 and answer.get_json()["delivered_to"], answer.get_json()
    assert outbox.dispatch_due(platform.sessions, platform.runtime) == {
        "done": 1, "retry": 0, "incident": 0}
    after = outbox_row(platform, request["number"])
    assert after["status"] == "done" and after["result"] == {"result": "arrived by callback"}
    booked = [e for e in history(auth, request["instance_id"]) if e["element"] == "pickup_booked"]
    assert len(booked) == 1 and booked[0]["payload"]["payload"]["booking"] == "PK-COURIER"
    seen = len(history(auth, request["instance_id"]))
    again = courier_says(auth, "pickup_booked", request["number"], slot(row["key"]))
    assert again.status_code == 200 and len(history(auth, request["instance_id"])) == seen
    assert auth.as_("admin").get("/api/incidents").get_json()["items"] == []
    assert verified(auth, request["instance_id"])


def test_the_platforms_answer_first_and_the_couriers_callback_after_count_once(filed):
    platform, auth, request = filed
    row = outbox_row(platform, request["number"])
    outbox.dispatch_due(platform.sessions, platform.runtime)
    seen = len(history(auth, request["instance_id"]))
    late = courier_says(auth, "pickup_booked", request["number"], slot(row["key"]))
    assert late.status_code == 200 and len(history(auth, request["instance_id"])) == seen
    booked = [e for e in history(auth, request["instance_id"]) if e["element"] == "pickup_booked"]
    assert len(booked) == 1 and booked[0]["payload"]["payload"]["booking"].startswith("PK-0")
    assert verified(auth, request["instance_id"])


def test_a_message_before_its_wait_is_kept_then_delivered_in_order(filed):
    platform, auth, request = filed
    early = courier_says(auth, "picked_up", request["number"], {"waybill": "SF1"},
                         message_id="sf-1")
    assert early.status_code == 202, early.get_json()
    assert early.get_json()["buffered"] is True
    assert courier_says(auth, "picked_up", request["number"], {"waybill": "SF1"},
                        message_id="sf-1").get_json()["buffered_id"] == \
        early.get_json()["buffered_id"]                       # the same message, kept once
    kinds = [e["kind"] for e in history(auth, request["instance_id"])]
    assert kinds[-1] == "message_buffered" and instance_status(auth, request["instance_id"]) \
        == "waiting"
    outbox.dispatch_due(platform.sessions, platform.runtime)   # pickup_booked, then picked_up
    events = [(e["kind"], e["element"]) for e in history(auth, request["instance_id"])]
    assert events[-2:] == [("message_delivered", "pickup_booked"),
                           ("message_delivered", "picked_up")]
    assert instance_status(auth, request["instance_id"]) == "completed"
    kept = auth.as_("ops_head").get("/api/messages/buffered?status=delivered").get_json()["items"]
    assert [(k["name"], k["message_id"]) for k in kept] == [("picked_up", "sf-1")]
    assert verified(auth, request["instance_id"])


def test_a_kept_message_expires_and_supervisors_see_it(filed):
    platform, auth, request = filed
    assert courier_says(auth, "picked_up", request["number"], {"waybill": "SF9"}).status_code \
        == 202
    clock.advance(timedelta(days=3, minutes=1))
    assert message_buffer.expire(platform.sessions) == 1
    outbox.dispatch_due(platform.sessions, platform.runtime)
    events = [(e["kind"], e["element"]) for e in history(auth, request["instance_id"])]
    assert ("message_expired", "picked_up") in events
    assert events[-1] == ("message_delivered", "pickup_booked")     # the expired one stays out
    expired = auth.as_("ops_head").get("/api/messages/buffered").get_json()["items"]
    assert [(m["name"], m["payload"]) for m in expired] == [("picked_up", {"waybill": "SF9"})]
    assert auth.as_("customer_service_1").get("/api/messages/buffered").status_code == 403
    assert verified(auth, request["instance_id"])


def test_unknown_requests_stay_404_and_bad_early_payloads_are_refused(filed):
    platform, auth, request = filed
    unknown = courier_says(auth, "picked_up", "AS-19990101-0001", {"waybill": "SF1"})
    assert unknown.status_code == 404
    bad = courier_says(auth, "picked_up", request["number"], {"waybill": ""})
    assert bad.status_code == 422 and error_of(bad)["details"]["field"] == "payload.waybill"
    assert auth.as_("ops_head").get("/api/messages/buffered?status=pending").get_json() == \
        {"items": []}


@pytest.fixture
def provider():
    """The courier's booking API: accepts the call, the result comes by callback."""
    server = LocalServer(lambda received: (200, {"status": "accepted"}))
    yield server
    server.stop()


def test_the_http_courier_accepts_and_its_signed_callback_books(db_url, tmp_path, provider):
    app, platform, auth = make_world(db_url, tmp_path, adapters={"courier.book_pickup": "http"},
                                     http_urls={"courier": provider.url + "/book"},
                                     outgoing_secret="courier-test-outgoing-secret-0123456789")
    request = file_request(auth, "alice")
    outbox.dispatch_due(platform.sessions, platform.runtime)
    [call] = provider.received
    assert call.path == "/book" and call.json["operation"] == "courier.book_pickup"
    assert call.json["request_no"] == request["number"] and call.json["payload"]["address"]
    assert call.headers["Idempotency-Key"] == call.json["idempotency_key"]
    assert outbox_row(platform, request["number"])["status"] == "done"
    assert instance_status(auth, request["instance_id"]) == "waiting"     # for the callback
    booked = courier_says(auth, "pickup_booked", request["number"],
                          slot(call.json["idempotency_key"]))
    assert booked.status_code == 200 and booked.get_json()["delivered_to"]
    assert verified(auth, request["instance_id"])
    app.extensions["aftersales"].engine.dispose()


def test_an_operation_that_is_off_calls_nobody_and_waits_for_the_other_side(db_url, tmp_path):
    app, platform, auth = make_world(db_url, tmp_path, adapters={"courier.book_pickup": "off"})
    request = file_request(auth, "alice")
    outbox.dispatch_due(platform.sessions, platform.runtime)
    row = outbox_row(platform, request["number"])
    assert row["status"] == "done" and row["result"] == {"adapter": "off"}
    assert [e["kind"] for e in history(auth, request["instance_id"])] == ["started"]
    assert courier_says(auth, "pickup_booked", request["number"], slot(row["key"])).status_code \
        == 200
    assert verified(auth, request["instance_id"])
    app.extensions["aftersales"].engine.dispose()


def test_the_payment_providers_callback_before_the_dispatch_pays_once(auth, platform):
    """J1: the provider's refund_result arrives before the platform dispatched its own call."""
    number = file_request(auth, "alice")["number"]
    complete(auth, "customer_service_1", number, {"approved": True})
    shipped = auth.as_("alice").post(f"/api/requests/{number}/shipped",
                                     json={"tracking_no": "SF1", "carrier": "SF"})
    assert shipped.status_code == 200
    complete(auth, "finance_1", number, {"refunded": True})
    assert pay(auth, number).status_code == 200
    assert outbox.dispatch_due(platform.sessions, platform.runtime)["incident"] == 0
    payments = auth.as_("finance_1").get(f"/api/requests/{number}/payments").get_json()
    assert [p["status"] for p in payments["items"]] == ["paid"]
    assert auth.as_("admin").get("/api/incidents").get_json()["items"] == []
    for _ in range(3):                               # nothing left to send, nothing failing
        clock.advance(timedelta(minutes=5))
        assert outbox.dispatch_due(platform.sessions, platform.runtime)["retry"] == 0


def test_a_return_shipment_reported_before_the_review_is_kept_then_delivered(auth, platform):
    filed = file_request(auth, "alice")
    early = auth.as_("alice").post(f"/api/requests/{filed['number']}/shipped",
                                   json={"tracking_no": "SF7", "carrier": "SF"})
    assert early.status_code == 202 and early.get_json()["awaiting"] == []
    complete(auth, "customer_service_1", filed["number"], {"approved": True})
    [refund] = [t for t in open_tasks(auth, "finance_1")
                if t["request_number"] == filed["number"]]
    assert refund["bpmn_id"] == "refund"
    assert verified(auth, filed["instance_id"])


def complete(auth, user, number, data):
    [task] = [t for t in open_tasks(auth, user) if t["request_number"] == number]
    done = auth.as_(user).post(f"/api/tasks/{task['task_id']}/complete", json={"data": data})
    assert done.status_code == 200, done.get_json()


def test_adapters_are_chosen_per_operation_or_family():
    chosen = config.from_env({"AFTERSALES_ADAPTERS": "payment=http, courier.book_pickup=off",
                              "AFTERSALES_HTTP_URLS": "courier=http://127.0.0.1:9/book"})
    assert chosen.adapters == {"payment.refund": "http", "payment.clawback": "http",
                               "courier.book_pickup": "off"}
    assert integrations.adapter_kind(chosen, "shipping.ship") == "builtin"
    assert integrations.http_url(chosen, "courier.book_pickup") == "http://127.0.0.1:9/book"
    for bad in ("pigeon=http", "payment=carrier", "payment"):
        with pytest.raises(ValueError, match="AFTERSALES_ADAPTERS"):
            config.from_env({"AFTERSALES_ADAPTERS": bad})
