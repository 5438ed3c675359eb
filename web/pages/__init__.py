"""The HTML pages for staff, supervisors, process owners and auditors.

One blueprint, `bp`, whose routes live in one module per page family (auth, inbox, supervisor,
owner, audit, dashboard, assets). `init_app(app)` registers it with Flask-Babel (Chinese first),
the session cookie (context.SessionInterface), the body size limits, the refusal of NUL and
lone surrogates in URLs and form fields, and the session's CSRF check. Routes are thin: parse,
call the engine, render a page or, for the page's own scripts, a fragment.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template, request
from werkzeug.exceptions import HTTPException

from engine import access
from engine.errors import EngineError
from web.api.base import refuse_unsafe_form, refuse_unsafe_url
from web.errors import ApiError
from web.pages import context, i18n, refusals

WEB = Path(__file__).resolve().parent.parent
# The setting that caps the body of a page's POST, as the API's gate caps its routes' bodies
# (web/api/__init__.py); every other page takes at most max_request_bytes.
PAGE_BODY_LIMITS = {"pages.attach": "max_attachment_bytes", "pages.upload": "max_upload_bytes"}

bp = Blueprint("pages", __name__, template_folder=str(WEB / "templates"),
               static_folder=str(WEB / "static"), static_url_path="/assets/app")


# Registered before the CSRF check, which parses the form: the size is refused first.
@bp.before_request
def _limit_body():
    context.limit_body(PAGE_BODY_LIMITS.get(request.endpoint, "max_request_bytes"))


# Before the CSRF check and every route: NUL or a lone surrogate in the URL or a form field is
# a 422 page naming the field (PostgreSQL refuses NUL anywhere, a 500 otherwise).
@bp.before_request
def _refuse_unsafe():
    refuse_unsafe_url()
    refuse_unsafe_form()


@bp.before_request
def _csrf():
    context.check_csrf()


@bp.app_context_processor
def _globals():
    return {"csrf_token": context.csrf_token, "current_user": context.current_user,
            "roles": access}


@bp.errorhandler(EngineError)
def _engine_error(err: EngineError):
    status = context.status_of(err)
    template = "_error.html" if context.is_fragment() else "error.html"
    return render_template(template, status=status, message=refusals.explain(err),
                           detail=err.message), status


@bp.errorhandler(ApiError)
def _api_error(err: ApiError):
    template = "_error.html" if context.is_fragment() else "error.html"
    return render_template(template, status=err.status, message=err.message), err.status


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    template = "_error.html" if context.is_fragment() else "error.html"
    return render_template(template, status=err.code, message=err.description), err.code


def init_app(app) -> None:
    settings = app.extensions["aftersales"].settings
    i18n.init_app(app, settings.timezone)
    app.after_request(i18n.remember_locale)
    app.session_interface = context.SessionInterface()
    app.register_blueprint(bp)
    # The customer app (/m/): a blueprint of its own, with its own guards and error pages.
    from web.pages import mobile
    app.register_blueprint(mobile.bp)


from web.pages import (  # noqa: E402,F401
    assets, audit, auth, calendar, dashboard, drafts, feedback, inbox, owner, reports,
    supervisor)
