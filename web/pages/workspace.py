"""What keeps the staff workspace alive between page loads: a fresh CSRF token for the page's
script when the session's changed (a sign-in in another tab), so that a form is sent again
instead of lost.

Registered with the pages' blueprint by web/pages/inbox.py, which is what uses it.
"""
from __future__ import annotations

from flask import jsonify

from web.pages import bp, context, refusals


@bp.get("/session/csrf")
def session_token():
    """{"token": the session's CSRF token} for a signed-in user; 401 {"message"} otherwise
    (the script tells the person to sign in again, keeping their input)."""
    if context.current_user() is None:
        return jsonify(message=refusals.signed_out()), 401
    return jsonify(token=context.csrf_token())
