"""Firing due timers, safely from several processes at once.

Due timer rows are claimed in small batches (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write
lock on SQLite) with a lease, then each instance is fired through `Runtime.fire_timers` in its
own transaction (engine.runtime.incidents.transaction: a timer whose firing fails becomes
the instance's incident and the others fire on). The instance's optimistic version check makes a double fire impossible even if
two workers got the same instance; the lease only keeps them from wasting work.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine import access, clock
from engine.definitions import catalog
from engine.errors import Conflict, NotFound, StepFailed
from engine.models import ACTIVE, Instance, Timer
from engine.runtime import incidents

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)

# `status || ''` keeps SQLite from choosing the status index over the due_at one (a scan of
# every waiting instance and a sort, ~5 ms at 10,000 timers, against ~0.01 ms by due_at).
_ACTIVE = Instance.status.op("||")("").in_(ACTIVE)


def claim_due(session: Session, now: datetime, worker: str, limit: int = 100) -> list[int]:
    """Claim up to `limit` due timers not claimed by a live lease; returns their instance ids."""
    query = (select(Timer.id, Timer.instance_id)
             .join(Instance, Instance.id == Timer.instance_id)
             .where(Timer.due_at < now, _ACTIVE,
                    or_(Timer.claimed_at.is_(None), Timer.claimed_at < now - LEASE))
             .order_by(Timer.due_at).limit(limit)
             .with_for_update(skip_locked=True, of=Timer))
    rows = session.execute(query).all()
    if not rows:
        return []
    session.execute(update(Timer).where(Timer.id.in_([r.id for r in rows]))
                    .values(claimed_at=now, claimed_by=worker))
    return list(dict.fromkeys(r.instance_id for r in rows))


def run_due(sessions, runtime, now: datetime | None = None, worker: str = "worker",
            batch: int = 100) -> int:
    """Fire every due timer, one instance per transaction; returns the instances fired."""
    fired = 0
    while True:
        current = now or clock.now()
        with sessions.begin() as session:
            instance_ids = claim_due(session, current, worker, batch)
        for instance_id in instance_ids:
            try:
                incidents.again_if_lost(lambda: _fire(sessions, runtime, instance_id, current))
                fired += 1
            except StepFailed as err:                # recorded as the instance's incident
                log.warning("timer of instance %s failed: %s", instance_id, err)
            except (Conflict, NotFound) as err:      # another worker or a verb got there first
                log.info("timer of instance %s skipped: %s", instance_id, err)
        if len(instance_ids) < batch:
            return fired


def _fire(sessions, runtime, instance_id: int, now: datetime) -> None:
    with incidents.transaction(sessions) as session:
        runtime.fire_timers(session, instance_id, now)


def due_instance_ids(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Active instances with a timer due before `now` (no claim: for a caller that fires them
    all in its own transaction)."""
    return list(session.scalars(
        select(Timer.instance_id).join(Instance, Instance.id == Timer.instance_id)
        .where(Timer.due_at < now, _ACTIVE)
        .group_by(Timer.instance_id).order_by(Timer.instance_id).limit(limit)))


def next_due(session: Session) -> datetime | None:
    """The earliest due time of any waiting timer of an active instance."""
    return session.scalar(select(Timer.due_at).join(Instance, Instance.id == Timer.instance_id)
                          .where(_ACTIVE)
                          .order_by(Timer.due_at).limit(1))


def waiting(session: Session, actor, *, instance_id: int | None = None,
            limit: int = 200) -> list[dict]:
    """The timers waiting in active instances, soonest first ({instance_id, business_key,
    process_key, task_id, bpmn_id, due_at}), of the instances `actor` may operate on
    (supervisors: those whose open work is in departments they supervise; admins: all)."""
    query = (select(Timer, Instance).join(Instance, Instance.id == Timer.instance_id)
             .where(_ACTIVE).order_by(Timer.due_at, Timer.id).limit(limit))
    if instance_id is not None:
        query = query.where(Timer.instance_id == instance_id)
    shown, allowed = [], {}
    for timer, instance in session.execute(query):
        if instance.id not in allowed:
            tasks = catalog.compiled(session, instance.definition_id).tasks.values()
            allowed[instance.id] = access.may_operate_instance(
                actor, access.instance_scope(session, instance.id, tasks))
        if allowed[instance.id]:
            shown.append({"instance_id": instance.id, "business_key": instance.business_key,
                          "process_key": instance.process_key, "task_id": timer.task_id,
                          "bpmn_id": timer.bpmn_id, "due_at": timer.due_at})
    return shown
