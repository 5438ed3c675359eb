"""What every page needs from the app: the settings, the runtime, units of work, the signed-in
user, role checks and the CSRF token of the user's session.

The settings, the runtime and the unit of work are the JSON API's (web/api/base.py): pages and
API share one session factory and one runtime, which the app factory keeps in `app.extensions`.
"""
from __future__ import annotations

import functools
import hmac
import secrets

from flask import abort, g, redirect, request, session, url_for

from engine import access, users
from engine.access import Actor
from engine.errors import EngineError
from web.api.base import runtime, settings, transaction  # noqa: F401  (re-exported for pages)
from web.errors import STATUS

# Roles that work in these pages (customers, couriers and payment providers use the API).
PAGE_ROLES = access.PAGE_ROLES
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


# ------------------------------------------------------------------ who is signed in

def current_user() -> dict | None:
    """The signed-in user's account (engine.users.account_json), None when signed out or
    deactivated."""
    if "pages_user" not in g:
        uid = session.get("uid")
        account = None
        if isinstance(uid, int):
            with transaction() as db:
                account = users.account(db, uid)
        g.pages_user = account
    return g.pages_user


def actor() -> Actor:
    return users.actor_of(current_user())


def login(account: dict) -> None:
    session.clear()
    session["uid"] = account["id"]
    session[CSRF_FIELD] = secrets.token_urlsafe(32)
    session.permanent = True


def logout() -> None:
    session.clear()


def roles_required(*roles: str):
    """Page decorator: sign-in required, and the user's role must be one of `roles` (admins
    pass everywhere; no roles: any role that works in the pages)."""
    allowed = set(roles or PAGE_ROLES) | {"admin"}

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("pages.login", next=request.full_path))
            if user["role"] not in allowed:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


# ------------------------------------------------------------------ CSRF

def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse a state-changing request whose token does not match the session's."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    expected = session.get(CSRF_FIELD) or ""
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="CSRF token missing or invalid; reload the page and try again")


def is_fragment() -> bool:
    """Was this request made by the page's own script (which wants a fragment back)?"""
    return request.headers.get("X-Requested-With") == "fetch"


def status_of(err: EngineError) -> int:
    """The HTTP status of an engine refusal, as the JSON API answers it."""
    return next((s for cls, s in STATUS.items() if isinstance(err, cls)), 500)
