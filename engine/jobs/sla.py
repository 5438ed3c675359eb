"""SLA watch: warn before a human task's due time and, once it passes, take the task up a ladder
of levels, in business time.

Each task row carries `at_risk_at` and `due_at`, computed by the business calendar when the task
became ready (engine/runtime/task_rows.py) and moved on when a suspended request resumes
(engine.runtime.verbs.Runtime.resume): so every warning and escalation here falls in business
time. Each check marks the row, records an audit event on the instance and notifies the
department through the outbox.

A breached task goes up one level of its `ladder` at its due time, and one more each time its
SLA's business time has passed again (the row's `sla_level` counts the levels, `next_level_at`
says when the next is due):

- first the service tiers above the one its request needs (engine.service_tiers; L1 -> L2 ->
  expert): the task is handed to that tier's staff of its department. Its row's `tier` is
  raised, so the task lists show and filter it with that tier, a claim held by someone below
  the tier is released, and only staff of the tier or above may claim or complete it.
  Recorded as `sla_tier_raised`;
- then the escalations, each an `sla_escalation` instance whose task lands with that level's
  department: the customer-service supervisor for customer-service tasks, management for every
  other department; a customer-service task still open one SLA later goes on to management.
  Recorded as `sla_breached` when it is the task's first level (a task needing an expert, or
  serving no request with a tier), as `sla_escalated` after.

A complaint needing L1 (4 business hours to respond) is handed to L2 at 4 hours, to an expert
at 8, escalated to the supervisor at 12 and to management at 16.

A request is escalated once per level (the instance's business key is "ESC-<request>-<level>",
unique, so two schedulers racing cannot both start one): another task of the same request
reaching the same level is recorded and notified, not escalated again. The platform's own
escalation tasks are never escalated (a backlog of supervisors would otherwise escalate
itself), and the check does nothing for suspended requests. When the request resolves (its data
has an `outcome`) or finishes, `escalation_closer` cancels its open escalations, each recorded.

This is where complaints escalate: the complaint process has no wall-clock timers of its own
for it (non-interrupting BPMN timers count calendar hours and would keep the request open).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import prebuilt
from engine.access import SYSTEM
from engine.errors import EngineError
from engine.models import ACTIVE, FINISHED, AuditEvent, HumanTask, Instance, ServiceRequest
from engine.runtime import services
from engine.service_requests import current_data
from engine.service_tiers import SERVICE_TIERS, at_least, tier_of

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


def ladder(tier: str | None, department: str | None) -> tuple[str, ...]:
    """The levels a breached task of `department` whose request needs `tier` goes up, in
    order: the service tiers above `tier`, then the department's escalation levels."""
    above = SERVICE_TIERS[SERVICE_TIERS.index(tier) + 1:] if tier in SERVICE_TIERS else ()
    first = ESCALATE_TO.get(department, MANAGEMENT)
    return (*above, *dict.fromkeys((first, MANAGEMENT)))


def check(sessions, runtime, now: datetime, limit: int = 200) -> dict:
    """Warn at-risk tasks and take breached ones up a level, one task per transaction; returns
    {"warned": n, "escalated": n} (escalated counts the levels gone up, tier or escalation,
    whether or not a level started a new escalation)."""
    counts = {"warned": 0, "escalated": 0}
    with sessions() as session:
        at_risk = _ids(session, HumanTask.at_risk_at, HumanTask.warned_at.is_(None), now, limit)
        breached = _ids(session, HumanTask.due_at, HumanTask.escalated_at.is_(None), now, limit)
    for task_id in at_risk:
        counts["warned"] += _handle(sessions, runtime, task_id, now, warn=True)
    for task_id in breached:
        counts["escalated"] += _handle(sessions, runtime, task_id, now, warn=False)
    with sessions() as session:     # after the breaches: a task may be due at two levels now
        later = _ids(session, HumanTask.next_level_at, HumanTask.escalated_at.is_not(None),
                     now, limit)
    for task_id in later:
        counts["escalated"] += _handle(sessions, runtime, task_id, now, warn=False)
    return counts


def _watched(query):
    """Only tasks of active requests (not suspended, not finished), not escalations."""
    return query.join(Instance, Instance.id == HumanTask.instance_id).where(
        Instance.status.in_(ACTIVE), HumanTask.process_key.not_in(NOT_ESCALATED))


def _ids(session: Session, when, condition, now, limit) -> list[int]:
    return list(session.scalars(_watched(select(HumanTask.id)).where(when <= now, condition)
                                .order_by(when).limit(limit)))


def level_after(session: Session, calendar, task: HumanTask, at: datetime) -> datetime:
    """When `task`, having gone up a level at `at`, goes up the next one: its SLA's business
    time once more after `at`. The SLA is the working time from opening to due, less what the
    request spent suspended in between (a resume moved `due_at` on by that)."""
    granted = calendar.working_time_between(task.created_at, task.due_at) - paused(
        session, task.instance_id, task.created_at, task.due_at)
    return calendar.add(at, max(granted, timedelta(0)))


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


def _handle(sessions, runtime, row_id: int, now: datetime, *, warn: bool) -> int:
    try:
        with sessions.begin() as session:
            task = session.get(HumanTask, row_id)
            due = None if task is None else _due(task, warn)
            if due is None or due > now:
                return 0
            instance = session.get(Instance, task.instance_id)
            if instance is None or instance.status not in ACTIVE:
                return 0
            payload = {"task": task.name, "department": task.department,
                       "due_at": task.due_at.isoformat() if task.due_at else None}
            if warn:
                kind, note = "sla_at_risk", "sla_at_risk"
                task.warned_at = now
            else:
                kind, level = _go_up(session, runtime, task, due, payload, now)
                note = f"{kind}:{level}"
            runtime.record(session, task.instance_id, kind, SYSTEM, payload,
                           element=task.bpmn_id, task_id=task.task_id)
            services.write_intents(session, task.instance_id, task.business_key, [services.Intent(
                "notify.staff", f"{task.task_id}:{note}",
                {"template": kind, "department": task.department, "request_no": task.business_key,
                 "task": task.name}, task.bpmn_id)], now)
            if payload.get("escalated"):
                runtime.start(session, ESCALATION_PROCESS, {
                    "request_no": task.business_key, "task_name": task.name,
                    "task_id": task.task_id, "department": task.department,
                    "escalate_to": level, "priority": 1,
                    "due_at": payload["due_at"]}, SYSTEM, business_key=payload["escalation"])
        return 1
    except EngineError as err:     # instance busy or suspended: the next round tries again
        log.info("SLA check of task %s postponed: %s", row_id, err)
        return 0
    except IntegrityError:         # another scheduler escalated this level first
        log.info("SLA check of task %s: its escalation was started elsewhere", row_id)
        return 0


def _due(task: HumanTask, warn: bool) -> datetime | None:
    """When the task's warning (or its next level) is due; None once it is done."""
    if warn:
        return task.at_risk_at if task.warned_at is None else None
    return task.due_at if task.escalated_at is None else task.next_level_at


def _go_up(session: Session, runtime, task: HumanTask, due: datetime, payload: dict,
           now: datetime) -> tuple[str, str]:
    """Take `task`, due at `due` for its next level, up that level; fill the event's `payload`
    and return (its kind, the level)."""
    needed = session.scalar(select(ServiceRequest.service_tier).where(
        ServiceRequest.number == task.business_key))
    levels = ladder(needed, task.department)
    level = levels[task.sla_level]
    first = task.sla_level == 0
    task.escalated_at = task.escalated_at or now
    task.warned_at = task.warned_at or now
    task.sla_level += 1
    task.next_level_at = (level_after(session, runtime.calendar, task, due)
                          if task.sla_level < len(levels) else None)
    payload["level"] = level
    if level in SERVICE_TIERS:
        payload.update(previous=task.tier or needed, released=None)
        task.tier = level
        if task.claimed_by and not at_least(tier_of(session, task.claimed_by), level):
            payload["released"], task.claimed_by, task.claimed_at = task.claimed_by, None, None
        return "sla_tier_raised", level
    key = escalation_key(task.business_key, level)
    payload.update(escalation=key, escalated=_escalation_id(session, key) is None)
    return ("sla_breached" if first else "sla_escalated"), level


def _escalation_id(session: Session, key: str) -> int | None:
    return session.scalar(select(Instance.id).where(Instance.business_key == key))


_OPEN_ESCALATIONS = select(Instance.id).where(
    Instance.business_key.in_(bindparam("keys", expanding=True)),
    Instance.status.in_(ACTIVE + ("error",)))


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
        # Escalations are instances of their own: this unit's queued writes (its own instance)
        # do not change which are open, so the question goes ahead of them (engine.prebuilt).
        for escalation_id in prebuilt.ahead(session, _OPEN_ESCALATIONS, {"keys": keys}).scalars():
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
