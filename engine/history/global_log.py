"""The global audit log: every instance event and every audited action outside an instance, each
with a global position, as the leaves of one RFC 6962 Merkle tree (engine/history/merkle.py).

Writers never number anything: an engine verb inserts its event and one `audit_pending` row in
its own transaction (`queue_event`), an action inserts its `audit_action` row and one pending
row (`record`). The one sequencer (`sequence`, run by the checkpoint job before it signs) takes
the committed pending rows in id order, gives each the next position, stores its leaf hash and
deletes the pending row. Why not a position from a database sequence in the writer's
transaction: on PostgreSQL transactions commit in another order than they drew numbers and a
rolled-back one leaves a hole, so a reader could never tell a gap that will fill from one that
never will; a position taken under one lock by every writer would serialise them all. With a
single appender writers wait for nobody (PostgreSQL: the sequencer holds an advisory lock that
writers never take; SQLite: one writer at a time anyway, and the sequencer works in batches).

A leaf is the bytes `leaf_of_event` / `leaf_of_action` make from the row's fields, so that any
change of a field changes the leaf; its hash is merkle.leaf_hash(leaf).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import and_, delete, func, insert, select, text
from sqlalchemy.orm import Session

from engine import clock, db, prebuilt
from engine.history import merkle
from engine.models import AuditAction, AuditEvent, AuditLeaf, AuditPending

EVENT_LEAF = b"aftersales-event/1\n"
ACTION_LEAF = b"aftersales-action/1\n"
BATCH = 2000
# The key of the PostgreSQL advisory lock one sequencer holds while it appends.
_SEQUENCER_LOCK = 6962_22
_QUEUE = insert(AuditPending.__table__)
_P, _L, _E, _A = (m.__table__ for m in (AuditPending, AuditLeaf, AuditEvent, AuditAction))
_SOURCE_COLUMNS = ([c.label(f"e_{c.name}") for c in _E.c]
                   + [c.label(f"a_{c.name}") for c in _A.c])


# ------------------------------------------------------------------ leaves

def canonical(value) -> bytes:
    """The one JSON text of `value` that leaves are made of (sorted keys, no spaces; Decimals
    and datetimes as their text, as the event hash has them)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False).encode()


def instant(value: datetime | str) -> str:
    """A time as leaves have it: ISO-8601 in UTC (a row's datetime, or an export's text)."""
    return (value if isinstance(value, datetime) else clock.parse(value)).astimezone(
        timezone.utc).isoformat()


def event_fields(event) -> dict:
    """The fields of an event that its leaf covers (a row, or the dict of an exported one)."""
    get = event.get if isinstance(event, dict) else lambda name: getattr(event, name)
    return {"instance_id": get("instance_id"), "seq": get("seq"),
            "at": instant(get("at")), "actor": get("actor"),
            "kind": get("kind"), "element": get("element"), "task_id": get("task_id"),
            "payload": get("payload"), "state_hash": get("state_hash"),
            "prev_hash": get("prev_hash"), "hash": get("hash")}


def leaf_of_event(event) -> bytes:
    return EVENT_LEAF + canonical(event_fields(event))


def action_fields(action) -> dict:
    get = action.get if isinstance(action, dict) else lambda name: getattr(action, name)
    return {"id": get("id"), "at": instant(get("at")),
            "actor": get("actor"), "kind": get("kind"), "subject": get("subject"),
            "payload": get("payload")}


def leaf_of_action(action) -> bytes:
    return ACTION_LEAF + canonical(action_fields(action))


def hash_of_event(event) -> str:
    return merkle.leaf_hash(leaf_of_event(event)).hex()


def hash_of_action(action) -> str:
    return merkle.leaf_hash(leaf_of_action(action)).hex()


# ------------------------------------------------------------------ writers

def queue_event(session: Session, instance_id: int, seq: int) -> None:
    """Put the event just inserted in line for the global log (in the writer's transaction)."""
    prebuilt.write(session, _QUEUE, {"instance_id": instance_id, "seq": seq, "action_id": None})


def record(session: Session, kind: str, *, actor: str | None, subject: str | None = None,
           payload: dict | None = None) -> AuditAction:
    """Record an action outside any instance's history (kind e.g. definition_deployed,
    user_created, login_failed, export) and put it in line for the global log; flushes."""
    action = AuditAction(at=clock.now(), actor=actor, kind=kind, subject=subject,
                         payload=payload or {})
    session.add(action)
    session.flush()
    session.connection().execute(_QUEUE, {"instance_id": None, "seq": None,
                                          "action_id": action.id})
    return action


# ---------------------------------------------------------------- sequencer

def sequence(session: Session, *, limit: int | None = None) -> int:
    """Give the pending events and actions their positions, in the order they were queued, at
    most `limit` (default: all, BATCH at a time); returns how many. The caller commits; only one
    sequencer appends at a time (an advisory lock on PostgreSQL, the write lock on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEQUENCER_LOCK})
    else:
        db.begin_writing(session)
    position = size(session)
    done = 0
    while limit is None or done < limit:
        take = BATCH if limit is None else min(BATCH, limit - done)
        pending = session.execute(_joined(_P).order_by(_P.c.id).limit(take)).all()
        if not pending:
            break
        now = clock.now()
        rows = []
        for p in pending:
            content, _kind = _source_of(p)
            if content is None:         # its writer rolled back after queueing: nothing to log
                continue
            rows.append({"position": position, "instance_id": p.instance_id, "seq": p.seq,
                         "action_id": p.action_id, "leaf_hash": content, "sequenced_at": now})
            position += 1
        if rows:
            session.execute(insert(_L), rows)
        session.execute(delete(_P).where(_P.c.id.in_([p.id for p in pending])))
        done += len(pending)
        if len(pending) < take:
            break
    return done


def _joined(table):
    """`table` (the queue or the leaves) with the columns of the event or the action each of
    its rows stands for (e_* and a_*; NULL when that row is gone): one query per batch."""
    return select(table, *_SOURCE_COLUMNS).select_from(
        table.outerjoin(_E, and_(_E.c.instance_id == table.c.instance_id,
                                 _E.c.seq == table.c.seq))
        .outerjoin(_A, _A.c.id == table.c.action_id))


def _source_of(row) -> tuple[str | None, str | None]:
    """(the leaf hash of its present content, its kind) of the event or action a `_joined` row
    stands for; (None, None) when it is gone."""
    m = row._mapping
    if m["a_id"] is not None:
        return hash_of_action({c.name: m[f"a_{c.name}"] for c in _A.c}), m["a_kind"]
    if m["e_id"] is not None:
        return hash_of_event({c.name: m[f"e_{c.name}"] for c in _E.c}), m["e_kind"]
    return None, None


# ------------------------------------------------------------------ readers

def size(session: Session) -> int:
    """How many leaves the log has (positions 0 .. size-1)."""
    top = session.scalar(select(func.max(AuditLeaf.position)))
    return 0 if top is None else top + 1


def pending_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditPending))


def waiting_instances(session: Session, instance_ids: list[int]) -> list[int]:
    """Those of `instance_ids` with an event still waiting for its position."""
    return list(session.scalars(select(AuditPending.instance_id).where(
        AuditPending.instance_id.in_(instance_ids)).distinct()))


def positions_of(session: Session, instance_id: int) -> dict[int, int]:
    """seq -> position of the instance's events that have one."""
    return dict(session.execute(select(AuditLeaf.seq, AuditLeaf.position)
                                .where(AuditLeaf.instance_id == instance_id)).all())


@dataclass
class Leaf:
    """One position of the log as the database has it now: the stored hash, the hash of the
    row's present content (None: the row is gone), and what it is."""
    position: int
    stored: str
    content: str | None
    what: str
    instance_id: int | None = None
    seq: int | None = None


def leaves(session: Session):
    """Every position in order, with its content's hash recomputed from the rows (for verify);
    reads in batches."""
    last = -1
    while True:
        batch = session.execute(_joined(_L).where(_L.c.position > last)
                                .order_by(_L.c.position).limit(BATCH)).all()
        if not batch:
            return
        for b in batch:
            content, kind = _source_of(b)
            what = (f"action {b.action_id}" if b.action_id is not None
                    else f"instance {b.instance_id} event {b.seq}")
            yield Leaf(b.position, b.leaf_hash, content, what + (f" ({kind})" if kind else ""),
                       b.instance_id, b.seq)
        last = batch[-1].position


def unlogged_events(session: Session, limit: int = 10) -> list[tuple[int, int]]:
    """(instance_id, seq) of events that are neither in the log nor waiting for it: rows
    inserted behind the application's back."""
    in_log = select(AuditLeaf.position).where(AuditLeaf.instance_id == AuditEvent.instance_id,
                                              AuditLeaf.seq == AuditEvent.seq).exists()
    waiting = select(AuditPending.id).where(AuditPending.instance_id == AuditEvent.instance_id,
                                            AuditPending.seq == AuditEvent.seq).exists()
    return [tuple(r) for r in session.execute(
        select(AuditEvent.instance_id, AuditEvent.seq).where(~in_log, ~waiting)
        .order_by(AuditEvent.id).limit(limit)).all()]
