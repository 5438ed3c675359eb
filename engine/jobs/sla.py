"""SLA watch: warn before a human task's due time, escalate when it passes.

Each task row carries `at_risk_at` and `due_at` (computed in business time when the task became
ready). The check marks the row, records an audit event on the instance, notifies the department
through the outbox and, at the breach, starts an `sla_escalation` process whose task lands with
the supervisor (customer service tasks) or management (all others).
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access import SYSTEM
from engine.errors import EngineError
from engine.models import HumanTask
from engine.runtime import services

log = logging.getLogger(__name__)

ESCALATION_PROCESS = "sla_escalation"
ESCALATE_TO = {"customer_service": "cs_supervisor"}


def check(sessions, runtime, now: datetime, limit: int = 200) -> dict:
    """Warn at-risk tasks and escalate breached ones, one task per transaction."""
    counts = {"warned": 0, "escalated": 0}
    with sessions() as session:
        at_risk = _ids(session, HumanTask.at_risk_at, HumanTask.warned_at, now, limit)
        breached = _ids(session, HumanTask.due_at, HumanTask.escalated_at, now, limit)
    for task_id in at_risk:
        counts["warned"] += _handle(sessions, runtime, task_id, now, breach=False)
    for task_id in breached:
        counts["escalated"] += _handle(sessions, runtime, task_id, now, breach=True)
    return counts


def _ids(session: Session, when, done, now, limit) -> list[int]:
    return list(session.scalars(select(HumanTask.id).where(when <= now, done.is_(None))
                                .order_by(when).limit(limit)))


def _handle(sessions, runtime, row_id: int, now: datetime, *, breach: bool) -> int:
    try:
        with sessions.begin() as session:
            task = session.get(HumanTask, row_id)
            if task is None or (task.escalated_at if breach else task.warned_at) is not None:
                return 0
            kind = "sla_breached" if breach else "sla_at_risk"
            if breach:
                task.escalated_at = now
                task.warned_at = task.warned_at or now
            else:
                task.warned_at = now
            payload = {"task": task.name, "department": task.department,
                       "due_at": task.due_at.isoformat() if task.due_at else None}
            runtime.record(session, task.instance_id, kind, SYSTEM, payload,
                           element=task.bpmn_id, task_id=task.task_id)
            services.write_intents(session, task.instance_id, task.business_key, [services.Intent(
                "notify.staff", f"{task.task_id}:{kind}",
                {"template": kind, "department": task.department, "request_no": task.business_key,
                 "task": task.name}, task.bpmn_id)], now)
            if breach:
                escalate_to = ESCALATE_TO.get(task.department, "management")
                runtime.start(session, ESCALATION_PROCESS, {
                    "request_no": task.business_key, "task_name": task.name,
                    "task_id": task.task_id, "department": task.department,
                    "escalate_to": escalate_to, "priority": 1,
                    "due_at": payload["due_at"]}, SYSTEM, business_key=f"ESC-{task.task_id}")
        return 1
    except EngineError as err:     # instance busy or suspended: the next round tries again
        log.info("SLA check of task %s postponed: %s", row_id, err)
        return 0
