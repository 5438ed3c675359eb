"""The JSON API under /api: one blueprint per feature, one gate in front of all of them.

The gate runs before every route: it caps the body size (JSON bodies, attachments and BPMN
uploads each have their own limit, 413 beyond it), refuses a path, query string or form field
holding NUL or a lone surrogate (422; web/api/base.py, engine.json_safety), resolves the
bearer token to an `Actor` (401 without a valid one), and applies the rules that hold for a
role everywhere: auditors only read (and sign out), couriers and payment providers only
deliver messages, the shop only sends orders.
"""
from __future__ import annotations

from flask import Blueprint, g, request

from engine import access, request_photos, users
from engine.errors import Forbidden
from web.api import (
    admin,
    auth,
    calendar,
    customer,
    definitions,
    drafts,
    exports,
    feedback,
    instances,
    kpis,
    messages,
    orders,
    owner,
    reports,
    requests,
    search,
    signals,
    task_files,
    tasks,
    tiers,
    timers,
    whatif_results,
)
from web.api.base import platform, refuse_unsafe_form, refuse_unsafe_url, settings, signed_in
from web.errors import ApiError

blueprint = Blueprint("api", __name__, url_prefix="/api")
for feature in (auth, orders, requests, tasks, task_files, messages, instances, definitions, kpis, admin,
                owner, exports, timers, signals, calendar, customer, drafts, search, feedback,
                reports, tiers, whatif_results):
    blueprint.register_blueprint(feature.bp)

PUBLIC = {"api.auth.token"}
SIGN_OUT = {"api.auth.logout"}      # changes no data: read-only auditors may sign out too
MULTIPART_OVERHEAD = 64 * 1024
# The one route each machine role may use.
MACHINE_ENDPOINTS = {"courier": "api.messages.deliver", "payment": "api.messages.deliver",
                     "shop": "api.orders.store"}


@blueprint.before_request
def gate():
    limit = body_limit(request.endpoint)
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the request body is larger than {limit} bytes",
                       details={"limit": limit})
    refuse_unsafe_url()
    if request.endpoint in PUBLIC:
        return
    g.actor = authenticate(request.headers.get("Authorization", ""))
    refuse_unsafe_form()
    if g.actor.role == "auditor" and request.method not in ("GET", "HEAD") and \
            request.endpoint not in SIGN_OUT:
        raise Forbidden("auditors have read-only access")
    if g.actor.role in access.MACHINE_ROLES and \
            request.endpoint != MACHINE_ENDPOINTS[g.actor.role]:
        raise Forbidden(f"{g.actor.role} accounts may only "
                        + ("send orders" if g.actor.role == "shop" else "deliver messages"))


def authenticate(header: str):
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "send Authorization: Bearer <token> (POST /api/auth/token gives one)")
    account = signed_in(token.strip())
    if account is None:
        raise ApiError(401, "the token is unknown or has expired; log in again")
    return users.actor_of(account)


def body_limit(endpoint: str | None) -> int:
    s = settings()
    if endpoint == "api.task_files.upload":
        return s.max_attachment_bytes + MULTIPART_OVERHEAD
    if endpoint == "api.customer.file_with_photos":
        return request_photos.MAX_PHOTOS * s.max_attachment_bytes + MULTIPART_OVERHEAD
    if endpoint in ("api.definitions.deploy", "api.definitions.validate", "api.owner.run_whatif"):
        return s.max_upload_bytes
    return s.max_request_bytes


__all__ = ["blueprint", "platform"]
