"""engine.db.lone_row and lone_rows, the sign-in check's and the signature check's one
statement on a connection of its own: it reads what is committed, binds and reads values as
SQLAlchemy would, and leaves the pooled connection in no transaction, on SQLite and on
PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, exc, select

from engine import clock, db, users
from engine.models import ApiToken, User
from tests.web.conftest import FAST_HASH

_EXPIRY = select(ApiToken.expires_at, ApiToken.user_id).where(
    ApiToken.token_hash == bindparam("token_hash"), ApiToken.expires_at > bindparam("now"))


def _in_transaction(engine) -> bool:
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        if engine.dialect.name == "sqlite":
            return driver.in_transaction
        return driver.info.transaction_status != 0            # psycopg: IDLE
    finally:
        connection.close()


def test_a_lone_row_reads_committed_rows_with_their_types(race_sessions):
    engine = race_sessions.kw["bind"]
    with race_sessions.begin() as session:
        user = users.create_user(session, "li.na", "long-enough", "staff", "finance",
                                 method=FAST_HASH)
        token, expires_at = users.issue_token(session, user, ttl_hours=2)
        user_id = user.id
    digest = users._digest(token)
    row = db.lone_row(engine, _EXPIRY, {"token_hash": digest, "now": clock.now()})
    # A datetime comes back as the column's type gives it: aware, in UTC, as it was stored.
    assert row == {"expires_at": expires_at, "user_id": user_id}
    assert row["expires_at"].tzinfo is not None
    assert not _in_transaction(engine)
    later = clock.now() + timedelta(hours=2)
    assert db.lone_row(engine, _EXPIRY, {"token_hash": digest, "now": later}) is None
    assert users.account_for_token(engine, token)["username"] == "li.na"


def test_lone_rows_reads_every_row_in_order_or_as_many_as_asked(race_sessions):
    engine = race_sessions.kw["bind"]
    with race_sessions.begin() as session:
        for name in ("wang", "zhao", "qian"):
            users.create_user(session, name, "long-enough", "staff", "finance", method=FAST_HASH)
    names = select(User.username).where(User.department == bindparam("department")) \
        .order_by(User.username)
    assert db.lone_rows(engine, names, {"department": "finance"}) == [
        {"username": "qian"}, {"username": "wang"}, {"username": "zhao"}]
    assert db.lone_rows(engine, names, {"department": "finance"}, limit=2) == [
        {"username": "qian"}, {"username": "wang"}]
    assert db.lone_rows(engine, names, {"department": "qa"}) == []
    assert not _in_transaction(engine)


def test_a_lone_row_inside_a_writers_transaction_does_not_see_its_uncommitted_rows(
        race_sessions):
    engine = race_sessions.kw["bind"]
    with race_sessions.begin() as session:
        session.add(User(username="zhou", role="staff", department="finance",
                         password_hash="x", active=True))
        session.flush()
        assert db.lone_row(engine, select(User.id).where(
            User.username == bindparam("name")), {"name": "zhou"}) is None


def test_a_failing_lone_row_is_the_databases_error_and_leaves_no_transaction(race_sessions):
    engine = race_sessions.kw["bind"]
    wrong = select(User.id).where(User.id == bindparam("id"))
    with pytest.raises(exc.DBAPIError):
        db.lone_row(engine, wrong, {"id": "not a number" * 3} if engine.dialect.name != "sqlite"
                    else {"id": object()})
    assert not _in_transaction(engine)
    assert db.lone_row(engine, wrong, {"id": -1}) is None
