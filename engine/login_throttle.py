"""Login throttling: failed logins counted per account and per client address, and lockouts.

The counts live in the database (table `login_throttle`, migration 0007), so every worker and
every process of one installation shares them; process memory would give an attacker a fresh
allowance per worker and per restart. One row per key, `account:<username>` or
`address:<ip>`: the failures since `first_failed_at`, and `locked_until` once there were too
many (Settings.login_account_failures / login_address_failures within login_window_minutes).
A lockout ends by itself after login_lockout_minutes, or when an admin lifts it (`lift`).
Unknown usernames are counted like known ones, so a lockout does not tell which accounts exist.

Functions take a session and flush; the caller commits (a failure must be committed even though
the login is refused: see engine.users.sign_in).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine import clock
from engine.config import Settings
from engine.errors import InvalidInput
from engine.history import global_log
from engine.models import Base

ACCOUNT, ADDRESS = "account", "address"
MAX_KEY = 150


class LoginThrottle(Base):
    """Failed logins of one account or one client address (kept here, beside the rules that
    read it, rather than in engine/models.py)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    failures: Mapped[int]
    first_failed_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


def keys(username: str | None, address: str | None) -> list[str]:
    """The rows one login attempt counts against (an empty username or address counts none)."""
    found = []
    if isinstance(username, str) and username:
        found.append(_key(ACCOUNT, username))
    if isinstance(address, str) and address:
        found.append(_key(ADDRESS, address))
    return found


def locked_until(session: Session, username: str | None, address: str | None) -> datetime | None:
    """When the latest lockout of this account or this address ends, None when neither is
    locked now."""
    now = clock.now()
    ends = session.scalars(select(LoginThrottle.locked_until).where(
        LoginThrottle.key.in_(keys(username, address)),
        LoginThrottle.locked_until > now)).all()
    return max(ends, default=None)


def record_failure(session: Session, settings: Settings, username: str | None,
                   address: str | None) -> datetime | None:
    """Count a failed login against the account and the address; returns when the lockout it
    caused ends (None: no lockout yet)."""
    limits = {ACCOUNT: settings.login_account_failures, ADDRESS: settings.login_address_failures}
    ends = [_count(session, settings, key, limits[key.split(":", 1)[0]])
            for key in keys(username, address)]
    return max((e for e in ends if e is not None), default=None)


def record_success(session: Session, username: str) -> None:
    """Forget the account's failures. The address's stay: a caller who knows one password must
    not be able to clear its address's count while guessing others."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == _key(ACCOUNT, username)))


def lift(session: Session, *, username: str | None = None, address: str | None = None,
         by: str | None = None) -> bool:
    """Lift the lockout (and forget the failures) of an account or an address; True when there
    was something to lift. An audited action of `by`. Raises InvalidInput unless exactly one
    of them is given."""
    if (username is None) == (address is None):
        raise InvalidInput("name either a username or an address", field="username")
    key = _key(ACCOUNT, username) if username is not None else _key(ADDRESS, address)
    lifted = session.execute(delete(LoginThrottle).where(LoginThrottle.key == key)).rowcount > 0
    global_log.record(session, "login_lock_lifted", actor=by, subject=key,
                      payload={"lifted": lifted})
    return lifted


def locks(session: Session) -> list[dict]:
    """Accounts and addresses locked now, the latest lockout first."""
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.locked_until > clock.now())
                           .order_by(LoginThrottle.locked_until.desc(), LoginThrottle.key))
    return [{"kind": row.key.split(":", 1)[0], "name": row.key.split(":", 1)[1],
             "failures": row.failures, "locked_until": row.locked_until} for row in rows]


def _key(kind: str, name: str) -> str:
    return f"{kind}:{name}"[:MAX_KEY]


def _count(session: Session, settings: Settings, key: str, limit: int) -> datetime | None:
    """One more failure for `key`, read and written under the row's lock (FOR UPDATE on
    PostgreSQL; SQLite transactions already write one at a time)."""
    now = clock.now()
    _insert_missing(session, key, now)
    row = session.scalars(select(LoginThrottle).where(LoginThrottle.key == key)
                          .with_for_update().execution_options(populate_existing=True)).one()
    window = timedelta(minutes=settings.login_window_minutes)
    lock_over = row.locked_until is not None and row.locked_until <= now
    if row.first_failed_at <= now - window or lock_over:
        row.failures, row.first_failed_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
    session.flush()
    return row.locked_until


def _insert_missing(session: Session, key: str, now: datetime) -> None:
    """Insert the key's row unless it exists: two workers counting the first failure of one key
    at once must not collide on the primary key."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(LoginThrottle).values(key=key, failures=0, first_failed_at=now)
                    .on_conflict_do_nothing(index_elements=["key"]))
