"""Logging in, bearer tokens, and the error shape of refusals before any route runs."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock
from engine.models import ApiToken
from tests.web.conftest import PASSWORD, error_of


def test_login_gives_a_token_that_opens_the_api(client, world):
    response = client.post("/api/auth/token", json={"username": "finance_1", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["role"] == "staff" and body["department"] == "finance"
    assert clock.parse(body["expires_at"]) == clock.now() + timedelta(hours=12)
    tasks = client.get("/api/tasks", headers={"Authorization": f"Bearer {body['token']}"})
    assert tasks.status_code == 200


def test_only_the_tokens_hash_is_stored(client, world, sessions):
    token = client.post("/api/auth/token",
                        json={"username": "alice", "password": PASSWORD}).get_json()["token"]
    with sessions() as session:
        stored = list(session.scalars(select(ApiToken.token_hash)))
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64


@pytest.mark.parametrize("username, password", [("finance_1", "wrong password"),
                                                ("nobody", PASSWORD), ("finance_1", "")])
def test_wrong_credentials_are_401(client, world, username, password):
    response = client.post("/api/auth/token", json={"username": username, "password": password})
    assert response.status_code in (401, 422)
    if password:
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthorized"


def test_missing_password_names_the_field(client, world):
    response = client.post("/api/auth/token", json={"username": "finance_1"})
    assert response.status_code == 422
    assert error_of(response)["details"]["field"] == "password"


def test_malformed_json_and_wrong_content_type_are_400(client, world):
    broken = client.post("/api/auth/token", data="{not json", content_type="application/json")
    assert broken.status_code == 400 and error_of(broken)["code"] == "bad_request"
    form = client.post("/api/auth/token", data={"username": "x", "password": "y"})
    assert form.status_code == 400
    array = client.post("/api/auth/token", json=["finance_1", PASSWORD])
    assert array.status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token-at-all-xxxxxxxx",
                                    "Basic Zm9vOmJhcg=="])
def test_missing_or_invalid_token_is_401(client, world, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/tasks", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_token_expires(auth):
    headers = auth.login("finance_1")
    clock.advance(timedelta(hours=12, seconds=1))
    response = auth.client.get("/api/tasks", headers=headers)
    assert response.status_code == 401 and "expired" in error_of(response)["message"]


def test_deactivated_user_is_locked_out(auth, sessions):
    from engine import users

    headers = auth.login("finance_1")
    with sessions.begin() as session:
        users.find(session, "finance_1").active = False
    assert auth.client.get("/api/tasks", headers=headers).status_code == 401
    again = auth.client.post("/api/auth/token", json={"username": "finance_1", "password": PASSWORD})
    assert again.status_code == 401
