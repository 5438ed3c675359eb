"""POST /api/auth/token: exchange a username and password for a bearer token."""
from __future__ import annotations

from flask import Blueprint

from engine import users
from web.api import schemas
from web.api.base import body, settings, transaction
from web.errors import ApiError

bp = Blueprint("auth", __name__)


@bp.post("/auth/token")
def token():
    credentials = body(schemas.TOKEN)
    with transaction() as session:
        user = users.authenticate(session, credentials["username"], credentials["password"])
        if user is None:
            raise ApiError(401, "wrong username or password")
        token, expires_at = users.issue_token(session, user, settings().token_ttl_hours)
        return {"token": token, "expires_at": expires_at.isoformat(), "username": user.username,
                "role": user.role, "department": user.department,
                "customer_id": user.customer_id}
