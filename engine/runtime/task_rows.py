"""The human_task row of a READY user task: department, form, priority and its SLA times.

A task's SLA is its element's `sla` property: an ISO-8601 duration of business time, or the name
of a task data field that holds one. The task is due that much business time after it opened
(by the business calendar), and at risk once the configured fraction of it has passed. An SLA
the calendar refuses leaves the task without a due time rather than failing the step.

The request's own SLAs, the routing table's `respond_sla` and `resolve_sla` (bpmn/routing.dmn,
in the data of every task of an after-sales request), apply to every task of the request
unless the task's `sla` property names a data field (respond_to_complaint names respond_sla):
such a task says itself which SLA it keeps. Every other task is due by the earliest of

- its own literal `sla` after it opened (when it has one);
- the first response: `respond_sla` after the request was filed, for the tasks that open when
  it is filed (a fresh-food refund's approval is due in 1 hour, not its own 4);
- the resolution: `resolve_sla` after the request was filed, for tasks that open before the
  request has an outcome (a 3C repair is due within 48 hours whatever its steps say); the
  follow-ups after the outcome (a callback, a claw-back) keep their own SLA.

A suspended request's SLA clock stops: `resume_slas` moves the due and at-risk times of its
open tasks on by the business time the request spent suspended.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.business_time import BusinessCalendar
from engine.models import AuditEvent, HumanTask

RESPOND, RESOLVE = "respond_sla", "resolve_sla"


def human_task_row(instance, compiled, task, opened_at: datetime, calendar: BusinessCalendar,
                   at_risk_fraction: float) -> dict:
    """The row (column -> value) describing Spiff `task` of `instance`, opened at `opened_at`."""
    spec = task.task_spec
    meta = compiled.tasks.get(spec.bpmn_id)
    due, at_risk = request_sla_times(meta.sla if meta else None, task.data, opened_at,
                                     instance.created_at, calendar, at_risk_fraction)
    priority = task.data.get("priority", 3)
    return dict(instance_id=instance.id, task_id=str(task.id), bpmn_id=spec.bpmn_id,
                name=spec.bpmn_name, process_key=compiled.process_key,
                business_key=instance.business_key, department=spec.lane,
                form_key=meta.form if meta else None,
                priority=priority if isinstance(priority, int) else 3,
                created_at=opened_at, due_at=due, at_risk_at=at_risk)


def is_duration(sla: str) -> bool:
    """Is an `sla` value (the property, or the data field it names) a duration? Otherwise the
    property names the data field that holds one."""
    return sla.startswith("P")


def sla_times(sla: str | None, data: dict, opened_at: datetime, calendar: BusinessCalendar,
              at_risk_fraction: float) -> tuple[datetime | None, datetime | None]:
    """(due_at, at_risk_at) of a task opened at `opened_at`; (None, None) without a usable SLA."""
    if sla and not is_duration(sla):
        sla = data.get(sla)
    due = _due(sla, opened_at, calendar)
    if due is None:
        return None, None
    return due, calendar.at_risk_at(opened_at, due, at_risk_fraction)


def request_sla_times(sla: str | None, data: dict, opened_at: datetime, filed_at: datetime,
                      calendar: BusinessCalendar, at_risk_fraction: float
                      ) -> tuple[datetime | None, datetime | None]:
    """(due_at, at_risk_at) of a task of a request filed at `filed_at`: its own SLA, bounded by
    the request's routing SLAs where the task does not name its SLA field (see the module)."""
    if sla and not is_duration(sla):
        return sla_times(sla, data, opened_at, calendar, at_risk_fraction)
    candidates = [_due(sla, opened_at, calendar)]
    if opened_at == filed_at:
        candidates.append(_due(data.get(RESPOND), filed_at, calendar))
    if not isinstance(data.get("outcome"), str):
        candidates.append(_due(data.get(RESOLVE), filed_at, calendar))
    candidates = [c for c in candidates if c is not None]
    if not candidates:
        return None, None
    due = min(candidates)
    # The warning comes after the same fraction of the time this task was given (a task that
    # opens past its request's deadline is breached at once, and at risk with it).
    return due, calendar.at_risk_at(opened_at, max(due, opened_at), at_risk_fraction)


def _due(sla, start: datetime, calendar: BusinessCalendar) -> datetime | None:
    if not (isinstance(sla, str) and is_duration(sla)):
        return None
    try:
        return calendar.add(start, sla)
    except ValueError:
        return None


def suspended_since(session: Session, instance_id: int) -> datetime | None:
    """When the instance was last suspended (its newest `suspended` event), or None."""
    return session.scalar(select(AuditEvent.at).where(
        AuditEvent.instance_id == instance_id, AuditEvent.kind == "suspended")
        .order_by(AuditEvent.seq.desc()).limit(1))


def resume_slas(session: Session, calendar: BusinessCalendar, instance_id: int,
                suspended_at: datetime, resumed_at: datetime) -> timedelta:
    """Move the SLA times of an instance's open tasks on after a suspension from `suspended_at`
    to `resumed_at`: each due, at-risk or next SLA level's time (engine/jobs/sla.py) still
    ahead at the suspension becomes the instant with the same business time left after
    `resumed_at`. Returns the working time paused."""
    for task in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)):
        for column in ("due_at", "at_risk_at", "next_level_at"):
            value = getattr(task, column)
            if value is not None and value > suspended_at:
                left = calendar.working_time_between(suspended_at, value)
                setattr(task, column, calendar.add(resumed_at, left))
    session.flush()
    return calendar.working_time_between(suspended_at, resumed_at)
