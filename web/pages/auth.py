"""Signing in and out, and the home page that sends each role to its own start page.

A login goes through engine.users.sign_in (failures counted per account and per address in
the database, lockouts: 429 with the minutes to wait); logout ends every sign-in of the user.
"""
from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import clock, users
from web.pages import bp, context

START_PAGES = {"staff": "pages.inbox", "supervisor": "pages.inbox", "admin": "pages.inbox",
               "process_owner": "pages.processes", "auditor": "pages.audit_index",
               "customer": "mobile.orders"}


@bp.get("/")
def home():
    user = context.current_user()
    if user is None:
        return redirect(url_for("pages.login"))
    return redirect(url_for(START_PAGES[user["role"]]))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        with context.transaction() as db:
            outcome = users.sign_in(db, context.settings(), request.form.get("username", ""),
                                    request.form.get("password", ""), request.remote_addr)
            user = outcome.user
            page_user = user is not None and user.role in context.PAGE_ROLES
            token = (users.issue_token(db, user, context.settings().session_ttl_hours)[0]
                     if page_user else None)
        if token is not None:
            context.login(token)
            return redirect(_safe_next(request.args.get("next")) or url_for("pages.home"))
        if outcome.locked_until is not None:
            minutes = max(1, math.ceil((outcome.locked_until - clock.now()).total_seconds() / 60))
            error, status = _("Too many failed sign-ins. Try again in %(minutes)d minutes, or "
                              "ask an admin to lift the lock.", minutes=minutes), 429
        else:
            error, status = (_("Wrong username or password.") if user is None else
                             _("These pages are for staff, supervisors, process owners and "
                               "auditors.")), 401
    return render_template("login.html", error=error,
                           username=request.form.get("username", "")), status


@bp.post("/logout")
def logout():
    context.logout()
    return redirect(url_for("pages.login"))


def _safe_next(target: str | None) -> str | None:
    """Only a local path may follow the login (no open redirect to another site): no blanks or
    control characters (browsers drop a tab, so "/\t/host" would become "//host"), no
    backslash, and nothing a browser reads as another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None
