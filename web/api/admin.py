"""Operations: outbox incidents (side effects that failed too often), retried or skipped."""
from __future__ import annotations

from flask import Blueprint

from engine.jobs import outbox
from engine.models import Outbox
from web.api import schemas
from web.api.base import ADMIN, allow, body, transaction

bp = Blueprint("admin", __name__)


@bp.get("/incidents")
@allow("admin", "auditor")
def incidents():
    with transaction() as session:
        return {"items": [incident_json(row) for row in outbox.incidents(session)]}


@bp.post("/incidents/<id:incident_id>")
@allow(*ADMIN)
def resolve(incident_id):
    fields = body(schemas.INCIDENT_ACTION)
    with transaction() as session:
        row = outbox.resolve_incident(session, incident_id, fields["action"], fields.get("payload"))
        return incident_json(row)


def incident_json(row: Outbox) -> dict:
    return {"id": row.id, "operation": row.operation, "business_key": row.business_key,
            "instance_id": row.instance_id, "status": row.status, "attempts": row.attempts,
            "last_error": row.last_error, "payload": row.payload,
            "idempotency_key": row.idempotency_key, "created_at": row.created_at,
            "next_attempt_at": row.next_attempt_at}
