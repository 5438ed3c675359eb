"""The append-only audit log: one event per state change, each chained to the previous one.

Each event is also put in line for the global log (engine/history/global_log.py), whose Merkle
tree and signed checkpoints are what an attacker who can recompute these hashes cannot forge.

Every event records the input that caused it, so that a replay can rebuild the instance from the
definition and the events alone (see engine/history/replay.py). The hash of an event covers all its
fields and the previous event's hash; the application only ever inserts events.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine import prebuilt
from engine.errors import Conflict
from engine.history import global_log
from engine.models import AuditEvent, Instance

GENESIS = "0" * 64
_INSERT = insert(AuditEvent.__table__)
_I = Instance.__table__
_MOVE_HEAD = (update(_I).where(_I.c.id == bindparam("b_id"), _I.c.audit_seq == bindparam("b_seq"))
              .values(audit_seq=bindparam("audit_seq"), audit_head=bindparam("audit_head")))

# Kinds of events whose input changes the workflow state; replay re-applies these.
STATE_CHANGING = frozenset({"started", "task_completed", "message_delivered", "timer_fired",
                            "cancelled", "retried", "migrated", "timer_rescheduled",
                            "signal_received"})


def event_hash(*, instance_id: int, seq: int, at: datetime, actor: str | None, kind: str,
               element: str | None, task_id: str | None, payload: dict, state_hash: str,
               prev_hash: str) -> str:
    """The chained hash of one event (any change of any field changes it)."""
    body = json.dumps([instance_id, seq, at.isoformat(), actor, kind, element, task_id,
                       payload, state_hash, prev_hash],
                      sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def hash_of(event: AuditEvent) -> str:
    """The hash an event row should carry, recomputed from its fields and its prev_hash."""
    return event_hash(instance_id=event.instance_id, seq=event.seq, at=event.at, actor=event.actor,
                      kind=event.kind, element=event.element, task_id=event.task_id,
                      payload=event.payload, state_hash=event.state_hash,
                      prev_hash=event.prev_hash)


def append(session: Session, instance: Instance, *, at: datetime, actor: str | None, kind: str,
           payload: dict, state_hash: str, element: str | None = None,
           task_id: str | None = None) -> dict:
    """Insert the next event of `instance` and advance the instance's chain head.

    The instance row's optimistic version check protects the chain: two writers cannot both
    append event N+1.
    """
    row = next_event(instance, at=at, actor=actor, kind=kind, payload=payload,
                     state_hash=state_hash, element=element, task_id=task_id)
    insert_event(session, row)
    instance.audit_seq = row["seq"]
    instance.audit_head = row["hash"]
    return row


def append_note(session: Session, instance: Instance, *, at: datetime, actor: str | None,
                kind: str, payload: dict, state_hash: str, element: str | None = None,
                task_id: str | None = None) -> dict:
    """Append an event that records a note about an instance (a comment, an attachment)
    without changing its state, so the instance's version stays: a form loaded before a
    colleague's comment can still be completed.

    The chain is protected by the head itself: the head moves only if it is still the one
    read (and two writers cannot insert the same seq); a lost race is a Conflict.
    """
    row = next_event(instance, at=at, actor=actor, kind=kind, payload=payload,
                     state_hash=state_hash, element=element, task_id=task_id)
    insert_event(session, row)
    moved = prebuilt.run(session, _MOVE_HEAD, {
        "b_id": instance.id, "b_seq": instance.audit_seq, "audit_seq": row["seq"],
        "audit_head": row["hash"]})
    if moved.rowcount != 1:
        raise Conflict.lost_race(instance.id)
    set_committed_value(instance, "audit_seq", row["seq"])
    set_committed_value(instance, "audit_head", row["hash"])
    return row


def next_event(instance: Instance, *, at: datetime, actor: str | None, kind: str, payload: dict,
               state_hash: str, element: str | None = None, task_id: str | None = None) -> dict:
    """The row of the event that follows `instance`'s chain head (nothing is written).

    The caller inserts it with `insert_event` and moves the instance's head to it (`seq`,
    `hash`) in the same version-checked write.
    """
    row = dict(instance_id=instance.id, seq=instance.audit_seq + 1, at=at, actor=actor, kind=kind,
               element=element, task_id=task_id, payload=payload, state_hash=state_hash,
               prev_hash=instance.audit_head or GENESIS)
    row["hash"] = event_hash(**row)
    return row


def insert_event(session: Session, row: dict) -> None:
    """Insert one event and queue it for the global log (both sent with the unit's other
    writes: engine.prebuilt.write); a concurrent writer that appended the same seq first is a
    LostRace, raised when they are sent."""
    # A prebuilt insert queued with the unit's other writes (the ORM's would autoflush the
    # instance: a second UPDATE of the row in the same verb). Unique (instance_id, seq): a
    # refusal is a race lost to another writer.
    instance_id = row["instance_id"]
    prebuilt.write(session, _INSERT, row, lost=lambda: Conflict.lost_race(instance_id))
    global_log.queue_event(session, row["instance_id"], row["seq"])


def completion_of(session: Session, task_id: str) -> AuditEvent | None:
    """The event that completed task `task_id` (None: it was never completed)."""
    return session.scalars(select(AuditEvent).where(
        AuditEvent.task_id == task_id, AuditEvent.kind == "task_completed")).first()


def events(session: Session, instance_id: int, *, offset: int = 0, limit: int | None = None
           ) -> list[AuditEvent]:
    query = (select(AuditEvent).where(AuditEvent.instance_id == instance_id)
             .order_by(AuditEvent.seq).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))
