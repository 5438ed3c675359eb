"""engine/users.py: accounts, password hashes, tokens and the actor a user acts as."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock, users
from engine.access import Actor
from engine.errors import Conflict, InvalidInput
from tests.web.conftest import FAST_HASH


@pytest.fixture
def session(sessions):
    with sessions.begin() as session:
        yield session


def test_create_hashes_the_password_and_authenticates(session):
    user = users.create_user(session, "wang.fang", "s3cret-pass", "staff", "finance")
    assert user.password_hash.startswith("scrypt:") and "s3cret-pass" not in user.password_hash
    assert users.authenticate(session, "wang.fang", "s3cret-pass") is user
    assert users.authenticate(session, "wang.fang", "wrong-pass") is None
    assert users.authenticate(session, "nobody", "s3cret-pass") is None


@pytest.mark.parametrize("args, field", [
    (("x", "long-enough", "staff", "finance"), "username"),
    (("bad name!", "long-enough", "staff", "finance"), "username"),
    (("li", "short", "staff", "finance"), "password"),
    (("li", "long-enough", "wizard"), "role"),
    (("li", "long-enough", "staff"), "department"),
    (("li", "long-enough", "supervisor", "marketing"), "department"),
    (("li", "long-enough", "customer"), "customer_id"),
    (("li", "long-enough", "customer", "finance", "C9"), "department"),
    (("li", "long-enough", "staff", "finance", "C9"), "customer_id"),
])
def test_create_refuses_bad_input_naming_the_field(session, args, field):
    with pytest.raises(InvalidInput) as refused:
        users.create_user(session, *args, method=FAST_HASH)
    assert refused.value.field == field


def test_duplicate_username_is_a_conflict(session):
    users.create_user(session, "zhao", "long-enough", "auditor", method=FAST_HASH)
    with pytest.raises(Conflict):
        users.create_user(session, "zhao", "long-enough", "auditor", method=FAST_HASH)


def test_tokens_resolve_until_they_expire(session):
    user = users.create_user(session, "qian", "long-enough", "customer", customer_id="C7",
                             method=FAST_HASH)
    token, expires_at = users.issue_token(session, user, ttl_hours=1)
    assert users.user_for_token(session, token) is user
    assert users.user_for_token(session, token + "x") is None
    assert users.actor_for(user) == Actor("qian", "customer", None, "C7")
    clock.advance(timedelta(hours=1))
    assert users.user_for_token(session, token) is None
    users.revoke_token(session, token)


def test_the_sign_in_check_sees_what_is_committed(sql_engine, sessions):
    """account_for_token, asked on every request, runs on a connection of its own: a token is
    good once committed, until it expires, is revoked or its user is deactivated."""
    with sessions.begin() as session:
        user = users.create_user(session, "sun", "long-enough", "staff", "finance",
                                 method=FAST_HASH)
        token, _ = users.issue_token(session, user, ttl_hours=1)
        assert users.account_for_token(sql_engine, token) is None      # not committed yet
    with sessions() as session:
        assert users.account_for_token(sql_engine, token) == users.account_json(
            users.find(session, "sun"))
    assert users.account_for_token(sql_engine, token + "x") is None
    assert users.account_for_token(sql_engine, "short") is None
    assert users.account_for_token(sql_engine, None) is None
    clock.advance(timedelta(minutes=59))
    assert users.account_for_token(sql_engine, token)["username"] == "sun"
    with sessions.begin() as session:
        users.set_active(session, "sun", False)
    assert users.account_for_token(sql_engine, token) is None
    with sessions.begin() as session:
        users.set_active(session, "sun", True)
        fresh, _ = users.issue_token(session, users.find(session, "sun"), ttl_hours=1)
    assert users.account_for_token(sql_engine, token) is None      # deactivating revoked it
    assert users.account_for_token(sql_engine, fresh)["department"] == "finance"
    clock.advance(timedelta(hours=1))
    assert users.account_for_token(sql_engine, fresh) is None


def test_a_password_hashed_by_werkzeug_still_logs_in(session):
    # Accounts created while engine/users.py hashed with werkzeug keep their stored hashes.
    from werkzeug.security import generate_password_hash

    user = users.create_user(session, "sun.li", "long-enough", "auditor", method=FAST_HASH)
    user.password_hash = generate_password_hash("older-pass", method="scrypt")
    session.flush()
    assert users.authenticate(session, "sun.li", "older-pass") is user
    assert users.authenticate(session, "sun.li", "long-enough") is None
