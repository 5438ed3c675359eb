"""Operations: outbox incidents (side effects that failed too often), retried or skipped."""
from __future__ import annotations

from flask import Blueprint

from engine import access
from engine.jobs import outbox
from web.api import schemas
from web.api.base import allow, body, transaction

bp = Blueprint("admin", __name__)


@bp.get("/incidents")
@allow(*access.INCIDENT_READERS)
def incidents():
    with transaction() as session:
        return {"items": outbox.incidents(session)}


@bp.post("/incidents/<id:incident_id>")
@allow(*access.ADMIN)
def resolve(incident_id):
    fields = body(schemas.INCIDENT_ACTION)
    with transaction() as session:
        row = outbox.resolve_incident(session, incident_id, fields["action"], fields.get("payload"))
        return outbox.incident_json(row)
