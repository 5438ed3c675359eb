"""The generic http adapter (issue 17, item 7) against a real provider server on 127.0.0.1, for
what the other tests leave out: a courier whose callback comes before the dispatch (it is not
called at all), a courier that answers the booking at once (the answer is the result) and calls
back the same result too, and a customer notification handed to an HTTP provider. Every call
carries the platform's signature, checked here as the provider checks it.
"""
from __future__ import annotations

import pytest

from engine import signatures
from engine.jobs import outbox
from tests.http_server import LocalServer
from tests.web.api.test_integrations import (courier_says, history, make_world, outbox_row,
                                             slot, verified)
from tests.web.conftest import Auth, file_request, populate
from web import create_app

OUTGOING = "http-adapters-test-outgoing-secret-0123456789"


def signed_by_the_platform(call) -> bool:
    try:
        signatures.verify([OUTGOING], call.raw, call.headers.get(signatures.HEADER))
    except signatures.BadSignature:
        return False
    return True


@pytest.fixture
def provider():
    """A provider that answers `provider.reply` to every call."""
    server = LocalServer(lambda received: (200, server.reply))
    server.reply = {"status": "accepted"}
    yield server
    server.stop()


@pytest.fixture
def http_courier(db_url, tmp_path, provider):
    """(platform, auth): the courier bundle with courier.book_pickup over HTTP to `provider`."""
    app, platform, auth = make_world(db_url, tmp_path, adapters={"courier.book_pickup": "http"},
                                     http_urls={"courier": provider.url + "/book"},
                                     outgoing_secret=OUTGOING)
    yield platform, auth
    platform.engine.dispose()


def test_a_courier_that_answers_the_slot_at_once_and_calls_it_back_books_once(http_courier,
                                                                             provider):
    platform, auth = http_courier
    request = file_request(auth, "alice")
    key = outbox_row(platform, request["number"])["key"]
    provider.reply = slot(booking="PK-AT-ONCE")
    assert outbox.dispatch_due(platform.sessions, platform.runtime)["done"] >= 1
    [call] = provider.received
    assert signed_by_the_platform(call) and call.headers["Idempotency-Key"] == key
    booked = [e for e in history(auth, request["instance_id"]) if e["element"] == "pickup_booked"]
    assert [e["payload"]["payload"]["booking"] for e in booked] == ["PK-AT-ONCE"]
    late = courier_says(auth, "pickup_booked", request["number"], slot(key, "PK-AT-ONCE"))
    assert late.status_code == 200, late.get_json()
    assert len([e for e in history(auth, request["instance_id"])
                if e["element"] == "pickup_booked"]) == 1
    assert verified(auth, request["instance_id"])


def test_a_customer_notification_goes_to_the_http_provider_signed(db_url, tmp_path, provider):
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False, "outgoing_secret": OUTGOING,
                      "adapters": {"notify.customer": "http"},
                      "http_urls": {"notify": provider.url + "/notify"}})
    platform = app.extensions["aftersales"]
    populate(platform)
    auth = Auth(app.test_client())
    provider.reply = {"status": "sent", "id": "MSG-1"}
    request = file_request(auth, "alice")
    assert outbox.dispatch_due(platform.sessions, platform.runtime)["done"] >= 1
    [call] = [c for c in provider.received if c.path == "/notify"]
    assert signed_by_the_platform(call)
    assert call.json["operation"] == "notify.customer"
    assert call.json["request_no"] == request["number"]
    assert call.json["payload"]["template"] == "request_accepted"
    assert call.headers["Idempotency-Key"] == call.json["idempotency_key"]
    assert auth.as_("admin").get("/api/incidents").get_json()["items"] == []
    assert outbox.dispatch_due(platform.sessions, platform.runtime)["done"] == 0
    assert len([c for c in provider.received if c.path == "/notify"]) == 1    # sent once
    platform.engine.dispose()


def test_a_couriers_callback_before_the_dispatch_means_the_courier_is_not_called(
        http_courier, provider):
    platform, auth = http_courier
    request = file_request(auth, "alice")
    key = outbox_row(platform, request["number"])["key"]
    early = courier_says(auth, "pickup_booked", request["number"], slot(key, "PK-EARLY"))
    assert early.status_code == 200, early.get_json()
    assert outbox.dispatch_due(platform.sessions, platform.runtime)["incident"] == 0
    assert provider.received == []
    assert outbox_row(platform, request["number"])["status"] == "done"
    assert verified(auth, request["instance_id"])
