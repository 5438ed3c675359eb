"""Who is working on a task right now: the open task pane says so every few seconds (`seen`),
and everyone else's pane shows "cs_sup is working on this" (`others`), so that two people do
not answer the same customer at once without knowing.

Presence is a hint, not a lock: claiming is the lock (engine.runtime.verbs.Runtime.claim).
A row older than TTL means the pane was closed; rows are kept small by removing a task's
stale rows whenever someone is seen on it.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.models import TaskPresence

TTL = timedelta(seconds=60)     # the pane says so every 20 s; two missed beats and it is gone


def seen(session: Session, task_id: str, actor: Actor, now: datetime) -> None:
    """Record that `actor` has task `task_id` open at `now` (the caller checked they may see
    it: engine.tasks.scope)."""
    session.execute(delete(TaskPresence).where(TaskPresence.task_id == task_id,
                                               TaskPresence.seen_at < now - TTL))
    row = session.get(TaskPresence, (task_id, actor.name))
    if row is None:
        session.add(TaskPresence(task_id=task_id, username=actor.name, seen_at=now))
    else:
        row.seen_at = now
    session.flush()


def left(session: Session, task_id: str, actor: Actor) -> None:
    """`actor` closed the task's pane (or moved to another task)."""
    session.execute(delete(TaskPresence).where(TaskPresence.task_id == task_id,
                                               TaskPresence.username == actor.name))


def others(session: Session, task_id: str, actor: Actor, now: datetime) -> list[str]:
    """The names of the people other than `actor` who had the task open within TTL, sorted."""
    return list(session.scalars(select(TaskPresence.username).where(
        TaskPresence.task_id == task_id, TaskPresence.username != actor.name,
        TaskPresence.seen_at >= now - TTL).order_by(TaskPresence.username)))
