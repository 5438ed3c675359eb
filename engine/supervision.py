"""What waits for a supervisor besides tasks: the requests whose process is in error (an
incident: a step that failed and was rolled back) and that the supervisor may retry, skip or
cancel (engine.access.may_operate_instance, the rule the verbs apply).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import access
from engine.access import Actor
from engine.definitions import catalog
from engine.models import Instance, ServiceRequest

MAX_INCIDENTS = 100


def incidents(session: Session, actor: Actor, limit: int = MAX_INCIDENTS) -> list[dict]:
    """Instances in error that `actor` may operate, newest change first: [{"instance_id",
    "business_key", "request_number", "process_key", "error", "updated_at"}] (the status is
    indexed; judging each instance's reach reads its work, so at most `limit` are judged)."""
    rows = session.execute(
        select(Instance.id, Instance.business_key, Instance.process_key, Instance.error,
               Instance.updated_at, Instance.definition_id, ServiceRequest.number)
        .outerjoin(ServiceRequest, ServiceRequest.instance_id == Instance.id)
        .where(Instance.status == "error").order_by(Instance.updated_at.desc()).limit(limit))
    found = []
    for row in rows:
        user_tasks = catalog.compiled(session, row.definition_id).tasks.values()
        if access.may_operate_instance(actor, access.instance_scope(session, row.id, user_tasks)):
            found.append({"instance_id": row.id, "business_key": row.business_key,
                          "request_number": row.number, "process_key": row.process_key,
                          "error": row.error, "updated_at": row.updated_at})
    return found
