"""Signing in and out, and the home page that sends each role to its own start page."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import users
from web.pages import bp, context

START_PAGES = {"staff": "pages.inbox", "supervisor": "pages.inbox", "admin": "pages.inbox",
               "process_owner": "pages.processes", "auditor": "pages.audit_index"}


@bp.get("/")
def home():
    user = context.current_user()
    if user is None:
        return redirect(url_for("pages.login"))
    return redirect(url_for(START_PAGES[user["role"]]))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        with context.transaction() as db:
            user = users.authenticate(db, request.form.get("username", ""),
                                      request.form.get("password", ""))
            account = users.account_json(user) if user is not None else None
        if account is not None and account["role"] in context.PAGE_ROLES:
            context.login(account)
            return redirect(_safe_next(request.args.get("next")) or url_for("pages.home"))
        error = (_("Wrong username or password.") if user is None else
                 _("These pages are for staff, supervisors, process owners and auditors."))
    return render_template("login.html", error=error,
                           username=request.form.get("username", "")), (401 if error else 200)


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
