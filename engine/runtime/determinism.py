"""Make SpiffWorkflow reproducible: task ids, task timestamps and timer 'now' come from us.

SpiffWorkflow draws task ids from `uuid4()`, stamps tasks with `time.time()` and computes timer
due times from `datetime.now()`. A replay must rebuild exactly the state that was recorded, so
inside a unit of work we substitute:

- task ids: a deterministic sequence seeded per (instance, event seq), see `seeded()`;
- timestamps and timer 'now': `engine.clock.now()`, pinned to the event time.

engine/runtime/unit.py sets both for the length of each unit of work.

`install()` patches the three module attributes once; outside `seeded()` ids stay random. It
also lifts the task iterator's depth limit (engine/runtime/task_depth.py), answers a query for
the one task in a state without a walk (engine/runtime/state_lookup.py), stops the library
gathering details for log records it never makes (engine/runtime/log_extras.py) and copies a new
task's data from its parent's in one pass (engine/runtime/data_copy.py), so that every platform
process that runs workflows runs them with all five patches.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import uuid

from engine import clock
from engine.runtime import data_copy, log_extras, state_lookup, task_depth

_seed: contextvars.ContextVar["_Sequence | None"] = contextvars.ContextVar("uuid_seed", default=None)
_installed = False


class _Sequence:
    __slots__ = ("prefix", "counter")

    def __init__(self, seed: str):
        self.prefix = hashlib.sha256(seed.encode()).digest()
        self.counter = 0

    def next(self) -> uuid.UUID:
        self.counter += 1
        digest = hashlib.sha256(self.prefix + self.counter.to_bytes(8, "big")).digest()
        return uuid.UUID(bytes=digest[:16], version=4)


def _task_uuid() -> uuid.UUID:
    seq = _seed.get()
    return seq.next() if seq is not None else uuid.uuid4()


class _ClockTime:
    """Stands in for the `time` module inside SpiffWorkflow.task."""

    @staticmethod
    def time() -> float:
        return clock.now().timestamp()


@contextlib.contextmanager
def seeded(seed: str):
    """Task ids created inside the block are a pure function of `seed` and their order."""
    token = _seed.set(_Sequence(seed))
    try:
        yield
    finally:
        _seed.reset(token)


def install() -> None:
    """Patch SpiffWorkflow's id, time and timer-clock sources (idempotent)."""
    global _installed
    if _installed:
        return
    from datetime import datetime

    import SpiffWorkflow.task as spiff_task
    from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

    class ClockDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            current = clock.now()
            return current.astimezone(tz) if tz is not None else current

    spiff_task.uuid4 = _task_uuid
    spiff_task.time = _ClockTime
    spiff_timer.datetime = ClockDatetime
    task_depth.install()      # the library's other patch: deep task trees stay visible,
    state_lookup.install()    # a query for the one task in a state needs no walk
    log_extras.install()      # no log details gathered for records never made,
    data_copy.install()       # and a new task's data copied from its parent's in one pass
    _installed = True
