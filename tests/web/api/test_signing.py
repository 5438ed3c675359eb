"""Signed machine callbacks (issue 17, item 3): couriers, payment providers and the shop sign
each body with X-Aftersales-Signature besides their bearer token; a missing, wrong, tampered,
stale or future signature is a 401 naming the header and changes nothing; secrets are issued
once, rotated with a grace period during which both work, and retired."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from engine import clock, signatures
from tests.web.api.test_messages import awaiting_pickup  # noqa: F401  (a fixture)
from tests.web.conftest import error_of, open_tasks, order_body
from web.api import MACHINE_ENDPOINTS
from web.cli import main

HEADER = signatures.HEADER


def picked_up(number: str) -> bytes:
    return json.dumps({"name": "picked_up", "correlation": number,
                       "payload": {"waybill": "SF1"}}).encode()


def send(auth, body: bytes, signature: str | None, user="courier"):
    """POST /api/messages as `user` with the bearer token and exactly this signature."""
    headers = dict(auth.login(user))
    if signature is not None:
        headers[HEADER] = signature
    return auth.client.post("/api/messages", data=body, headers=headers,
                            content_type="application/json")


def accepted(response) -> bool:
    """Taken: delivered (200), or kept until the process waits for it (202)."""
    return response.status_code in (200, 202)


def refused(response, words: str) -> None:
    assert response.status_code == 401, response.get_json()
    error = error_of(response)
    assert HEADER in error["message"] and words in error["message"], error
    assert error["details"] == {"field": HEADER}


def test_a_signed_callback_is_delivered(auth, awaiting_pickup):
    body = picked_up(awaiting_pickup)
    response = send(auth, body, signatures.sign(auth.secret("courier"), body))
    assert response.status_code == 200, response.get_json()
    assert [t["bpmn_id"] for t in open_tasks(auth)] == ["refund"]


@pytest.mark.parametrize("signature, words", [
    (None, "send X-Aftersales-Signature: t=<unix seconds>,v1="),
    ("sha256=abc", "must be t=<unix seconds>,v1="),
    ("t=now,v1=" + "0" * 64, "must be t=<unix seconds>,v1="),
    ("t=\u00b2,v1=" + "0" * 64, "must be t=<unix seconds>,v1="),     # '²': int() refused it
])
def test_a_missing_or_malformed_signature_is_401_and_nothing_happens(
        auth, awaiting_pickup, signature, words):
    refused(send(auth, picked_up(awaiting_pickup), signature), words)
    assert open_tasks(auth) == []          # the process still waits for the pickup


def test_a_token_alone_is_not_enough(auth, awaiting_pickup):
    """A leaked token without the secret: signed with a guess, or a body changed after
    signing, is refused."""
    body = picked_up(awaiting_pickup)
    auth.secret("courier")
    refused(send(auth, body, signatures.sign("whsec_a-guess", body)), "does not match")
    tampered = body.replace(b"SF1", b"SF2")
    refused(send(auth, tampered, signatures.sign(auth.secret("courier"), body)),
            "does not match")
    assert open_tasks(auth) == []


@pytest.mark.parametrize("offset", [timedelta(minutes=-5, seconds=-1),
                                    timedelta(minutes=5, seconds=1)])
def test_a_signature_older_or_newer_than_five_minutes_is_a_replay(
        auth, awaiting_pickup, offset):
    body = picked_up(awaiting_pickup)
    old = signatures.sign(auth.secret("courier"), body, clock.now() + offset)
    refused(send(auth, body, old), "more than 5 minutes")
    assert open_tasks(auth) == []


def test_a_signature_within_five_minutes_is_accepted(auth, awaiting_pickup):
    body = picked_up(awaiting_pickup)
    recent = signatures.sign(auth.secret("courier"), body, clock.now() - timedelta(minutes=4))
    assert send(auth, body, recent).status_code == 200


def test_another_machines_secret_does_not_sign_for_the_courier(auth, awaiting_pickup):
    body = picked_up(awaiting_pickup)
    auth.secret("courier")
    refused(send(auth, body, signatures.sign(auth.secret("payment"), body)), "does not match")


def test_a_machine_without_a_secret_is_told_to_get_one(auth, awaiting_pickup):
    body = picked_up(awaiting_pickup)
    refused(send(auth, body, signatures.sign("whsec_anything", body)),
            "courier has no active client secret")


def test_the_shop_signs_its_orders(auth):
    body = json.dumps(order_body()).encode()
    headers = auth.login("shop")
    unsigned = auth.client.put("/api/orders/O-5001", data=body, headers=headers,
                               content_type="application/json")
    refused(unsigned, "send X-Aftersales-Signature")
    assert auth.as_("admin").get("/api/orders/O-5001").status_code == 404
    signed = auth.client.put("/api/orders/O-5001", data=body, content_type="application/json",
                             headers={**headers,
                                      HEADER: signatures.sign(auth.secret("shop"), body)})
    assert signed.status_code == 201, signed.get_json()


def test_an_admin_sending_a_message_by_hand_needs_only_the_token(auth, awaiting_pickup):
    response = auth.as_("admin").post("/api/messages", json={
        "name": "picked_up", "correlation": awaiting_pickup})
    assert response.status_code == 200, response.get_json()


def test_every_route_a_machine_may_call_checks_the_signature(app):
    for endpoint in set(MACHINE_ENDPOINTS.values()):
        assert getattr(app.view_functions[endpoint], "signed", False), endpoint


# ------------------------------------------------------------------ issuing and rotating


def test_a_secret_is_shown_once_and_rotated_with_a_day_of_grace(auth, awaiting_pickup):
    admin = auth.as_("admin")
    issued = admin.post("/api/users/courier/secrets")
    assert issued.status_code == 201, issued.get_json()
    first = issued.get_json()["secret"]
    assert first.startswith("whsec_") and len(first) > 40
    listed = admin.get("/api/users/courier/secrets").get_json()
    assert first not in json.dumps(listed) and len(listed["active"]) == 1

    again = admin.post("/api/users/courier/secrets")
    assert again.status_code == 409 and error_of(again)["details"]["field"] == "rotate"

    rotated = admin.post("/api/users/courier/secrets", json={"rotate": True}).get_json()
    second = rotated["secret"]
    assert second != first
    [new, old] = rotated["active"]
    assert new["expires_at"] is None
    assert old["expires_at"] == (clock.now() + timedelta(hours=24)).isoformat()
    body = picked_up(awaiting_pickup)
    # During the grace period the client may still sign with the old secret.
    assert send(auth, body, signatures.sign(first, body)).status_code == 200
    assert accepted(send(auth, body, signatures.sign(second, body)))
    clock.freeze(clock.now() + timedelta(hours=24, seconds=1))
    auth.login("courier", fresh=True)              # a day later: the old sign-in has ended
    refused(send(auth, body, signatures.sign(first, body)), "does not match")
    assert accepted(send(auth, body, signatures.sign(second, body)))


def test_retiring_ends_the_old_secret_at_once(auth, awaiting_pickup):
    admin = auth.as_("admin")
    first = admin.post("/api/users/courier/secrets").get_json()["secret"]
    second = admin.post("/api/users/courier/secrets", json={"rotate": True}).get_json()["secret"]
    retired = admin.post("/api/users/courier/secrets/retire")
    assert retired.status_code == 200 and len(retired.get_json()["active"]) == 1
    body = picked_up(awaiting_pickup)
    refused(send(auth, body, signatures.sign(first, body)), "does not match")
    assert accepted(send(auth, body, signatures.sign(second, body)))


def test_at_most_two_secrets_are_active(auth):
    admin = auth.as_("admin")
    for _ in range(3):
        admin.post("/api/users/payment/secrets", json={"rotate": True})
    assert len(admin.get("/api/users/payment/secrets").get_json()["active"]) == 2


@pytest.mark.parametrize("user, status, field", [("alice", 422, "username"),
                                                 ("nobody", 404, "username")])
def test_only_machine_accounts_have_secrets(auth, user, status, field):
    response = auth.as_("admin").post(f"/api/users/{user}/secrets")
    assert response.status_code == status and error_of(response)["details"]["field"] == field


def test_only_admins_issue_secrets(auth):
    for user in ("courier", "cs_lead", "auditor"):
        assert auth.as_(user).post("/api/users/courier/secrets").status_code == 403


def test_the_cli_issues_rotates_and_retires(app, world, db_url, monkeypatch, auth,
                                             awaiting_pickup):
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    runner = CliRunner()
    issued = runner.invoke(main, ["user", "secret", "courier"], catch_exceptions=False)
    assert issued.exit_code == 0, issued.output
    first = issued.stdout.strip()
    assert first.startswith("whsec_") and "not shown again" in issued.stderr
    refused_again = runner.invoke(main, ["user", "secret", "courier"])
    assert refused_again.exit_code == 1 and "--rotate" in refused_again.stderr
    second = runner.invoke(main, ["user", "secret", "courier", "--rotate"]).stdout.strip()
    body = picked_up(awaiting_pickup)
    assert send(auth, body, signatures.sign(first, body)).status_code == 200
    retired = runner.invoke(main, ["user", "secret", "courier", "--retire"])
    assert retired.exit_code == 0 and retired.stdout == ""
    refused(send(auth, body, signatures.sign(first, body)), "does not match")
    assert accepted(send(auth, body, signatures.sign(second, body)))
