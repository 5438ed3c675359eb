"""Recently used workflows, kept alive between units of work in this process.

Rebuilding a workflow from its stored state costs time in proportion to its age (every task of
its history is deserialised), while the engine's own step on a live workflow costs far less. So
a unit of work that wrote an instance keeps its live `BpmnWorkflow` here, with the projection
and the stored state it wrote (the next unit's "before"), and the next unit on that instance takes it instead of
loading the state.

An entry is only ever used for exactly the stored row it was written as: its key is the
instance's (id, version, definition id, audit head). The version moves with every write, and
the audit head is the hash of the instance's whole history (each event carries the state hash
after it), so a row another process wrote since, a database recreated under the same ids, or a
row moved to another definition can never match a stale entry. The optimistic version check
on write guards the races that remain, as it always did.

A unit's entry is kept only once its transaction commits: until then it waits in the session
(where a later unit of the same transaction may take it), and any rollback, of the transaction
or of a savepoint, drops every waiting entry of that session. An entry is taken out while a unit
uses it, so a failed unit, whose workflow is half changed, never puts it back, and two threads
never share one workflow.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

# Workflows kept per process; a loop of a thousand passes holds a few MB.
SIZE = 128
_PENDING = "workflow_cache.pending"


@dataclass
class Entry:
    """A live workflow as its unit of work left it, the projection written with it and its
    state as stored (engine/runtime/state_store.Stored: what the next write changes)."""

    workflow: object
    projection: object
    stored: object = None


def key_of(instance) -> tuple:
    """What an entry must match: the stored row it was written as."""
    return instance.id, instance.version, instance.definition_id, instance.audit_head


class WorkflowCache:
    """A bounded map of key_of(instance) -> Entry, least recently used dropped first."""

    def __init__(self, size: int = SIZE):
        self.size = size
        self._entries: OrderedDict[int, tuple[tuple, Entry]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, session: Session, instance, compiled) -> Entry | None:
        """Remove and return the entry written as `instance`'s current row (first one waiting in
        `session`'s own transaction, then a committed one) on the specs of `compiled`; None if
        there is none."""
        entry = self._pop(session, key_of(instance))
        if entry is None or entry.workflow.spec is not compiled.spec:   # another database's
            return None
        return entry

    def keep(self, session: Session, instance, entry: Entry) -> None:
        """Keep `entry` as `instance`'s row now stands, once `session`'s transaction commits."""
        session.info.setdefault(_PENDING, {})[instance.id] = (key_of(instance), entry)

    def written(self, session: Session, instance) -> Entry | None:
        """The entry a unit of `session`'s transaction wrote as `instance`'s current row, left
        waiting; None if there is none. What the transaction made of the instance, known
        without reading back what it wrote."""
        kept = session.info.get(_PENDING, {}).get(instance.id)
        return kept[1] if kept is not None and kept[0] == key_of(instance) else None

    def carry(self, session: Session, old_key: tuple, instance) -> None:
        """The row written as `old_key` was rewritten as `instance` without a change of its
        state (a claim, a suspension): what was kept for it goes on to the new row."""
        entry = self._pop(session, old_key)
        if entry is not None:
            self.keep(session, instance, entry)

    def _pop(self, session: Session, key: tuple) -> Entry | None:
        instance_id = key[0]
        waiting = session.info.get(_PENDING)
        if waiting and instance_id in waiting:
            kept = waiting.pop(instance_id)
        else:
            with self._lock:
                kept = self._entries.pop(instance_id, None)
        return kept[1] if kept is not None and kept[0] == key else None

    def _committed(self, session: Session) -> None:
        if session.get_nested_transaction() is not None:    # a savepoint released: not yet
            return
        waiting = session.info.pop(_PENDING, None)
        if not waiting:
            return
        with self._lock:
            for instance_id, kept in waiting.items():
                self._entries[instance_id] = kept
                self._entries.move_to_end(instance_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


cache = WorkflowCache()


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    cache._committed(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, _previous_transaction):
    # Any rollback, a savepoint's included: what its units left waiting may not have been kept.
    session.info.pop(_PENDING, None)


def notes(workflow) -> dict:
    """A dict that lives with a live workflow for as long as this process keeps it: a runtime
    hook notes there what it wrote for the instance's row, so that the next unit of work can
    skip writing the same again. Kept entries follow the rules above, and a hook must still
    check that its note is for the row as it now stands (the event chain's previous head)."""
    return workflow.__dict__.setdefault("_aftersales_notes", {})
