"""The Flask application: `create_app(config)` builds one app with its own engine objects.

Each app holds one `Runtime` (engine.platform: with the request sync and the payment guard)
and one session factory; a request runs its engine verb inside `with sessions.begin() as
session:` (see web/api/base.py). The background scheduler is not started here: `aftersales
serve` / `aftersales scheduler` do that.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import IntegerConverter

from engine import config as engine_config
from engine import db, json_safety, platform
from engine.runtime import incidents
from engine.runtime.verbs import Runtime
from web.errors import RunAgain

SETTINGS_FIELDS = {f.name for f in dataclasses.fields(engine_config.Settings)}


@dataclass
class Platform:
    """What every request needs: settings, the runtime and the database."""

    settings: engine_config.Settings
    runtime: Runtime
    engine: Engine
    sessions: sessionmaker[Session]


class JSONProvider(DefaultJSONProvider):
    sort_keys = False

    @staticmethod
    def default(o):
        if isinstance(o, datetime | date):
            return o.isoformat()
        if isinstance(o, Decimal):      # amounts: "259.00", the text a decimal reads as
            return str(o)
        return DefaultJSONProvider.default(o)


class TooDeep(ValueError):
    """JSON nested deeper than Python's parser follows: it gives up with a RecursionError
    (thousands of brackets) before json_safety's depth check can look."""


def read_json(text: str | bytes):
    """A JSON value as the platform reads what callers send (bodies, form fields holding
    JSON): numbers with a fraction as Decimals (an amount is never a float), NaN and Infinity
    too, so that the engine's checks refuse them naming the field. Raises ValueError
    (TooDeep for the nesting the parser gives up on, which callers catching ValueError for
    bad JSON would otherwise let through as a 500).

    Not `request.get_json()`: Flask sets every request's `json_module` to the app's provider,
    whose numbers are floats (99.9999999999999999 would arrive as 100.0)."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except RecursionError:
        raise TooDeep(f"nested more than {json_safety.MAX_DEPTH} levels deep") from None


class App(Flask):
    """The platform's Flask app: a request that lost a race for an instance runs again
    (web.api.base.transaction raises RunAgain; engine.runtime.incidents.again_if_lost).

    Verbs read an instance without locking it and write it with a version check
    (engine/runtime/verbs.py), so of two commands on one instance at once the second to write
    finds the version moved and raises LostRace, having written nothing. Run again, it decides
    on the fresh rows, as it would have after waiting for a lock: a customer's answer and the
    payment provider's callback on one request both land, and of ten claimers one still wins
    (the others are then told who holds the task)."""

    def dispatch_request(self):
        try:
            return incidents.again_if_lost(super().dispatch_request, race=RunAgain)
        except RunAgain as again:
            raise again.lost from None          # answered as the Conflict it is (409)


def _up_to(limit: int) -> str:
    """A regex of the ASCII numerals 1..`limit` (no leading zero): those shorter than
    `limit`'s, and those as long that are smaller at the first digit that differs."""
    digits = str(limit)
    same_length = [rf"{digits[:i]}[{int(i == 0)}-{int(d) - 1}][0-9]{{{len(digits) - i - 1}}}"
                   for i, d in enumerate(digits) if int(d) > int(i == 0)]
    return "|".join([rf"[1-9][0-9]{{0,{len(digits) - 2}}}", *same_length, digits])


class IdConverter(IntegerConverter):
    """Row ids in URLs: positive and small enough for a BIGINT, else the route is a 404.

    The pattern itself leaves out the numbers out of range: werkzeug looks at a rule's
    methods before its converter, so a converter refusing PUT /drafts/<huge> would make it a
    405 (GET /drafts/<id> took the path) instead of the 404 it is."""

    regex = rf"0*(?:{_up_to(db.MAX_ID)})"

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=db.MAX_ID)


def create_app(config: dict | None = None) -> Flask:
    """Build the app. Keys of `config` that name `engine.config.Settings` fields override the
    environment's settings; the others go to Flask's config (TESTING, SQL_DURABLE...).

    Raises engine.config.InsecureSecretKey (saying how to set one) when the secret key is
    missing or known, unless TESTING: a server must never sign cookies with a key others know.
    """
    from datetime import timedelta

    from werkzeug.middleware.proxy_fix import ProxyFix

    config = dict(config or {})
    settings = engine_config.from_env().with_(
        **{k: v for k, v in config.items() if k in SETTINGS_FIELDS})
    app = App(__name__)
    app.json = JSONProvider(app)
    app.url_map.converters["id"] = IdConverter
    app.config.update(SQL_DURABLE=True, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_ttl_hours))
    app.config.update({k: v for k, v in config.items() if k not in SETTINGS_FIELDS})
    app.config["SECRET_KEY"] = engine_config.secret_key(
        settings, testing=bool(app.config.get("TESTING")))
    if settings.trusted_proxies:
        # The client's address (login throttling) and scheme (Secure cookies) as the trusted
        # proxies in front of us saw them.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    engine = db.make_engine(settings.database_url, durable=app.config["SQL_DURABLE"])
    app.extensions["aftersales"] = Platform(
        settings=settings, runtime=platform.runtime(settings), engine=engine,
        sessions=db.make_session_factory(engine))

    from web import errors, openapi, pages
    from web.api import blueprint as api

    errors.init_app(app)
    app.register_blueprint(api)
    openapi.init_app(app)
    pages.init_app(app)
    return app
