"""Ending sign-ins and login lockouts over the JSON API: logout, deactivation, password resets
and revocations end every bearer token and page session of the user at once; failed logins
lock an account or a client address out (in the database, so every worker shares the count)
until the lockout ends or an admin lifts it."""
from __future__ import annotations

from datetime import timedelta

from engine import clock
from tests.web.conftest import PASSWORD, error_of
from tests.web.pages.conftest import Browser
from web import create_app


def token_of(client, username, password=PASSWORD, address="127.0.0.1"):
    return client.post("/api/auth/token", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def page_login(app, username) -> Browser:
    """A browser signed in to the pages as `username`, holding its session's CSRF token."""
    page = Browser(app)
    assert page.login(username).status_code == 302
    page.get("/login")
    return page


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def works(client, token: str) -> bool:
    status = client.get("/api/tasks", headers=bearer(token)).status_code
    assert status in (200, 401), status
    return status == 200


# ------------------------------------------------------------------ ending sign-ins

def test_logout_ends_every_token_and_page_session_of_the_user(app, client, world):
    first = token_of(client, "finance_1").get_json()["token"]
    second = token_of(client, "finance_1").get_json()["token"]
    other = token_of(client, "warehouse_1").get_json()["token"]
    page = page_login(app, "finance_1")
    assert page.get("/inbox").status_code == 200

    response = client.post("/api/auth/logout", headers=bearer(first))
    assert response.status_code == 200
    assert response.get_json() == {"username": "finance_1", "signed_out": 3}
    assert not works(client, first) and not works(client, second)
    assert page.get("/inbox").status_code == 302            # the page session ended too
    assert works(client, other)                             # nobody else's


def test_page_logout_ends_the_users_api_tokens(app, client, world):
    token = token_of(client, "finance_1").get_json()["token"]
    page = page_login(app, "finance_1")
    page.logout()
    assert not works(client, token)


def test_a_page_cookie_kept_after_logout_no_longer_signs_in(app, world):
    page = page_login(app, "finance_1")
    kept = page.client.get_cookie("session").value
    page.logout()
    replay = app.test_client()
    replay.set_cookie("session", kept)
    assert replay.get("/inbox").status_code == 302


def test_an_admin_deactivates_a_user_whose_sign_ins_end_at_once(app, client, auth):
    token = token_of(client, "finance_1").get_json()["token"]
    page = page_login(app, "finance_1")
    response = auth.as_("admin").post("/api/users/finance_1/deactivate")
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert not works(client, token)
    assert page.get("/inbox").status_code == 302
    assert token_of(client, "finance_1").status_code == 401   # and no new sign-in
    again = auth.as_("admin").post("/api/users/finance_1/activate")
    assert again.status_code == 200 and again.get_json()["active"] is True
    assert token_of(client, "finance_1").status_code == 200


def test_admins_cannot_deactivate_themselves(auth):
    response = auth.as_("admin").post("/api/users/admin/deactivate")
    assert response.status_code == 409 and error_of(response)["details"]["field"] == "username"


def test_a_password_reset_ends_the_old_sign_ins_and_the_old_password(app, client, auth):
    token = token_of(client, "finance_1").get_json()["token"]
    page = page_login(app, "finance_1")
    response = auth.as_("admin").post("/api/users/finance_1/reset-password",
                                      json={"password": "a brand new one"})
    assert response.status_code == 200 and response.get_json()["username"] == "finance_1"
    assert not works(client, token)
    assert page.get("/inbox").status_code == 302
    assert token_of(client, "finance_1").status_code == 401
    assert token_of(client, "finance_1", "a brand new one").status_code == 200


def test_a_too_short_new_password_is_422_naming_it(auth):
    response = auth.as_("admin").post("/api/users/finance_1/reset-password",
                                      json={"password": "short"})
    assert response.status_code == 422 and error_of(response)["details"]["field"] == "password"


def test_revoke_tokens_ends_every_sign_in_but_the_account_stays(app, client, auth):
    token = token_of(client, "finance_1").get_json()["token"]
    page = page_login(app, "finance_1")
    response = auth.as_("admin").post("/api/users/finance_1/revoke-tokens")
    assert response.status_code == 200
    assert response.get_json()["revoked"] == 2 and response.get_json()["active"] is True
    assert not works(client, token) and page.get("/inbox").status_code == 302
    assert token_of(client, "finance_1").status_code == 200


def test_account_actions_are_for_admins_and_name_unknown_users(auth):
    for user in ("cs_lead", "auditor", "finance_1"):
        response = auth.as_(user).post("/api/users/finance_1/revoke-tokens")
        assert response.status_code == 403, user
    unknown = auth.as_("admin").post("/api/users/nobody/deactivate")
    assert unknown.status_code == 404 and error_of(unknown)["details"]["field"] == "username"


# ------------------------------------------------------------------ lockouts

def fail(client, username, times, address="127.0.0.1"):
    return [token_of(client, username, "wrong password", address).status_code
            for _ in range(times)]


def test_five_failures_lock_the_account_even_for_the_right_password(client, world):
    # The fifth failure says so itself.
    assert fail(client, "finance_1", 5) == [401] * 4 + [429]
    locked = token_of(client, "finance_1")
    assert locked.status_code == 429
    assert error_of(locked)["code"] == "locked_out"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "ask an admin to lift the lock" in error_of(locked)["message"]
    # Other addresses are refused too: the lock is the account's.
    assert token_of(client, "finance_1", address="10.9.9.9").status_code == 429
    assert token_of(client, "warehouse_1").status_code == 200


def test_a_lockout_ends_by_itself(client, world):
    fail(client, "finance_1", 5)
    clock.advance(timedelta(minutes=16))
    assert token_of(client, "finance_1").status_code == 200


def test_a_success_forgets_the_accounts_failures(client, world):
    fail(client, "finance_1", 4)
    assert token_of(client, "finance_1").status_code == 200
    assert fail(client, "finance_1", 4) == [401] * 4         # counted from nought again
    assert token_of(client, "finance_1").status_code == 200


def test_unknown_usernames_are_locked_like_known_ones(client, world):
    assert fail(client, "nobody-at-all", 6) == [401] * 4 + [429] * 2


def test_one_address_guessing_many_accounts_is_locked_out(client, world):
    spray = [token_of(client, f"guess{i}", "wrong password", "10.0.0.66").status_code
             for i in range(20)]
    assert spray == [401] * 19 + [429]
    assert token_of(client, "finance_1", address="10.0.0.66").status_code == 429
    assert token_of(client, "finance_1", address="10.0.0.67").status_code == 200


def test_an_admin_lists_and_lifts_lockouts(client, auth):
    fail(client, "finance_1", 5)
    [token_of(client, f"guess{i}", "wrong password", "10.0.0.66") for i in range(20)]
    admin = auth.as_("admin")
    locks = admin.get("/api/login-locks").get_json()["items"]
    assert {(lock["kind"], lock["name"]) for lock in locks} == {
        ("account", "finance_1"), ("address", "10.0.0.66")}

    lifted = admin.post("/api/login-locks/lift", json={"username": "finance_1"})
    assert lifted.status_code == 200 and lifted.get_json()["lifted"] is True
    assert token_of(client, "finance_1").status_code == 200
    assert admin.post("/api/login-locks/lift", json={"address": "10.0.0.66"}).get_json() == {
        "address": "10.0.0.66", "lifted": True}
    assert token_of(client, "warehouse_1", address="10.0.0.66").status_code == 200
    assert admin.get("/api/login-locks").get_json()["items"] == []
    again = admin.post("/api/login-locks/lift", json={"username": "finance_1"})
    assert again.get_json()["lifted"] is False


def test_lifting_names_exactly_one_of_username_and_address(auth):
    admin = auth.as_("admin")
    for body in ({}, {"username": "finance_1", "address": "10.0.0.1"}):
        response = admin.post("/api/login-locks/lift", json=body)
        assert response.status_code == 422, body
    assert auth.as_("cs_lead").get("/api/login-locks").status_code == 403


def test_every_worker_counts_the_same_failures(app, db_url, tmp_path, world):
    """Two apps on one database (two gunicorn workers): failures add up across them."""
    other = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                        "TESTING": True, "SQL_DURABLE": False})
    try:
        one, two = app.test_client(), other.test_client()
        assert fail(one, "finance_1", 3) + fail(two, "finance_1", 2) == [401] * 4 + [429]
        assert token_of(one, "finance_1").status_code == 429
        assert token_of(two, "finance_1").status_code == 429
    finally:
        other.extensions["aftersales"].engine.dispose()


def test_the_page_login_counts_with_the_api_and_shows_the_lockout(app, client, world):
    fail(client, "finance_1", 5)
    response = Browser(app).login("finance_1")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)


def test_everyone_signed_in_may_log_out_but_machines_and_strangers(client, auth):
    for user in ("alice", "finance_1", "cs_lead", "owner", "auditor", "admin"):
        assert auth.as_(user).post("/api/auth/logout").status_code == 200, user
    for machine in ("courier", "payment", "shop"):
        assert auth.as_(machine).post("/api/auth/logout").status_code == 403, machine
    assert client.post("/api/auth/logout").status_code == 401
