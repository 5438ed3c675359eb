"""The live queue: what an open staff page must learn without a reload. A `snapshot` is the
actor's queue as the task list sees it (how many tasks, how many claimed by them, how many
breached, and the first tasks by due time); `news` compares two snapshots: whether the list
changed, and which tasks are worth a notification (P1 tasks that appeared, tasks that breached
their SLA since the last look).

The pages' event stream (web/pages/live.py) takes a snapshot every few seconds per open page,
each in a short read of its own: a snapshot is two indexed queries (engine.tasklist), so a floor
of a hundred open pages costs some fifty small reads a second, and no transaction is held open
between them.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine import tasklist
from engine.access import Actor

WATCHED = 100       # the first tasks by due time that are compared for news


def snapshot(session: Session, actor: Actor, now: datetime) -> dict:
    """{"total", "mine", "breached" (each counted up to tasklist.COUNT_LIMIT), "tasks":
    {task_id: {"name", "priority", "sla_status", "claimed_by", "request_number"}} for the
    first WATCHED tasks by due time}."""
    rows, total = tasklist.list_tasks(session, actor, tasklist.Filters(), "due", 1, WATCHED,
                                      now=now)
    _mine, mine = tasklist.list_tasks(session, actor, tasklist.Filters(assignee="me"), "due",
                                      1, 1, now=now)
    _late, breached = tasklist.list_tasks(session, actor, tasklist.Filters(overdue=True), "due",
                                          1, 1, now=now)
    return {"total": total, "mine": mine, "breached": breached,
            "tasks": {r["task_id"]: {"name": r["name"], "priority": r["priority"],
                                     "sla_status": r["sla_status"],
                                     "claimed_by": r["claimed_by"],
                                     "request_number": r["request_number"]} for r in rows}}


def news(before: dict | None, after: dict) -> dict:
    """{"changed": whether the list differs, "alerts": [{"kind": "p1" | "breached",
    "task_id", "name", "request_number"}]} from `before` (None: the first look, which alerts
    nothing) to `after`."""
    if before is None:
        return {"changed": False, "alerts": []}
    alerts = []
    for task_id, task in after["tasks"].items():
        old = before["tasks"].get(task_id)
        if old is None and task["priority"] == 1:
            alerts.append(_alert("p1", task_id, task))
        elif task["sla_status"] == "breached" and (old is not None
                                                    and old["sla_status"] != "breached"):
            alerts.append(_alert("breached", task_id, task))
    changed = any(before[k] != after[k] for k in ("total", "mine", "breached", "tasks"))
    return {"changed": changed, "alerts": alerts}


def _alert(kind: str, task_id: str, task: dict) -> dict:
    return {"kind": kind, "task_id": task_id, "name": task["name"],
            "request_number": task["request_number"]}
