"""Signing in to the customer app with a one-time code by SMS (engine.sign_in_codes): sent to
the phone of the customer's newest order through the signed gateway, good once and for five
minutes, wrong codes counted as failed sign-ins; nothing tells whether an account exists."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from engine import clock, orders
from tests.http_server import LocalServer
from tests.web.conftest import order_body, populate
from tests.web.pages.conftest import Browser, texts
from web import create_app

SECRET = "outgoing-secret-for-the-sms-gateway-tests"


@pytest.fixture
def gateway():
    server = LocalServer(lambda received: (200, {"id": "SMS-1"}))
    yield server
    server.stop()


@pytest.fixture
def app(db_url, tmp_path, gateway):
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False,
                      "sms_http_url": gateway.url + "/sms", "outgoing_secret": SECRET})
    platform = app.extensions["aftersales"]
    populate(platform)
    with platform.sessions.begin() as session:
        orders.upsert(session, "O-SMS", order_body("C001", contact={
            "phone": "+86 138 0000 0000", "channel": "sms"}))
    yield app
    platform.engine.dispose()


def ask_code(page, username="alice"):
    page.get("/m/login")
    return page.post("/m/login/code", {"username": username})


def sent_code(gateway) -> str:
    return re.search(r"\d{6}", gateway.received[-1].json["text"]).group()


def test_the_code_sent_to_the_phone_signs_the_customer_in(app, gateway):
    page = Browser(app)
    asked = ask_code(page)
    assert asked.status_code == 200 and texts(asked.get_data(as_text=True), "label") == [
        "Code from the SMS"]
    [sms] = gateway.received
    assert sms.json["to"] == "+86 138 0000 0000" and sms.json["channel"] == "sms"
    assert "X-Aftersales-Signature" in sms.headers
    signed = page.post("/m/login/verify", {"code": sent_code(gateway)})
    assert signed.status_code == 302 and signed.headers["Location"] == "/m/"
    assert page.get("/m/").status_code == 200


def test_a_wrong_or_late_code_is_refused_and_counted(app, gateway):
    page = Browser(app)
    ask_code(page)
    code = sent_code(gateway)
    wrong = page.post("/m/login/verify", {"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 401
    assert texts(wrong.get_data(as_text=True), "p", "role", "alert") == [
        "The code is wrong or has expired."]
    clock.advance(timedelta(minutes=6))
    late = page.post("/m/login/verify", {"code": code})
    assert late.status_code == 401
    for _ in range(3):
        page.post("/m/login/verify", {"code": "123456"})
    locked = page.post("/m/login/verify", {"code": code})
    assert locked.status_code == 429                       # five failures lock the account


def test_no_account_and_no_phone_look_alike_and_send_nothing(app, gateway):
    for name in ("nobody", "bob"):                            # bob's orders carry no phone
        asked = ask_code(Browser(app), name)
        assert asked.status_code == 200
        assert texts(asked.get_data(as_text=True), "label") == ["Code from the SMS"]
    assert gateway.received == []


def test_a_gateway_that_refuses_is_said_on_the_page(app, gateway):
    gateway.answer = lambda received: (400, {"error": "bad number"})
    refused = ask_code(Browser(app))
    assert refused.status_code == 503
    assert texts(refused.get_data(as_text=True), "p", "role", "alert") == [
        "The code could not be sent. Try again later, or sign in with your password."]
