"""What every route uses: the platform objects, the transaction, the caller, body and paging.

A route reads: check roles (`@allow`), parse (`body()`, `page_args()`), run the engine verb in
`with transaction() as session:`, render. Authentication itself happens once per request in
web/api/__init__.py, which leaves the caller's `Actor` in `g.actor`.
"""
from __future__ import annotations

import contextlib
from functools import wraps

from flask import current_app, g, request

from engine import db, json_safety, users
from engine.access import Actor
from engine.definitions import forms
from engine.errors import Forbidden, InvalidInput, LostRace
from engine.runtime import incidents
from engine.runtime.verbs import Runtime
from web import TooDeep, query, read_json
from web.errors import ApiError, RunAgain


def platform():
    return current_app.extensions["aftersales"]


def runtime() -> Runtime:
    return platform().runtime


def settings():
    return platform().settings


@contextlib.contextmanager
def transaction(*, write: bool | None = None):
    """One unit of work: commits when the block ends, rolls back if it raises; a command that
    failed is then recorded as the instance's incident (engine.runtime.incidents).

    GET and HEAD requests read (engine.db.reading: on SQLite a snapshot that never waits for
    writers, and a write there is refused); `write=True` is for the rare GET that must write,
    `write=False` for a read inside a POST (sending a mobile sign-in code). A lost race for an
    instance leaves as RunAgain."""
    read = request.method in READ_METHODS if write is None else not write
    try:
        with db.reading() if read else contextlib.nullcontext():
            with incidents.transaction(platform().sessions) as session:
                yield session
    except LostRace as lost:
        raise RunAgain(lost) from lost


READ_METHODS = ("GET", "HEAD")


def signed_in(token: str) -> dict | None:
    """The account a bearer token or page sign-in belongs to (engine.users.account_for_token),
    asked on every request: one prebuilt statement on a connection of its own, in no
    transaction, without the session of a unit of work."""
    return users.account_for_token(platform().engine, token)


def actor() -> Actor:
    return g.actor


def allow(*roles: str):
    """Only callers with one of `roles` may use the route (403 for the others)."""
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if actor().role not in roles:
                raise Forbidden(f"{actor().role} users may not use {request.method} {request.path}")
            return view(*args, **kwargs)
        guarded.allowed_roles = roles
        return guarded
    return decorate


def body(schema: dict, *, optional: bool = False) -> dict:
    """The JSON object in the request body, validated against `schema`.

    400 when it is not JSON, not an object, or nested too deeply for the parser; 422 naming
    the field when a value cannot be stored (engine.json_safety: nesting above 32, NaN,
    Infinity, NUL, lone surrogates) or breaks the schema. An empty body counts as {} when
    `optional`.
    """
    raw = request.get_data(cache=True)
    if optional and not raw.strip():
        data = {}
    else:
        if not request.is_json:
            raise ApiError(400, "send a JSON body with Content-Type: application/json",
                           details={"field": "body"})
        data = json_field(raw, "body")
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object", details={"field": "body"})
    # Before the schema: its messages quote the values, which must be safe to show.
    json_safety.check(data)
    return forms.validate(schema, data)


def json_field(text: str | bytes, field: str):
    """The JSON value of the request's `field`: "body", or a multipart form field holding
    JSON (web.read_json: numbers with a fraction, NaN and Infinity as Decimals). Raises
    ApiError 400 naming `field` when it is not JSON or nested deeper than the parser goes."""
    what = "the body" if field == "body" else f"the field '{field}'"
    try:
        return read_json(text)
    except TooDeep as deep:
        raise ApiError(400, f"{what} is {deep}", details={"field": field}) from None
    except ValueError:       # also bytes that are not UTF-8 and integers of 4,300+ digits
        raise ApiError(400, f"{what} is not valid JSON", details={"field": field}) from None


def refuse_unsafe_url() -> None:
    """Refuse (422 naming the part) a path or query string holding NUL or a lone surrogate:
    PostgreSQL refuses NUL even in a filter, which would be a 500."""
    reason = json_safety.text_problem(request.path)
    if reason:
        raise InvalidInput(f"the path {reason}", field="path")
    for name, value in request.args.items(multi=True):
        _refuse_unsafe_field(name, value)


def refuse_unsafe_form() -> None:
    """Refuse (422 naming the field) form fields and uploaded file names holding NUL or a
    lone surrogate, before a page or route reads them."""
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return
    for name, value in request.form.items(multi=True):
        _refuse_unsafe_field(name, value)
    for name, upload in request.files.items(multi=True):
        _refuse_unsafe_field(name, upload.filename or "")


def _refuse_unsafe_field(name: str, value: str) -> None:
    field = json_safety.printable(name)
    for text, what in ((name, f"the field name {field}"), (value, field)):
        reason = json_safety.text_problem(text)
        if reason:
            raise InvalidInput(f"{what} {reason}", field=field)


def page_args(default_per_page: int = 25) -> tuple[int, int]:
    return query.paging(request.args, default_per_page)


def paged(items: list, total: int, page: int, per_page: int) -> dict:
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def only_args(*names: str) -> None:
    """Refuse query parameters the route does not know (a typo should not silently match all)."""
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        raise InvalidInput(f"unknown parameter '{unknown[0]}'", field=unknown[0])
