"""The outbox dispatcher: delivers recorded side effects after commit, at least once.

Each due row is handled in its own transaction: the adapter's effect (for the built-in payment
adapter, a ledger row unique on the idempotency key), the row's status and the reply message to
the instance commit together, so a crash at any point leaves the row pending and the retry finds
the effect already done. External adapters receive the idempotency key so that the provider can
deduplicate. After `max_attempts` failures the row becomes an incident an operator can retry,
skip, or fix (edit its payload) and retry.
"""
from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.access import SYSTEM
from engine.errors import Conflict, EngineError, InvalidInput, NotFound
from engine.models import Ledger, Outbox
from engine.runtime import incidents as instance_incidents
from engine.runtime.verbs import Runtime

BACKOFF_BASE_SECONDS = 10


class Reply:
    """A message an adapter sends back to the instance."""

    def __init__(self, name: str, payload: dict):
        self.name, self.payload = name, payload


def _ledger(kind: str, message: str):
    def adapter(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
        existing = session.scalars(select(Ledger).where(Ledger.idempotency_key == row.idempotency_key)).first()
        amount = Decimal(str(row.payload.get("amount", 0))).quantize(Decimal("0.01"))
        if existing is None:
            existing = Ledger(idempotency_key=row.idempotency_key, request_no=row.business_key or "",
                              kind=kind, amount=amount, reference=f"{kind[:3].upper()}-{row.id:08d}",
                              created_at=clock.now())
            session.add(existing)
            session.flush()
        result = {"status": "paid", "amount": float(existing.amount), "reference": existing.reference}
        return result, Reply(message, result)
    return adapter


def _http_payment(kind: str, message: str):
    def adapter(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
        body = json.dumps({"kind": kind, "request_no": row.business_key, **row.payload}).encode()
        request = urllib.request.Request(settings.payment_http_url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Idempotency-Key": row.idempotency_key})
        with urllib.request.urlopen(request, timeout=10) as response:
            result = json.loads(response.read(1024 * 1024))
        return result, Reply(message, result)
    return adapter


def _book_pickup(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    # The built-in courier books the next day's morning slot (a real courier API replaces this).
    start = (clock.now() + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    result = {"slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=3)).isoformat(),
              "booking": f"PK-{row.id:08d}"}
    return result, Reply("pickup_booked", result)


def _ship(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    return {"tracking_no": f"SF{row.id:010d}"}, None


def _notify(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    # Notifications are read by the customer from their timeline; a push/SMS gateway plugs in here.
    return {"delivered": True}, None


# Tests put failing adapters here to simulate outages of the other side.
_ADAPTERS_OVERRIDE: dict = {}


def adapters(settings) -> dict:
    if settings.payment_adapter == "http":
        refund, clawback = _http_payment("refund", "refund_result"), _http_payment("clawback", "clawback_result")
    else:
        refund, clawback = _ledger("refund", "refund_result"), _ledger("clawback", "clawback_result")
    return {"payment.refund": refund, "payment.clawback": clawback,
            "courier.book_pickup": _book_pickup, "shipping.ship": _ship,
            "notify.customer": _notify, "notify.staff": _notify, **_ADAPTERS_OVERRIDE}


def due_ids(session: Session, now: datetime, limit: int = 50) -> list[int]:
    query = (select(Outbox.id).where(Outbox.status == "pending", Outbox.next_attempt_at <= now)
             .order_by(Outbox.next_attempt_at, Outbox.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def deliver(session: Session, runtime: Runtime, outbox_id: int, now: datetime | None = None) -> str:
    """Deliver one outbox row (the caller owns the transaction); returns its new status.

    On failure the caller should roll back and call `record_failure` in a new transaction.
    """
    query = select(Outbox).where(Outbox.id == outbox_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = session.scalars(query).first()
    if row is None or row.status != "pending":
        return row.status if row else "missing"
    adapter = adapters(runtime.settings).get(row.operation)
    if adapter is None:
        raise EngineError(f"no adapter for operation {row.operation}")
    result, reply = adapter(session, row, runtime.settings)
    row.status, row.result, row.done_at = "done", result, now or clock.now()
    row.attempts += 1
    if reply is not None and row.business_key:
        runtime.deliver_message(session, reply.name, row.business_key, reply.payload, SYSTEM,
                                message_id=f"outbox:{row.idempotency_key}")
    session.flush()
    return row.status


def record_failure(session: Session, outbox_id: int, error: str, max_attempts: int,
                   now: datetime | None = None) -> str:
    now = now or clock.now()
    row = session.get(Outbox, outbox_id)
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= max_attempts:
        row.status = "incident"
    else:
        row.next_attempt_at = now + timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** (row.attempts - 1))
    session.flush()
    return row.status


def dispatch_due(sessions, runtime: Runtime, now: datetime | None = None, limit: int = 50) -> dict:
    """Deliver due rows, each in its own transaction; returns counts by outcome."""
    now = now or clock.now()
    counts = {"done": 0, "retry": 0, "incident": 0}
    with sessions.begin() as session:
        ids = due_ids(session, now, limit)
    for outbox_id in ids:
        try:
            # A reply that breaks the instance is recorded as the instance's incident too.
            with instance_incidents.transaction(sessions) as session:
                status = deliver(session, runtime, outbox_id, now)
            counts["done"] += status == "done"
        except Exception as err:   # any adapter failure: retry later, never lose the row
            with sessions.begin() as session:
                status = record_failure(session, outbox_id, f"{type(err).__name__}: {err}",
                                        runtime.settings.outbox_max_attempts, now)
            counts["incident" if status == "incident" else "retry"] += 1
    return counts


def resolve_incident(session: Session, outbox_id: int, action: str, payload: dict | None = None) -> Outbox:
    """Operator action on an incident: 'retry' (optionally with a fixed payload) or 'skip'."""
    row = session.get(Outbox, outbox_id)
    if row is None:
        raise NotFound(f"outbox row {outbox_id} does not exist")
    if row.status != "incident":
        raise Conflict(f"outbox row {outbox_id} is {row.status}, not an incident")
    if action == "skip":
        row.status = "skipped"
    elif action == "retry":
        if payload is not None:
            if not isinstance(payload, dict):
                raise InvalidInput("payload must be an object", field="payload")
            row.payload = payload
        row.status, row.attempts, row.next_attempt_at = "pending", 0, clock.now()
    else:
        raise InvalidInput("action must be 'retry' or 'skip'", field="action")
    session.flush()
    return row


def incidents(session: Session) -> list[dict]:
    """Every side effect in incident, oldest first, as `incident_json`."""
    return [incident_json(row) for row in session.scalars(
        select(Outbox).where(Outbox.status == "incident").order_by(Outbox.id))]


def incident_json(row: Outbox) -> dict:
    return {"kind": "outbox", "id": row.id, "operation": row.operation,
            "business_key": row.business_key, "instance_id": row.instance_id, "status": row.status, "attempts": row.attempts,
            "last_error": row.last_error, "payload": row.payload,
            "idempotency_key": row.idempotency_key, "created_at": row.created_at,
            "next_attempt_at": row.next_attempt_at}



