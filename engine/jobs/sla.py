"""SLA watch: warn before a human task's due time and escalate when it passes, in business time.

Each task row carries `at_risk_at` and `due_at`, computed by the business calendar when the task
became ready (engine/runtime/task_rows.py) and moved on when a suspended request resumes
(engine.runtime.verbs.Runtime.resume): so every warning and escalation here falls in business
time. The check marks the row, records an audit event on the instance and notifies the
department through the outbox. Escalation has two levels, each an `sla_escalation` instance
whose task lands with that level's department:

- at the breach: the customer-service supervisor for customer-service tasks, management for
  every other department;
- a customer-service task still open when its SLA has run out a second time (a complaint's
  4 business hours, then 8) goes on to management.

A request is escalated once per level (the instance's business key is "ESC-<request>-<level>",
unique, so two schedulers racing cannot both start one): a second breach of the same request at
the same level is recorded and notified, not escalated again. The platform's own escalation
tasks are never escalated (a backlog of supervisors would otherwise escalate itself), and the
check does nothing for suspended requests. When the request resolves (its data has an
`outcome`) or finishes, `escalation_closer` cancels its open escalations, each recorded.

This is where complaints escalate: the complaint process has no wall-clock timers of its own
for it (non-interrupting BPMN timers count calendar hours and would keep the request open).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from engine.access import SYSTEM
from engine.errors import EngineError
from engine.models import ACTIVE, FINISHED, AuditEvent, HumanTask, Instance
from engine.runtime import services
from engine.service_requests import current_data

log = logging.getLogger(__name__)

ESCALATION_PROCESS = "sla_escalation"
SUPERVISOR, MANAGEMENT = "cs_supervisor", "management"
LEVELS = (SUPERVISOR, MANAGEMENT)
# The first level of escalation of a department's tasks; every other department's is management.
ESCALATE_TO = {"customer_service": SUPERVISOR}
# Processes whose tasks are escalations already: their own SLAs are shown, never escalated.
NOT_ESCALATED = (ESCALATION_PROCESS,)


def escalation_key(request_no: str, level: str) -> str:
    """The business key of a request's escalation at `level` (one per level per request)."""
    return f"ESC-{request_no}-{level}"


def check(sessions, runtime, now: datetime, limit: int = 200) -> dict:
    """Warn at-risk tasks and escalate breached ones, one task per transaction; returns
    {"warned": n, "escalated": n} (escalated counts tasks whose breach was handled, at either
    level, whether or not it started a new escalation)."""
    counts = {"warned": 0, "escalated": 0}
    with sessions() as session:
        at_risk = _ids(session, HumanTask.at_risk_at, HumanTask.warned_at, now, limit)
        breached = _ids(session, HumanTask.due_at, HumanTask.escalated_at, now, limit)
    for task_id in at_risk:
        counts["warned"] += _handle(sessions, runtime, task_id, now, level=None)
    for task_id in breached:
        counts["escalated"] += _handle(sessions, runtime, task_id, now, level=1)
    with sessions() as session:     # after the first level: a task may be due at both now
        second = _second_level(session, runtime.calendar, now, limit)
    for task_id in second:
        counts["escalated"] += _handle(sessions, runtime, task_id, now, level=2)
    return counts


def _watched(query):
    """Only tasks of active requests (not suspended, not finished), not escalations."""
    return query.join(Instance, Instance.id == HumanTask.instance_id).where(
        Instance.status.in_(ACTIVE), HumanTask.process_key.not_in(NOT_ESCALATED))


def _ids(session: Session, when, done, now, limit) -> list[int]:
    return list(session.scalars(_watched(select(HumanTask.id)).where(when <= now, done.is_(None))
                                .order_by(when).limit(limit)))


def _second_level(session: Session, calendar, now: datetime, limit: int) -> list[int]:
    """Customer-service tasks escalated to the supervisor whose SLA has run out once more,
    while their request has no management escalation yet."""
    escalation = aliased(Instance)
    key = literal("ESC-") + HumanTask.business_key + literal(f"-{MANAGEMENT}")
    rows = session.execute(_watched(select(HumanTask.id, HumanTask.instance_id,
                                           HumanTask.created_at, HumanTask.due_at))
                           .where(HumanTask.department.in_(list(ESCALATE_TO)),
                                  HumanTask.escalated_at.is_not(None),
                                  ~exists().where(escalation.business_key == key))
                           .order_by(HumanTask.due_at).limit(limit)).all()
    return [row.id for row in rows
            if second_level_at(session, calendar, row.instance_id, row.created_at,
                               row.due_at) <= now]


def second_level_at(session: Session, calendar, instance_id: int, created_at: datetime,
                    due_at: datetime) -> datetime:
    """When a task opened at `created_at` and due at `due_at` goes on to management: its SLA's
    business time once more after `due_at`. The SLA is the working time from opening to due,
    less what the request spent suspended in between (a resume moved `due_at` on by that)."""
    granted = calendar.working_time_between(created_at, due_at) - paused(
        session, instance_id, created_at, due_at)
    return calendar.add(due_at, max(granted, timedelta(0)))


def paused(session: Session, instance_id: int, after: datetime, before: datetime) -> timedelta:
    """The working time an instance spent suspended in suspensions that began between `after`
    and `before` (as its `resumed` events record it)."""
    total = timedelta(0)
    for payload in session.scalars(select(AuditEvent.payload).where(
            AuditEvent.instance_id == instance_id, AuditEvent.kind == "resumed",
            AuditEvent.at >= after)):
        since = payload.get("suspended_at")
        if since and after <= datetime.fromisoformat(since) < before:
            total += timedelta(seconds=payload.get("sla_paused_seconds", 0))
    return total


def _handle(sessions, runtime, row_id: int, now: datetime, *, level: int | None) -> int:
    try:
        with sessions.begin() as session:
            task = session.get(HumanTask, row_id)
            if task is None or _done(task, level):
                return 0
            instance = session.get(Instance, task.instance_id)
            if instance is None or instance.status not in ACTIVE:
                return 0
            if level is None:
                kind = "sla_at_risk"
                task.warned_at = now
            else:
                kind = "sla_breached" if level == 1 else "sla_escalated"
                task.escalated_at = task.escalated_at or now
                task.warned_at = task.warned_at or now
            payload = {"task": task.name, "department": task.department,
                       "due_at": task.due_at.isoformat() if task.due_at else None}
            if level is not None:
                to = ESCALATE_TO.get(task.department, MANAGEMENT) if level == 1 else MANAGEMENT
                key = escalation_key(task.business_key, to)
                payload.update(level=to, escalation=key,
                               escalated=_escalation_id(session, key) is None)
            runtime.record(session, task.instance_id, kind, SYSTEM, payload,
                           element=task.bpmn_id, task_id=task.task_id)
            services.write_intents(session, task.instance_id, task.business_key, [services.Intent(
                "notify.staff", f"{task.task_id}:{kind}",
                {"template": kind, "department": task.department, "request_no": task.business_key,
                 "task": task.name}, task.bpmn_id)], now)
            if level is not None and payload["escalated"]:
                runtime.start(session, ESCALATION_PROCESS, {
                    "request_no": task.business_key, "task_name": task.name,
                    "task_id": task.task_id, "department": task.department,
                    "escalate_to": to, "priority": 1,
                    "due_at": payload["due_at"]}, SYSTEM, business_key=key)
        return 1
    except EngineError as err:     # instance busy or suspended: the next round tries again
        log.info("SLA check of task %s postponed: %s", row_id, err)
        return 0
    except IntegrityError:         # another scheduler escalated this level first
        log.info("SLA check of task %s: its escalation was started elsewhere", row_id)
        return 0


def _done(task: HumanTask, level: int | None) -> bool:
    if level is None:
        return task.warned_at is not None
    if level == 1:
        return task.escalated_at is not None
    return task.escalated_at is None    # level 2 follows level 1


def _escalation_id(session: Session, key: str) -> int | None:
    return session.scalar(select(Instance.id).where(Instance.business_key == key))


def escalation_closer(runtime):
    """A runtime hook: when a request resolves (its data has an `outcome`) or finishes, cancel
    its open escalations (each recorded as `cancelled` with the reason), so that no escalation
    task stays open for a request that is done."""
    def close_escalations(session: Session, instance, workflow, event) -> None:
        if instance.process_key in NOT_ESCALATED or event["kind"] in ("suspended", "resumed"):
            return
        if instance.status not in FINISHED and not (
                workflow is not None and _has_outcome(workflow)):
            return
        keys = [escalation_key(instance.business_key, level) for level in LEVELS]
        state = instance.status if instance.status in FINISHED else "resolved"
        for escalation_id in list(session.scalars(select(Instance.id).where(
                Instance.business_key.in_(keys), Instance.status.in_(ACTIVE + ("error",))))):
            # In a savepoint: an escalation that cannot be closed now (changed by someone at
            # this moment) must not fail the request's own step; its next change closes it.
            try:
                with session.begin_nested():
                    runtime.cancel(session, escalation_id, SYSTEM,
                                   reason=f"request {instance.business_key} is {state}")
            except EngineError as err:
                log.warning("escalation %s of %s left open: %s", escalation_id,
                            instance.business_key, err)
    return close_escalations


def _has_outcome(workflow) -> bool:
    return isinstance(current_data(workflow).get("outcome"), str)
