"""The signing secrets of machine clients (courier, payment and shop accounts): issued,
rotated with a grace period, retired, and checked against a request's signature.

A secret is shown once, when it is issued (`aftersales user secret NAME`, POST
/api/users/{username}/secrets). It is stored as issued, not hashed: checking an HMAC needs the
secret itself (as every webhook signer does). A leaked database alone is still not enough to
call as a machine, because each call also needs the account's bearer token, which is stored
hashed (engine/users.py). Rotating issues a new secret and lets the old one work for
`ROTATION_GRACE` more (so the client can switch without a gap), never longer than that; at most
two are active at once; retiring ends the older ones at once.
Functions that persist take a session and flush; the caller commits.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, or_, select
from sqlalchemy.orm import Session

from engine import clock, db, signatures
from engine.access import MACHINE_ROLES
from engine.errors import Conflict, InvalidInput, NotFound
from engine.history import global_log
from engine.models import ClientSecret, User

ROTATION_GRACE = timedelta(hours=24)
PREFIX = "whsec_"


def issue(session: Session, username: str, *, rotate: bool = False,
          grace: timedelta = ROTATION_GRACE, by: str | None = None) -> tuple[str, list[dict]]:
    """A new secret for the machine account `username`; returns it (the only time it is
    shown) and the account's active secrets as `secret_json`. Without `rotate` the account
    must have no active secret (Conflict); with it, the newest active one stays active for
    `grace` and any older one ends now. An audited action of `by` (never the secret).
    Raises NotFound, InvalidInput (not a machine)."""
    user = _machine(session, username)
    now = clock.now()
    current = _active(session, user.id, now)
    if current and not rotate:
        raise Conflict(f"{username} already has an active secret; rotate it (--rotate, "
                       '{"rotate": true}) to issue another', field="rotate")
    for index, row in enumerate(current):        # newest first
        end = now + grace if index == 0 else now
        row.expires_at = end if row.expires_at is None else min(row.expires_at, end)
    secret = PREFIX + secrets.token_urlsafe(32)
    session.add(ClientSecret(user_id=user.id, secret=secret, created_at=now))
    session.flush()
    global_log.record(session, "client_secret_issued", actor=by, subject=username,
                      payload={"rotate": rotate})
    return secret, listing(session, username)


def ensure(session: Session, username: str) -> str:
    """The newest active secret of `username`, issued if there is none: for the demo's own
    clients, which run beside the platform (a real client keeps the one it was given)."""
    user = _machine(session, username)
    current = _active(session, user.id, clock.now())
    return current[0].secret if current else issue(session, username)[0]


def retire_previous(session: Session, username: str, *, by: str | None = None) -> list[dict]:
    """End every active secret of `username` but the newest, now; returns the active ones.
    An audited action of `by`. Raises NotFound, InvalidInput (not a machine)."""
    user = _machine(session, username)
    now = clock.now()
    retired = _active(session, user.id, now)[1:]
    for row in retired:
        row.expires_at = now
    session.flush()
    global_log.record(session, "client_secrets_retired", actor=by, subject=username,
                      payload={"retired": len(retired)})
    return listing(session, username)


def listing(session: Session, username: str) -> list[dict]:
    """The active secrets of `username`, newest first, without their text."""
    user = _machine(session, username)
    return [secret_json(row) for row in _active(session, user.id, clock.now())]


def secret_json(row: ClientSecret) -> dict:
    return {"id": row.id, "created_at": row.created_at, "expires_at": row.expires_at,
            "hint": row.secret[:len(PREFIX) + 4] + "..."}


def _unexpired(now):
    return or_(ClientSecret.expires_at.is_(None), ClientSecret.expires_at > now)


_NEWEST_FIRST = (ClientSecret.created_at.desc(), ClientSecret.id.desc())
# Asked on every machine request: one prebuilt statement.
_ACTIVE_SECRETS = (
    select(ClientSecret.secret).join(User, User.id == ClientSecret.user_id)
    .where(User.username == bindparam("username"), _unexpired(bindparam("now")))
    .order_by(*_NEWEST_FIRST))


def verify(engine: Engine, username: str, body: bytes, header: str | None,
           now: datetime | None = None) -> None:
    """Accept a request of `username` carrying `body` and the signature `header`; the secrets
    are read as the sign-in check reads the account, one statement in no transaction
    (engine.db.lone_rows), so that the call's one transaction is its unit of work. Raises
    signatures.BadSignature naming the header and what is wrong."""
    now = now or clock.now()
    active = [row["secret"] for row in
              db.lone_rows(engine, _ACTIVE_SECRETS, {"username": username, "now": now})]
    if not active:
        # Checked after the header's form, so a client that sends nothing learns the format.
        signatures.parse(header)
        raise signatures.BadSignature(
            f"{signatures.HEADER} cannot be checked: {username} has no active client secret "
            "(an admin issues one: aftersales user secret NAME)")
    signatures.verify(active, body, header, now)


def _active(session: Session, user_id: int, now: datetime) -> list[ClientSecret]:
    return list(session.scalars(
        select(ClientSecret).where(ClientSecret.user_id == user_id, _unexpired(now))
        .order_by(*_NEWEST_FIRST)))


def _machine(session: Session, username) -> User:
    user = session.scalars(select(User).where(User.username == username)).first() \
        if isinstance(username, str) else None
    if user is None:
        raise NotFound(f"no user '{username}'", field="username")
    if user.role not in MACHINE_ROLES:
        raise InvalidInput(f"only {', '.join(MACHINE_ROLES)} accounts sign their calls; "
                           f"{username} is a {user.role}", field="username")
    return user
