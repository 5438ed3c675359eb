"""What every page needs from the app: the settings, the runtime, units of work, the signed-in
user, role checks and the CSRF token of the user's session, and the session cookie itself.

The settings, the runtime and the unit of work are the JSON API's (web/api/base.py): pages and
API share one session factory and one runtime, which the app factory keeps in `app.extensions`.
"""
from __future__ import annotations

import functools
import hmac
import secrets

from flask import abort, g, make_response, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _

from engine import access, users
from engine.access import Actor
from engine.errors import EngineError
from web.api import MULTIPART_OVERHEAD
from web.api.base import runtime, settings, signed_in, transaction  # noqa: F401  (re-exported for pages)
from web.errors import STATUS
from web.pages import refusals

# Roles that work in these pages (customers, couriers and payment providers use the API).
PAGE_ROLES = access.PAGE_ROLES
CSRF_FIELD = "csrf_token"
SIGN_IN = "sign_in"            # the session key of the sign-in token
CSRF_HEADER = "X-CSRF-Token"
CSRF_REFUSED = "X-CSRF-Refused"     # marks the answer to a refused token (see check_csrf)


# ------------------------------------------------------------------ who is signed in

def current_user() -> dict | None:
    """The signed-in user's account (engine.users.account_json), None when signed out, when
    the sign-in was ended (logout anywhere, a password reset, revoked) or the user deactivated.

    The cookie holds only a sign-in token; whether it is still good is asked of the database
    on every request, so ending a sign-in there ends it here at once."""
    if "pages_user" not in g:
        token = session.get(SIGN_IN)
        account = None
        if isinstance(token, str):
            account = signed_in(token)
        g.pages_user = account
    return g.pages_user


def actor() -> Actor:
    return users.actor_of(current_user())


def login(token: str) -> None:
    """Start the page session of a sign-in token (engine.users.issue_token): a new session,
    so that nothing of the one before the login (its CSRF token) carries over."""
    session.clear()
    session[SIGN_IN] = token
    session[CSRF_FIELD] = secrets.token_urlsafe(32)
    session.permanent = True


def logout() -> None:
    """End every sign-in of the signed-in user (each page session, each API token), then
    this session's cookie."""
    token = session.get(SIGN_IN)
    if isinstance(token, str):
        with transaction() as db:
            user = users.user_for_token(db, token)
            if user is not None:
                users.revoke_sign_ins(db, user.id)
            users.revoke_token(db, token)
    session.clear()
    g.pop("pages_user", None)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure when the setting says so or, by default
    (secure_cookies None), when the request itself came over HTTPS (behind a proxy: with
    AFTERSALES_TRUSTED_PROXIES, X-Forwarded-Proto counts)."""

    def get_cookie_secure(self, app) -> bool:
        setting = app.extensions["aftersales"].settings.secure_cookies
        return request.is_secure if setting is None else setting

    def open_session(self, app, request):
        # Without the cookie (every API call, a first visit) the session is new and empty:
        # no need to build the signing serializer to learn that.
        if self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response) -> None:
        # A session left empty and untouched (every API call) sets, deletes and varies on
        # nothing: Flask's own would still work out each of the cookie's settings first.
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)


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


# ------------------------------------------------------------------ live streams

def stream_slot(slots) -> bool:
    """Take one of `slots` (a BoundedSemaphore: the server-sent event streams a process serves
    at once) for a stream; False when the page must poll instead: every slot is taken, or the
    server answers one request at a time (WSGI's `wsgi.multithread` is false: gunicorn's sync
    worker, which `aftersales serve --threads 1` runs). There a stream would hold the worker's
    only thread, every other request waiting behind it, and outlast the worker's timeout
    (gunicorn's arbiter kills a sync worker that has not answered for 30 s)."""
    return bool(request.environ.get("wsgi.multithread")) and slots.acquire(blocking=False)


# ------------------------------------------------------------------ request bodies

def limit_body(setting: str | int) -> None:
    """Refuse (413) a body larger than the named setting allows (or than `setting` bytes, a
    multipart body's own limit), before anything reads it: a declared length is refused at
    once, and a chunked body stops being read at the limit (werkzeug enforces
    max_content_length), so a huge upload is never spooled to disk."""
    limit = setting + MULTIPART_OVERHEAD if isinstance(setting, int) else getattr(settings(), setting)
    if setting == "max_attachment_bytes":
        limit += MULTIPART_OVERHEAD
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        abort(413, description=_("The request is larger than %(n)s bytes.", n=limit))


# ------------------------------------------------------------------ CSRF

def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse (400) a state-changing request whose token does not match the session's. The
    answer is marked `X-CSRF-Refused`, so that the page's script renews the token
    (pages.session_token) and sends the form again instead of losing what was typed."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    expected = session.get(CSRF_FIELD) or ""
    if not expected or not hmac.compare_digest(sent, expected):
        template = "_error.html" if is_fragment() else "error.html"
        abort(make_response(render_template(template, status=400,
                                            message=refusals.csrf_refused()),
                            400, {CSRF_REFUSED: "1"}))


def is_fragment() -> bool:
    """Was this request made by the page's own script (which wants a fragment back)?"""
    return request.headers.get("X-Requested-With") == "fetch"


def status_of(err: EngineError) -> int:
    """The HTTP status of an engine refusal, as the JSON API answers it."""
    return next((s for cls, s in STATUS.items() if isinstance(err, cls)), 500)
