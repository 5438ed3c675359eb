"""Signing in and out over the API: POST /api/auth/token exchanges a username and password for a
bearer token; POST /api/auth/logout ends every sign-in of the caller (each token, each page
session).

Logins go through engine.users.sign_in: failures are counted per account and per client address
in the database, and while either is locked the answer is 429 with Retry-After.
"""
from __future__ import annotations

import math

from flask import Blueprint, request

from engine import access, clock, users
from web.api import schemas
from web.api.base import actor, allow, body, settings, transaction
from web.errors import ApiError, error_response

bp = Blueprint("auth", __name__)

# Everyone who signs in; machine accounts cannot reach logout (the gate lets them use one
# route only), an admin revokes theirs.
SIGNED_IN = tuple(r for r in access.ROLES if r not in access.MACHINE_ROLES)


@bp.post("/auth/token")
def token():
    credentials = body(schemas.TOKEN)
    with transaction() as session:
        outcome = users.sign_in(session, settings(), credentials["username"],
                                credentials["password"], request.remote_addr)
        user = outcome.user
        if user is not None:
            token, expires_at = users.issue_token(session, user, settings().token_ttl_hours)
            return {"token": token, "expires_at": expires_at.isoformat(),
                    "username": user.username, "role": user.role,
                    "department": user.department, "customer_id": user.customer_id}
    # Refused outside the transaction: the failure it counted is committed.
    if outcome.locked_until is not None:
        return locked_out(outcome.locked_until)
    raise ApiError(401, "wrong username or password")


@bp.post("/auth/logout")
@allow(*SIGNED_IN)
def logout():
    body(schemas.EMPTY, optional=True)
    with transaction() as session:
        user = users.find(session, actor().name)
        ended = users.revoke_sign_ins(session, user.id) if user is not None else 0
    return {"username": actor().name, "signed_out": ended}


def locked_out(until):
    """429: too many failed logins of this account or from this address, until `until`."""
    seconds = max(1, math.ceil((until - clock.now()).total_seconds()))
    response = error_response(
        429, "locked_out", f"too many failed logins; try again in {math.ceil(seconds / 60)} "
        "minutes, or ask an admin to lift the lock", {"locked_until": until.isoformat(),
                                                      "retry_after": seconds})
    response.headers["Retry-After"] = str(seconds)
    return response
