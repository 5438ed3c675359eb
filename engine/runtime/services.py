"""Side effects toward other systems: service-task calls become outbox rows.

A BPMN service task never calls anything directly. During a step the script engine hands the
call to `ServiceCalls.record()`, which notes an outbox intent with an idempotency key derived from
the task (so a replayed or retried step yields the same key) and returns at once. After the
step commits, the dispatcher (engine/jobs/outbox.py) delivers the row; the result comes back to
the instance as a message.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import prebuilt
from engine.errors import ScriptError
from engine.models import Outbox

_current: contextvars.ContextVar["ServiceCalls | None"] = contextvars.ContextVar("service_calls", default=None)

KNOWN_OPERATIONS = frozenset({"payment.refund", "payment.clawback", "courier.book_pickup",
                              "shipping.ship", "notify.customer", "notify.staff"})


@dataclass
class Intent:
    operation: str
    idempotency_key: str
    payload: dict
    element: str | None


@dataclass
class ServiceCalls:
    business_key: str
    intents: list[Intent] = field(default_factory=list)

    def record(self, task, operation: str, params: dict) -> dict:
        if operation not in KNOWN_OPERATIONS:
            raise ScriptError(f"unknown service operation '{operation}'")
        key = f"{self.business_key}:{operation}:{task.id}"
        self.intents.append(Intent(operation, key, dict(params), task.task_spec.bpmn_id))
        return {"status": "requested", "idempotency_key": key}


@contextlib.contextmanager
def collecting(business_key: str):
    calls = ServiceCalls(business_key)
    token = _current.set(calls)
    try:
        yield calls
    finally:
        _current.reset(token)


def handle_service_call(task, operation: str, params: dict) -> dict:
    """The script engine's service handler: records the call in the current step."""
    calls = _current.get()
    if calls is None:
        raise ScriptError("service tasks can only run inside an engine verb")
    return calls.record(task, operation, params)


# Prebuilt, on the table: a plain Core insert of the unit's rows (see audit.insert_event).
_INSERT_INTENTS = {
    name: dialect.insert(Outbox.__table__).on_conflict_do_nothing(
        index_elements=["idempotency_key"])
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}
_INSERT_OUTBOX = insert(Outbox.__table__)


def write_intents(session: Session, instance_id: int, business_key: str, intents: list[Intent],
                  at) -> None:
    """Insert outbox rows; a key that already exists (a retried step) is left as it is."""
    if not intents:
        return
    rows = [dict(instance_id=instance_id, business_key=business_key,
                 idempotency_key=i.idempotency_key, operation=i.operation, payload=i.payload,
                 status="pending", attempts=0, next_attempt_at=at, created_at=at)
            for i in intents]
    stmt = _INSERT_INTENTS.get(session.get_bind().dialect.name)
    prebuilt.write(session, _INSERT_OUTBOX if stmt is None else stmt, rows)
