"""The one error handler: every refusal becomes `{"error": {"code", "message", "details"}}`.

Engine errors map to HTTP by class (NotFound 404, Conflict 409, Forbidden 403, InvalidInput /
InvalidDefinition / ScriptError / StepFailed 422); `ApiError` carries the statuses only the web layer knows
(400 malformed body, 401 no valid token, 413 too large); werkzeug's own HTTP errors (unknown
route, wrong method, oversized body) and a locked database get the same shape. `details` is
always an object or null; for invalid input it names the offending `field`.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from engine.errors import (
    Conflict,
    EngineError,
    Forbidden,
    InvalidDefinition,
    InvalidInput,
    LostRace,
    NotFound,
    ScriptError,
    StepFailed,
)

log = logging.getLogger(__name__)


class RunAgain(Exception):
    """A request's unit of work lost a race for an instance (engine.errors.LostRace): it wrote
    nothing, and the app runs the whole request again (web/__init__.py). Not an EngineError, so
    that no route or page that answers refusals itself takes it for one."""

    def __init__(self, lost: LostRace):
        super().__init__(str(lost))
        self.lost = lost


STATUS = {NotFound: 404, Conflict: 409, Forbidden: 403, InvalidInput: 422,
          InvalidDefinition: 422, ScriptError: 422, StepFailed: 422}

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "bad_request",
              422: "invalid_input", 500: "internal_error", 503: "busy"}


class ApiError(Exception):
    """A refusal decided by the web layer itself (status, code, message, details)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, details=None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details
        self.code = code or HTTP_CODES.get(status, "error")


# Messages quote the values they refuse: a 900 KB string in the wrong place is not echoed whole.
MAX_MESSAGE = 1000


def error_response(status: int, code: str, message: str, details=None):
    if isinstance(details, dict) and isinstance(details.get("errors"), list):
        details = {**details, "errors": [_shortened(e) for e in details["errors"]]}
    response = jsonify({"error": {"code": code, "message": _short(message),
                                  "details": details}})
    response.status_code = status
    return response


def _short(message):
    if not isinstance(message, str) or len(message) <= MAX_MESSAGE:
        return message
    return message[:MAX_MESSAGE] + f"... ({len(message)} characters)"


def _shortened(entry):
    if isinstance(entry, dict) and "message" in entry:
        return {**entry, "message": _short(entry["message"])}
    return entry


def engine_error(err: EngineError):
    body = err.as_dict()
    details = body["details"]
    if isinstance(details, list):   # form errors, definition problems: keep them, name the field
        key = "problems" if isinstance(err, InvalidDefinition) else "errors"
        details = {key: details, **{k: v for k, v in (("field", err.field),
                                                      ("instance_id", err.instance_id),
                                                      ("task_id", err.task_id)) if v is not None}}
    status = next((s for cls, s in STATUS.items() if isinstance(err, cls)), 500)
    return error_response(status, body["code"], body["message"], details)


def api_error(err: ApiError):
    return error_response(err.status, err.code, err.message, err.details)


def http_error(err: HTTPException):
    if not request.path.startswith("/api"):
        return err
    status = err.code or 500
    message = {404: "no such endpoint", 405: f"{request.method} is not allowed here",
               413: "the request body is too large"}.get(status, err.description or err.name)
    details = {"limit": request.max_content_length} if status == 413 else None
    return error_response(status, HTTP_CODES.get(status, "error"), message, details)


def database_busy(err: OperationalError):
    if "locked" not in str(err).lower() and "could not serialize" not in str(err).lower():
        return unexpected(err)
    if request.path.startswith("/api"):
        response = error_response(503, "busy", "the database is busy; try again in a moment")
    else:
        response = ServiceUnavailable("The database is busy; try again in a moment.").get_response()
    response.headers["Retry-After"] = "1"
    return response


def unexpected(err: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    if not request.path.startswith("/api"):
        return InternalServerError()
    return error_response(500, "internal_error", "something went wrong on our side")


def init_app(app: Flask) -> None:
    app.register_error_handler(EngineError, engine_error)
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(OperationalError, database_busy)
    if not app.testing:   # in tests an unexpected error should fail loudly with its traceback
        app.register_error_handler(Exception, unexpected)
