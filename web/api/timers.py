"""Timer operations for supervisors and admins: the timers waiting in instances whose work they
supervise, fired now or moved to another time (as Camunda's Cockpit does). Each move is the
verb `Runtime.reschedule_timer`, an audit event that replay repeats."""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, db, orders
from engine.jobs import timers
from web import query
from web.api import schemas
from web.api.base import actor, allow, body, only_args, runtime, transaction

bp = Blueprint("timers", __name__)

@bp.get("/timers")
@allow(*access.SUPERVISORS)
def waiting():
    only_args("instance_id")
    instance_id = request.args.get("instance_id")
    instance_id = query.integer(instance_id, "instance_id", 1, db.MAX_ID) if instance_id else None
    with transaction() as session:
        return {"items": timers.waiting(session, actor(), instance_id=instance_id)}


@bp.post("/instances/<id:instance_id>/timers/<task_id>/fire")
@allow(*access.SUPERVISORS)
def fire(instance_id, task_id):
    fields = body(schemas.TIMER_FIRE, optional=True)
    with transaction() as session:
        instance = runtime().reschedule_timer(session, instance_id, task_id, None, actor(),
                                              fields.get("reason", ""))
        return {"instance_id": instance.id, "status": instance.status}


@bp.post("/instances/<id:instance_id>/timers/<task_id>/reschedule")
@allow(*access.SUPERVISORS)
def reschedule(instance_id, task_id):
    fields = body(schemas.TIMER_RESCHEDULE)
    due_at = orders.timestamp(fields["due_at"], "due_at")     # with its offset
    with transaction() as session:
        instance = runtime().reschedule_timer(session, instance_id, task_id, due_at, actor(),
                                              fields.get("reason", ""))
        return {"instance_id": instance.id, "status": instance.status}
