"""The human_task row of a READY user task: department, form, priority and its SLA times.

A task's SLA is its element's `sla` property: an ISO-8601 duration of business time, or the name
of a task data field that holds one. The task is due that much business time after it opened
(by the business calendar), and at risk once the configured fraction of it has passed. An SLA
the calendar refuses leaves the task without a due time rather than failing the step.
"""
from __future__ import annotations

from datetime import datetime

from engine.business_time import BusinessCalendar


def human_task_row(instance, compiled, task, opened_at: datetime, calendar: BusinessCalendar,
                   at_risk_fraction: float) -> dict:
    """The row (column -> value) describing Spiff `task` of `instance`, opened at `opened_at`."""
    spec = task.task_spec
    meta = compiled.tasks.get(spec.bpmn_id)
    due, at_risk = sla_times(meta.sla if meta else None, task.data, opened_at, calendar,
                             at_risk_fraction)
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
    if not (isinstance(sla, str) and is_duration(sla)):
        return None, None
    try:
        due = calendar.add(opened_at, sla)
        return due, calendar.at_risk_at(opened_at, due, at_risk_fraction)
    except ValueError:
        return None, None
