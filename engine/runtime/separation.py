"""Four eyes: a user task that someone other than the doer of an earlier task must do.

A user task with the property `four_eyes` naming an earlier user task of its process
(refund_first's `second_approval` has four_eyes=approve_refund) may not be claimed or completed
by whoever last completed that earlier task in the same instance. The rule comes from the
definition and the earlier doer from the audit log, so no form data can get around it.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.errors import Forbidden
from engine.models import AuditEvent, HumanTask


def check(session: Session, compiled, task: HumanTask, actor: Actor) -> None:
    """Raise Forbidden when `actor` did the task that `task` must be done apart from."""
    meta = compiled.tasks.get(task.bpmn_id)
    earlier = meta.four_eyes if meta is not None else None
    if not earlier:
        return
    first = session.scalars(
        select(AuditEvent.actor).where(AuditEvent.instance_id == task.instance_id,
                                       AuditEvent.kind == "task_completed",
                                       AuditEvent.element == earlier)
        .order_by(AuditEvent.seq.desc()).limit(1)).first()
    if first == actor.name:
        raise Forbidden(f"{task.bpmn_id} needs a second person: {actor.name} did {earlier}, "
                        "so someone else must do this one", task_id=task.task_id,
                        instance_id=task.instance_id)
