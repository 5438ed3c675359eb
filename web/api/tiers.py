"""Service tiers of staff (engine/service_tiers.py): admins set them, supervisors and admins
read them."""
from __future__ import annotations

from flask import Blueprint

from engine import access, service_tiers
from web.api.base import actor, allow, body, transaction

bp = Blueprint("tiers", __name__)
TIER = {"type": "object", "required": ["tier"], "additionalProperties": False,
        "properties": {"tier": {"type": "string"}}}


@bp.get("/tiers")
@allow(*access.SUPERVISORS, "auditor")
def listed():
    with transaction() as session:
        return {"items": service_tiers.listed(session)}


@bp.put("/users/<username>/tier")
@allow(*access.ADMIN)
def set_tier(username):
    fields = body(TIER)
    with transaction() as session:
        return service_tiers.set_tier(session, username, fields["tier"], actor().name)
