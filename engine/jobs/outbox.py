"""The outbox dispatcher: delivers recorded side effects after commit, at least once.

Each due row is handled in its own transaction: the adapter's effect (for a payment, its ledger
row settled: engine/payments.py), the row's status and the reply message to the instance commit
together, so a crash at any point leaves the row pending and the retry finds
the effect already done. External adapters receive the idempotency key so that the provider can
deduplicate. After `max_attempts` failures the row becomes an incident an operator can retry,
skip, or fix (edit its payload) and retry.

Which adapter carries an operation (builtin, http, off) and how its result comes back is the
operation's contract (engine/integrations.py). A result answered by the adapter and the same
result called back by the other side share one message id, so the instance hears it once; a row
whose result already arrived by callback is done without calling anyone.
"""
from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import (clock, integrations, message_buffer, money, notifications, payments,
                    signatures, staff_digest)
from engine.access import SYSTEM, Actor
from engine.errors import Conflict, EngineError, InvalidInput, NotFound, StepFailed
from engine.history import audit
from engine.models import BufferedMessage, Instance, Outbox, ReceivedMessage
from engine.runtime import incidents as instance_incidents
from engine.runtime import serialization
from engine.runtime.verbs import Runtime

BACKOFF_BASE_SECONDS = 10


class Reply:
    """A message an adapter sends back to the instance (`message_id`: how the instance knows
    it again; the outbox row's key when None)."""

    def __init__(self, name: str, payload: dict, message_id: str | None = None):
        self.name, self.payload, self.message_id = name, payload, message_id


def _settled(session: Session, row: Outbox, kind: str, status: str, *, reference=None,
             provider_status=None) -> tuple[dict, Reply]:
    entry = payments.settle(session, row.idempotency_key, status, reference=reference,
                            provider_status=provider_status)
    result = payments.result_of(entry)
    return result, Reply(payments.RESULT_MESSAGES[kind], result,
                         payments.reply_id(row.idempotency_key))


def _builtin_payment(kind: str):
    """The demo's payment provider: pays at once what the ledger holds (a real provider is
    the HTTP adapter below)."""
    def adapter(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
        return _settled(session, row, kind, "paid", reference=f"{kind[:3].upper()}-{row.id:08d}")
    return adapter


def _http_payment(kind: str):
    """A payment provider over HTTP: POST {kind, request_no, idempotency_key, amount} with the
    Idempotency-Key header. Its answer {status: paid|failed, reference} settles the payment;
    any other status (accepted, processing) leaves it pending until the provider's callback
    (engine.payments.receive_result)."""
    def adapter(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
        answer = _post_json(settings, integrations.http_url(settings, row.operation), {
            "kind": kind, "request_no": row.business_key, "idempotency_key": row.idempotency_key,
            "amount": money.text(row.payload["amount"])}, row.idempotency_key)
        status = answer.get("status") if isinstance(answer, dict) else None
        reference = answer.get("reference") if isinstance(answer, dict) else None
        reference = reference if isinstance(reference, str) else None
        if status in payments.SETTLED:
            return _settled(session, row, kind, status, reference=reference,
                            provider_status=str(status))
        payments.note_provider(session, row.idempotency_key, reference=reference,
                               provider_status=str(status))
        return answer if isinstance(answer, dict) else {"answer": answer}, None
    return adapter


def _post_json(settings, url: str, body: dict, idempotency_key: str):
    """POST `body` as JSON with the Idempotency-Key header, signed with the platform's
    outgoing secret (engine/signatures.py); the provider's JSON answer."""
    raw = json.dumps(body).encode()
    request = urllib.request.Request(url, data=raw, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Idempotency-Key": idempotency_key,
                                              **signatures.outgoing_headers(settings, raw)})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read(1024 * 1024))


# What a provider answers when it takes a call and sends the result later, by callback.
ACCEPTED = frozenset({"accepted", "processing", "queued"})


def _http_call(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    """Any other operation over HTTP: POST {operation, request_no, idempotency_key, payload}.
    An answer {status: accepted} means the result comes later as the contract's callback
    message (naming `idempotency_key`); any other object is the result itself."""
    answer = _post_json(settings, integrations.http_url(settings, row.operation), {
        "operation": row.operation, "request_no": row.business_key,
        "idempotency_key": row.idempotency_key, "payload": row.payload}, row.idempotency_key)
    if not isinstance(answer, dict):
        raise ValueError(f"the provider answered {type(answer).__name__}, not a JSON object")
    result = integrations.contract(row.operation).result
    if answer.get("status") in ACCEPTED or result is None:
        return answer, None
    return answer, Reply(result, answer)


def _off(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    # Nothing is called: another system acts on its own and calls back with the result.
    return {"adapter": "off"}, None


def _book_pickup(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    # The built-in courier books the next day's morning slot (a real courier API replaces this).
    start = (clock.now() + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    result = {"slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=3)).isoformat(),
              "booking": f"PK-{row.id:08d}"}
    return result, Reply("pickup_booked", result)


def _ship(session: Session, row: Outbox, settings) -> tuple[dict, Reply | None]:
    return {"tracking_no": f"SF{row.id:010d}"}, None


# Tests put failing adapters here to simulate outages of the other side.
_ADAPTERS_OVERRIDE: dict = {}


_BUILTIN = {"payment.refund": _builtin_payment("refund"),
            "payment.clawback": _builtin_payment("clawback"),
            "courier.book_pickup": _book_pickup, "shipping.ship": _ship,
            # Email over SMTP, SMS and WeChat gateways (engine/notifications.py); staff
            # notices wait for their department's digest (engine/staff_digest.py).
            "notify.customer": notifications.notify_customer, "notify.staff": staff_digest.notice}
_HTTP = {"payment.refund": _http_payment("refund"), "payment.clawback": _http_payment("clawback"),
         "courier.book_pickup": _http_call, "shipping.ship": _http_call,
         "notify.customer": _http_call, "notify.staff": _http_call}


def adapters(settings) -> dict:
    """Operation -> the adapter `settings` choose for it (engine.integrations.adapter_kind)."""
    chosen = {}
    for operation in integrations.CONTRACTS:
        kind = integrations.adapter_kind(settings, operation)
        chosen[operation] = _off if kind == "off" else (_HTTP if kind == "http" else _BUILTIN)[
            operation]
    return {**chosen, **_ADAPTERS_OVERRIDE}


def due_ids(session: Session, now: datetime, limit: int = 50) -> list[int]:
    query = (select(Outbox.id).where(Outbox.status == "pending", Outbox.next_attempt_at <= now)
             .order_by(Outbox.next_attempt_at, Outbox.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def deliver(session: Session, runtime: Runtime, outbox_id: int, now: datetime | None = None) -> str:
    """Deliver one outbox row (the caller owns the transaction); returns its new status.

    On failure the caller should roll back and call `record_failure` in a new transaction.
    A reply the instance cannot take is not a failure of the row (see `_reply`).
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
    if _result_arrived(session, row):
        # The other side's callback came first: the effect happened, nobody is called again.
        row.status, row.result, row.done_at = "done", {"result": "arrived by callback"}, \
            now or clock.now()
        return row.status
    result, reply = adapter(session, row, runtime.settings)
    row.status, row.result, row.done_at = "done", result, now or clock.now()
    row.attempts += 1
    if reply is not None and row.business_key:
        _reply(session, runtime, row, reply)
    session.flush()
    return row.status


def _result_arrived(session: Session, row: Outbox) -> bool:
    contract = integrations.contract(row.operation)
    if contract is None or contract.result is None:
        return False
    message_id = integrations.result_id(row.operation, row.idempotency_key)
    return session.get(ReceivedMessage, message_id) is not None or session.scalar(
        select(BufferedMessage.id).where(BufferedMessage.message_id == message_id)) is not None


def _reply(session: Session, runtime: Runtime, row: Outbox, reply: Reply) -> None:
    """Send the other side's answer to the instance, under the call's result id: the same
    result from both sides counts once, and one the process does not wait for yet is kept
    (engine/message_buffer.py). An answer the instance cannot take (its payload breaks a
    script) is the instance's incident, retried there with the answer as its input: the effect
    happened, so the row is done and is not sent again."""
    message_id = reply.message_id or integrations.result_id(row.operation, row.idempotency_key)
    try:
        with session.begin_nested():
            message_buffer.deliver(session, runtime, reply.name, row.business_key,
                                   reply.payload, SYSTEM, message_id=message_id)
    except StepFailed as failed:
        instance_incidents.record(session, failed)


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
            with sessions.begin() as session:
                status = deliver(session, runtime, outbox_id, now)
            counts["done"] += status == "done"
        except Exception as err:   # any adapter failure: retry later, never lose the row
            with sessions.begin() as session:
                status = record_failure(session, outbox_id, f"{type(err).__name__}: {err}",
                                        runtime.settings.outbox_max_attempts, now)
            counts["incident" if status == "incident" else "retry"] += 1
    return counts


def resolve_incident(session: Session, outbox_id: int, action: str, actor: Actor,
                     payload: dict | None = None) -> Outbox:
    """Operator action on an incident: 'retry' (optionally with a fixed payload) or 'skip'.

    The action is an audit event of the row's instance with its actor and, for a changed
    payload, the payload before and after. A payment's amount is the ledger's and cannot be
    edited here (a different amount is a new approval in the process). Raises NotFound,
    Conflict (not an incident), InvalidInput naming the field."""
    row = session.get(Outbox, outbox_id)
    if row is None:
        raise NotFound(f"outbox row {outbox_id} does not exist")
    if row.status != "incident":
        raise Conflict(f"outbox row {outbox_id} is {row.status}, not an incident")
    before = row.payload
    if action == "skip":
        row.status = "skipped"
    elif action == "retry":
        if payload is not None:
            if not isinstance(payload, dict):
                raise InvalidInput("payload must be an object", field="payload")
            if row.operation in payments.KINDS and \
                    money.amount(payload.get("amount"), "payload.amount") != before.get("amount"):
                raise InvalidInput("a payment's amount is held in the ledger and cannot be "
                                   "edited here: skip this payment and approve another amount",
                                   field="payload.amount")
            row.payload = payload
        row.status, row.attempts, row.next_attempt_at = "pending", 0, clock.now()
    else:
        raise InvalidInput("action must be 'retry' or 'skip'", field="action")
    _audit(session, row, actor, action, before)
    session.flush()
    return row


def _audit(session: Session, row: Outbox, actor: Actor, action: str, before: dict) -> None:
    instance = session.get(Instance, row.instance_id) if row.instance_id else None
    if instance is None:
        return
    change = {"outbox_id": row.id, "operation": row.operation, "action": action,
              "idempotency_key": row.idempotency_key}
    if row.payload != before:
        change.update(before=before, after=row.payload)
    audit.append_note(session, instance, at=clock.now(), actor=actor.name,
                      kind="outbox_incident_resolved", payload=change,
                      state_hash=serialization.state_hash(instance.state))


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



