"""Users, roles, sign-ins and API tokens: who may call the platform, and as which `Actor`.

Passwords are stored salted and hashed (scrypt by default, in werkzeug's format: see
engine/passwords.py). A sign-in, an API bearer token or a page session alike, is a random
string given to the client once; only its sha256 is stored (`api_token`), so a leaked database
does not leak usable tokens, and deleting a user's rows ends every sign-in of theirs at once:
what logout, a password reset, deactivation and `revoke_sign_ins` do. Logins go through
`sign_in`, which counts failures per account and address (engine/login_throttle.py).
Functions that persist take a session and flush; the caller commits.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from engine import clock, config, db, login_throttle, passwords
from engine.access import ASSIGNABLE, ROLES, STAFF_ROLES, Actor
from engine.errors import Conflict, InvalidInput, NotFound
from engine.history import global_log
from engine.models import ApiToken, User
from engine.orders import EMAIL

MIN_PASSWORD = 8
MAX_PASSWORD = 200
_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{2,100}")
_CUSTOMER_ID = re.compile(r"[\w\-.:@/]{1,100}")

# Verified against when the username is unknown, so a failed login costs the same either way.
_decoy_hash: str | None = None


def create_user(session: Session, username: str, password: str, role: str,
                department: str | None = None, customer_id: str | None = None, *,
                display_name: str | None = None, email: str | None = None,
                method: str = passwords.DEFAULT_METHOD, by: str | None = None) -> User:
    """Validate and add a user; returns the flushed row. The creation is an audited action
    of `by` (who added the account) in the global log.

    Raises InvalidInput naming the field (username, password, role, department, customer_id),
    Conflict when the username is taken. `method` is a hash method of engine.passwords
    ("scrypt", "pbkdf2:sha256:1000"...).
    """
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidInput("username must be 2-100 letters, digits or _.@-", field="username")
    _check_password_rule(password)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if role in STAFF_ROLES and department not in config.DEPARTMENTS:
        raise InvalidInput(f"{role} needs a department: one of {', '.join(config.DEPARTMENTS)}",
                           field="department")
    if department is not None and department not in config.DEPARTMENTS:
        raise InvalidInput(f"unknown department '{department}'", field="department")
    if role in ("customer", "courier", "payment") and department is not None:
        raise InvalidInput(f"a {role} has no department", field="department")
    if role == "customer":
        if not isinstance(customer_id, str) or not _CUSTOMER_ID.fullmatch(customer_id):
            raise InvalidInput("a customer needs a customer_id", field="customer_id")
    elif customer_id is not None:
        raise InvalidInput("only customers have a customer_id", field="customer_id")
    if display_name is not None and (not isinstance(display_name, str) or len(display_name) > 100):
        raise InvalidInput("display_name must be text of at most 100 characters",
                           field="display_name")
    _check_email(email)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user '{username}' already exists", field="username")
    user = User(username=username, password_hash=passwords.hash_password(password, method),
                display_name=display_name, role=role, department=department,
                customer_id=customer_id, active=True, created_at=clock.now(), email=email)
    session.add(user)
    session.flush()
    global_log.record(session, "user_created", actor=by, subject=username,
                      payload={"role": role, "department": department,
                               "customer_id": customer_id, "email": email})
    return user


def authenticate(session: Session, username, password) -> User | None:
    """The active user with this username and password, or None."""
    global _decoy_hash
    if (not isinstance(username, str) or not isinstance(password, str)
            or len(password) > MAX_PASSWORD):
        return None
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        _decoy_hash = _decoy_hash or passwords.hash_password(secrets.token_hex(8))
        passwords.check_password(_decoy_hash, password)
        return None
    if not passwords.check_password(user.password_hash, password) or not user.active:
        return None
    return user


def _check_password_rule(password) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters",
                           field="password")


@dataclass(frozen=True)
class SignIn:
    """The outcome of a login attempt: the user (None: refused), and when a lockout of the
    account or the address ends (None: not locked)."""

    user: User | None
    locked_until: datetime | None = None


def sign_in(session: Session, settings: config.Settings, username, password,
            address: str | None) -> SignIn:
    """Check a login from the client `address` against the lockouts and the password.

    While the account or the address is locked the password is not even checked (a right one
    is refused too). A failure is counted against both; the caller must commit the session
    although it refuses the login, or the count and its audit record are lost. Each attempt is
    an audited action (login, login_failed) with the address.
    """
    name = username if isinstance(username, str) else None
    locked = login_throttle.locked_until(session, name, address)
    if locked is not None:
        _record_login(session, "login_failed", name, address, reason="locked")
        return SignIn(None, locked)
    user = authenticate(session, username, password)
    if user is None:
        _record_login(session, "login_failed", name, address, reason="wrong username or password")
        return SignIn(None, login_throttle.record_failure(session, settings, name, address))
    login_throttle.record_success(session, user.username)
    _record_login(session, "login", user.username, address)
    return SignIn(user)


def _record_login(session: Session, kind: str, name: str | None, address: str | None,
                  **payload) -> None:
    # The name given is the subject, not the actor: a failed login proves nobody's identity.
    given = name[:200] if name is not None else None
    global_log.record(session, kind, actor=given if kind == "login" else None, subject=given,
                      payload={"address": address, **payload})


def issue_token(session: Session, user: User, ttl_hours: int = 12) -> tuple[str, datetime]:
    """A new sign-in for `user` (a bearer token or a page session: returned once, stored
    hashed) and its expiry time."""
    now = clock.now()
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id, ApiToken.expires_at < now))
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=ttl_hours)
    session.add(ApiToken(token_hash=_digest(token), user_id=user.id, expires_at=expires_at))
    session.flush()
    return token, expires_at


def user_for_token(session: Session, token) -> User | None:
    """The active user a bearer token belongs to, or None (unknown, expired or inactive)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        return None
    row = session.get(ApiToken, _digest(token))
    if row is None or row.expires_at <= clock.now():
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None


# The sign-in check of every request in one prebuilt statement: token and account together,
# columns only (no ORM objects to build and track).
_ACCOUNT_FOR_TOKEN = (
    select(User.id, User.username, User.display_name, User.role, User.department,
           User.customer_id)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.expires_at > bindparam("now"),
           User.active.is_(True)))


def account_for_token(engine: Engine, token) -> dict | None:
    """The account (as `account_json` gives it) of the active user a bearer token or page
    sign-in belongs to, or None (unknown, expired or inactive): what each request asks, as one
    statement on a connection of its own in no transaction (engine.db.lone_row), so it sees
    what is committed."""
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        return None
    return db.lone_row(engine, _ACCOUNT_FOR_TOKEN,
                       {"token_hash": _digest(token), "now": clock.now()})


def revoke_token(session: Session, token: str) -> None:
    session.execute(delete(ApiToken).where(ApiToken.token_hash == _digest(token)))


def revoke_sign_ins(session: Session, user_id: int) -> int:
    """End every sign-in of the user: each page session and each bearer token. Returns how many
    there were (expired ones included)."""
    return session.execute(delete(ApiToken).where(ApiToken.user_id == user_id)).rowcount


# Each change of an account below is an audited action of `by` (the admin or the command
# that made it) in the global log, naming the account; passwords are never recorded.

def sign_out_everywhere(session: Session, username: str, *,
                        by: str | None = None) -> tuple[User, int]:
    """End every sign-in of `username` (revoke_sign_ins); returns the user and how many there
    were. Raises NotFound for an unknown username."""
    user = _existing(session, username)
    ended = revoke_sign_ins(session, user.id)
    global_log.record(session, "user_signed_out", actor=by, subject=username,
                      payload={"sign_ins": ended})
    return user, ended


def set_active(session: Session, username: str, active: bool, *, by: str | None = None) -> User:
    """Deactivate (every sign-in ends, and none is possible) or reactivate `username`.
    Raises NotFound for an unknown username."""
    user = _existing(session, username)
    user.active = active
    if not active:
        revoke_sign_ins(session, user.id)
    session.flush()
    global_log.record(session, "user_activated" if active else "user_deactivated", actor=by,
                      subject=username)
    return user


def reset_password(session: Session, username: str, password: str, *,
                   method: str = passwords.DEFAULT_METHOD, by: str | None = None) -> User:
    """Give `username` a new password and end every sign-in made with the old one.
    Raises NotFound for an unknown username, InvalidInput (field password) for a bad one."""
    _check_password_rule(password)
    user = _existing(session, username)
    user.password_hash = passwords.hash_password(password, method)
    revoke_sign_ins(session, user.id)
    session.flush()
    global_log.record(session, "password_reset", actor=by, subject=username)
    return user


def set_email(session: Session, username: str, email: str | None, *,
              by: str | None = None) -> User:
    """Give `username` the address their department's digest goes to (None: no mail).
    Raises NotFound for an unknown username, InvalidInput (field email) for a bad address."""
    _check_email(email)
    user = _existing(session, username)
    user.email = email
    session.flush()
    global_log.record(session, "user_email_set", actor=by, subject=username,
                      payload={"email": email})
    return user


def _check_email(email) -> None:
    if email is not None and (not isinstance(email, str) or len(email) > 254
                              or not EMAIL.fullmatch(email)):
        raise InvalidInput("email must be an email address such as li.lei@example.com",
                           field="email")


def _existing(session: Session, username) -> User:
    user = find(session, username) if isinstance(username, str) else None
    if user is None:
        raise NotFound(f"no user '{username}'", field="username")
    return user


def actor_for(user: User) -> Actor:
    """The runtime's view of a user: name, role, department, customer id."""
    return actor_of(account_json(user))


def find(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_assignee(session: Session, username: str | None) -> None:
    """Raise InvalidInput (field `assignee`) unless `username` is an active member of staff who
    can take tasks (None, back to the queue, always passes)."""
    if username is None:
        return
    user = find(session, username)
    if user is None or not user.active or user.role not in ASSIGNABLE:
        raise InvalidInput(f"'{username}' is not a member of staff who can take tasks",
                           field="assignee")


def staff_of(session: Session, departments: tuple[str, ...] | None) -> list[dict]:
    """Active staff and supervisors of `departments` (None: of all), by department and name."""
    query = select(User).where(User.active.is_(True), User.role.in_(STAFF_ROLES))
    if departments is not None:
        query = query.where(User.department.in_(departments))
    return [account_json(u) for u in session.scalars(query.order_by(User.department,
                                                                     User.username))]


def account(session: Session, user_id: int) -> dict | None:
    """The active user `user_id` as `account_json` (None: unknown or deactivated)."""
    user = session.get(User, user_id)
    return account_json(user) if user is not None and user.active else None


def account_json(user: User) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role, "department": user.department, "customer_id": user.customer_id}


def admin_json(user: User) -> dict:
    """An account as admins see it: account_json, whether it is active and its email."""
    return {**account_json(user), "active": user.active, "email": user.email}


def actor_of(account: dict) -> Actor:
    """The `Actor` of an account as `account_json` gives it."""
    return Actor(account["username"], account["role"], account["department"],
                 account["customer_id"])
