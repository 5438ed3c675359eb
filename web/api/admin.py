"""Operations: incidents, retried or skipped: outbox rows (side effects that failed too often,
`kind` "outbox", acted on here) and instances in error (`kind` "instance", acted on through
/api/instances/{id}/retry, /skip and /cancel)."""
from __future__ import annotations

from flask import Blueprint

from engine import access
from engine.jobs import outbox
from engine.runtime import incidents as instance_incidents
from web.api import schemas
from web.api.base import allow, body, transaction

bp = Blueprint("admin", __name__)


@bp.get("/incidents")
@allow(*access.INCIDENT_READERS)
def incidents():
    with transaction() as session:
        return {"items": outbox.incidents(session) + instance_incidents.open_incidents(session)}


@bp.post("/incidents/<id:incident_id>")
@allow(*access.ADMIN)
def resolve(incident_id):
    fields = body(schemas.INCIDENT_ACTION)
    with transaction() as session:
        row = outbox.resolve_incident(session, incident_id, fields["action"], fields.get("payload"))
        return outbox.incident_json(row)
