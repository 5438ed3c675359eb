"""The outbox dispatcher: delivers recorded side effects after commit, their effect once.

A pass of `dispatch_due` runs until a claim finds fewer than a batch of due rows:

1. claim: one short transaction takes up to AFTERSALES_OUTBOX_BATCH due rows that no live lease
   holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the single writer is enough) and
   leases them to this claim (`claimed_by`, `lease_until`), so several scheduler processes never
   take the same row. The next batch is claimed as soon as no call waits for a thread.
2. call: adapters that only talk to another system (engine/jobs/adapters.py `Remote`: the http
   adapters, the SMS and WeChat gateways, SMTP) run in a bounded thread pool
   (AFTERSALES_OUTBOX_CONCURRENCY at once, each exchange with AFTERSALES_OUTBOX_TIMEOUT), outside
   any database transaction; what they need from the database is read before, in one read.
3. record: the dispatching thread records the answers as they come back, those that arrived
   together in one transaction (at most RECORD_GROUP), each row in a savepoint of its own that
   first checks the row is still pending and leased to its claim: done with its result and the
   reply to the instance (message_buffer.deliver), or a retry with backoff, or, after
   `max_attempts`, an incident an operator can retry, skip, or fix (edit its payload) and
   retry. A failing row undoes only its savepoint; one commit (one fsync on SQLite) serves the
   group, which is what lets a single dispatcher record hundreds of answers per second. On
   PostgreSQL each row is recorded in a transaction of its own, without savepoints, which
   begins only when its writes go out: in a group's transaction the backend would sit idle,
   holding the rows' locks, while the next row is computed.
   Built-in adapters that write with the session (the payment ledger: engine/payments.py,
   staff notices) run inside their row's savepoint, so their effect, the row's status and the
   reply commit together.

The effect happens once: the provider gets the idempotency key and deduplicates by it, a row is
recorded done once (the lease check, the record's first write, which takes the row's lock:
nothing is locked while the record is computed), and the reply counts once (its message id).
A crash anywhere before the record leaves the row pending under its lease; once the lease
(`lease_for`: the batch's calls at the pool's width, each up to its timeout) runs out another
dispatcher delivers it again and the provider answers the same. A dispatcher that outlived its
lease finds the row taken and drops its answer.

Which adapter carries an operation (builtin, http, off) and how its result comes back is the
operation's contract (engine/integrations.py). A result answered by the adapter and the same
result called back by the other side share one message id, so the instance hears it once; a row
whose result already arrived by callback is done without calling anyone.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from engine import clock, integrations, message_buffer, money, payments, prebuilt
from engine.access import SYSTEM, Actor
from engine.errors import Conflict, EngineError, InvalidInput, NotFound, StepFailed
from engine.history import audit, global_log
from engine.jobs.adapters import BUILTIN, HTTP, Remote, Reply, off
from engine.models import BufferedMessage, Instance, Outbox, ReceivedMessage
from engine.runtime import incidents as instance_incidents
from engine.runtime import serialization
from engine.runtime.verbs import Runtime

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 10
# Time for recording a batch's answers, beyond the calls themselves.
LEASE_MARGIN = timedelta(seconds=30)
# What a row's new status counts as in the answer of dispatch_due.
COUNTED = {"done": "done", "pending": "retry", "incident": "incident"}
# Answers recorded in one transaction at most (each in its own savepoint), and for how long
# at most the group's transaction goes on taking more.
RECORD_GROUP = 50
RECORD_BUDGET = 0.05

# Tests put failing adapters here to simulate outages of the other side.
_ADAPTERS_OVERRIDE: dict = {}


def adapters(settings) -> dict:
    """Operation -> the adapter `settings` choose for it (engine.integrations.adapter_kind)."""
    chosen = {}
    for operation in integrations.CONTRACTS:
        kind = integrations.adapter_kind(settings, operation)
        chosen[operation] = off if kind == "off" else (HTTP if kind == "http" else BUILTIN)[
            operation]
    return {**chosen, **_ADAPTERS_OVERRIDE}


def lease_for(settings, batch: int) -> timedelta:
    """How long a claimed batch of `batch` rows is held: every call of the batch at the pool's
    width, behind the calls already running, each up to its timeout, and the margin for the
    records."""
    rounds = math.ceil(batch / settings.outbox_concurrency) + 1
    return timedelta(seconds=settings.outbox_timeout * rounds) + LEASE_MARGIN


_OUTBOX = Outbox.__table__
# The claim: the due rows no live lease holds, oldest due first, leased in one statement.
_CLAIM = (update(_OUTBOX)
          .where(_OUTBOX.c.id.in_(
              select(_OUTBOX.c.id)
              .where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= bindparam("now"),
                     or_(_OUTBOX.c.lease_until.is_(None),
                         _OUTBOX.c.lease_until < bindparam("now")))
              .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id).limit(bindparam("limit"))
              .with_for_update(skip_locked=True).scalar_subquery()))
          .values(claimed_by=bindparam("b_claim"), claimed_at=bindparam("now"),
                  lease_until=bindparam("b_lease_until"))
          .returning(*_OUTBOX.c))


def claim_due(session: Session, now: datetime, claim: str, lease: timedelta,
              limit: int) -> list[Outbox]:
    """Lease up to `limit` due rows that no live lease holds to `claim`, oldest due first;
    returns them as objects of no session, usable after the transaction. One statement, which
    on PostgreSQL commits by itself (engine.prebuilt.by_itself), so that no lock is held while
    Python runs."""
    rows = prebuilt.by_itself(session, _CLAIM, {"now": now, "limit": limit, "b_claim": claim,
                                                "b_lease_until": now + lease})
    return sorted((Outbox(**row._asdict()) for row in rows),
                  key=lambda row: (row.next_attempt_at, row.id))


class Taken(Exception):
    """When a record's writes went out, its row was no longer pending and leased to its claim
    (another dispatcher recorded it): nothing of the record is kept."""


# The first write of a row's record: it checks the row is still pending (and leased to the
# claim) and takes the row's lock to the commit; SET changes nothing.
_STILL_PENDING = (update(_OUTBOX)
                  .where(Outbox.id == bindparam("b_id"), Outbox.status == "pending")
                  .values(lease_until=Outbox.lease_until))
_STILL_LEASED = _STILL_PENDING.where(Outbox.claimed_by == bindparam("b_claim"))


def _leased(session: Session, outbox_id: int, claim: str | None) -> Outbox | None:
    """Row `outbox_id` if it is pending and (given a claim) still leased to it, as committed:
    nothing is locked while its record is computed (see `_still_leased`)."""
    row = session.scalars(select(Outbox).where(Outbox.id == outbox_id)
                          .execution_options(populate_existing=True)).first()
    if row is None or row.status != "pending" or (claim is not None and row.claimed_by != claim):
        return None
    return row


def _still_leased(session: Session, row: Outbox, claim: str | None) -> None:
    """Before a record writes anything: queue (engine.prebuilt.write) the check that `row` is
    still pending and leased to `claim`, which raises Taken when it goes out if it is not, and
    holds the row's lock to the commit, so that a row is recorded once. Reads the record makes
    after it send it, and begin the transaction there."""
    if claim is None:
        prebuilt.write(session, _STILL_PENDING, {"b_id": row.id}, rows=1, lost=Taken)
    else:
        prebuilt.write(session, _STILL_LEASED, {"b_id": row.id, "b_claim": claim}, rows=1,
                       lost=Taken)


# `deliver` without an answer: the adapter runs in full.
UNCALLED = object()


def deliver(session: Session, runtime: Runtime, outbox_id: int, now: datetime | None = None,
            *, claim: str | None = None, answer=UNCALLED) -> str:
    """Deliver one outbox row in the caller's transaction; returns its new status ("missing",
    or the status it has, when it is not pending or, given `claim`, no longer leased to it).

    With `answer` (a Remote adapter's, called beforehand) only its record is written; without,
    the adapter runs here in full. On failure the caller should roll back (the transaction or
    the row's savepoint) and call `record_failure`. A reply the instance cannot take is not a
    failure of the row (see `_reply`).
    """
    row = _leased(session, outbox_id, claim)
    if row is None:
        current = session.get(Outbox, outbox_id)
        return "missing" if current is None else ("taken" if current.status == "pending"
                                                  else current.status)
    adapter = adapters(runtime.settings).get(row.operation)
    if adapter is None:
        raise EngineError(f"no adapter for operation {row.operation}")
    now = now or clock.now()
    arrived = _result_arrived(session, row)
    _still_leased(session, row, claim)
    if arrived:
        # The other side's callback came first: the effect happened, nobody is called again.
        prebuilt.change_queued(session, row, {"status": "done", "done_at": now,
                                              "result": {"result": "arrived by callback"},
                                              "lease_until": None})
        return row.status
    if answer is not UNCALLED:
        result, reply = adapter.record(session, row, answer, runtime.settings)
    else:
        result, reply = adapter(session, row, runtime.settings)
    if row.status == "incident":
        # The adapter found the answer cannot be taken as it is (a payment provider naming
        # another amount): an operator decides; nothing is retried on its own.
        row.result, row.lease_until = result, None
        session.flush()
        return row.status
    if reply is not None and row.business_key:
        _reply(session, runtime, row, reply)
    prebuilt.change_queued(session, row, {"status": "done", "result": result, "done_at": now,
                                          "lease_until": None, "attempts": row.attempts + 1})
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
                   now: datetime | None = None, *, claim: str | None = None) -> str:
    """Count a failed attempt of row `outbox_id`: a retry with backoff, or an incident after
    `max_attempts`; returns its status ("taken" when, given `claim`, its lease is no longer
    that claim's: the other dispatcher records the row)."""
    now = now or clock.now()
    row = _leased(session, outbox_id, claim)
    if row is None:
        return "taken"
    _still_leased(session, row, claim)
    attempts = row.attempts + 1
    changes = {"attempts": attempts, "last_error": error[:2000], "lease_until": None}
    if attempts >= max_attempts:
        changes["status"] = "incident"
    else:
        changes["next_attempt_at"] = now + timedelta(
            seconds=BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
    prebuilt.change_queued(session, row, changes)
    return row.status


def dispatch_due(sessions, runtime: Runtime, now: datetime | None = None,
                 limit: int | None = None, worker: str | None = None) -> dict:
    """Deliver every due row, a batch (`limit` rows, AFTERSALES_OUTBOX_BATCH by default) at a
    time, until a claim finds fewer than a batch; returns counts by outcome {done, retry,
    incident}. `worker` names this dispatcher in the rows it claims (host:pid by default).

    The pool's threads only call providers; this thread claims, and records the answers as
    they come (`_record_group`). The next batch is claimed as soon as no call waits for a
    thread, so the pool never idles behind a batch's slowest call."""
    settings = runtime.settings
    batch = limit or settings.outbox_batch
    lease = lease_for(settings, batch)
    counts = {"done": 0, "retry": 0, "incident": 0}
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    with ThreadPoolExecutor(max_workers=settings.outbox_concurrency,
                            thread_name_prefix="outbox") as pool:
        calls: dict[Future, Outbox] = {}
        ready: list[tuple[Outbox, object]] = []   # (row, its answer, UNCALLED or the error)
        more = True
        while more or calls or ready:
            if more and len(calls) <= settings.outbox_concurrency:
                claim = f"{worker}:{uuid.uuid4().hex[:12]}"
                with sessions.begin() as session:
                    rows = claim_due(session, now or clock.now(), claim, lease, batch)
                more = len(rows) == batch
                ready += _start(sessions, runtime, pool, rows, calls)
            if not ready and calls:
                finished, _ = wait(calls, return_when=FIRST_COMPLETED)
                ready += [(calls.pop(f), f.exception() or f.result()) for f in finished]
            for status in _record_group(sessions, runtime, ready, now):
                if status in COUNTED:
                    counts[COUNTED[status]] += 1
    return counts


def _start(sessions, runtime: Runtime, pool: ThreadPoolExecutor, rows: list[Outbox],
           calls: dict) -> list[tuple[Outbox, object]]:
    """Submit the calls of a claimed batch's Remote adapters to the pool (into `calls`); what
    they need is read first, in one transaction. Returns the rows to record without a call:
    local adapters, results that already arrived (both UNCALLED), plans that failed (the
    error)."""
    settings = runtime.settings
    chosen = adapters(settings)
    remote = [row for row in rows if isinstance(chosen.get(row.operation), Remote)]
    calling = {row.id for row in remote}
    uncalled = [(row, UNCALLED) for row in rows if row.id not in calling]
    if not remote:
        return uncalled
    with sessions.begin() as session:
        for row in remote:
            try:
                if _result_arrived(session, row):
                    uncalled.append((row, UNCALLED))      # recorded done, nobody is called
                    continue
                plan = chosen[row.operation].prepare(session, row, settings)
            except Exception as err:
                uncalled.append((row, err))
                continue
            calls[pool.submit(chosen[row.operation].call, plan, row, settings)] = row
    return uncalled


def _record_group(sessions, runtime: Runtime, ready: list[tuple[Outbox, object]],
                  now: datetime | None) -> list[str]:
    """Record outcomes from the front of `ready` (taking them off it) in one transaction, each
    row in a savepoint of its own that checks the row's lease (`deliver`, `record_failure`),
    so one row's failure undoes only its own record; returns each row's new status.

    Grouping the answers that arrived together pays one commit (on SQLite one fsync) for all
    of them; a group ends after RECORD_GROUP rows or RECORD_BUDGET, so that the write lock (on
    SQLite) is not held long for the API's writers. If the group cannot commit, each of its
    rows is recorded alone. On PostgreSQL every row is recorded alone (see the module
    docstring)."""
    if not ready:
        return []
    alone = sessions.kw["bind"].dialect.name == "postgresql"
    group: list[tuple[Outbox, object]] = []
    if not alone:
        try:
            with sessions.begin() as session:
                statuses, started = [], time.monotonic()
                while ready and len(group) < RECORD_GROUP and \
                        time.monotonic() - started < RECORD_BUDGET:
                    group.append(ready.pop(0))
                    statuses.append(_record_one(lambda: _savepoint(session), runtime,
                                                *group[-1], now))
                return statuses
        except Exception:
            log.exception("a group of %d outbox records failed; recording them one by one",
                          len(group))
    else:
        group, ready[:] = list(ready), []
    statuses = []
    for row, outcome in group:
        try:
            statuses.append(instance_incidents.again_if_lost(
                lambda: _record_one(sessions.begin, runtime, row, outcome, now)))
        except Exception:          # the database itself fails: the lease brings the row back
            log.exception("outbox row %s could not be recorded", row.id)
            statuses.append("lost")
    return statuses


@contextlib.contextmanager
def _savepoint(session: Session):
    with session.begin_nested():
        yield session


def _record_one(begin, runtime: Runtime, row: Outbox, outcome, now: datetime | None) -> str:
    """Row `row`'s outcome (an answer, UNCALLED, or the error of its call) under its claim:
    delivered in `begin()` (which yields a session: a savepoint of the group's transaction, or
    a transaction of its own, with no savepoint to begin it before the record is computed),
    else its failure recorded in another."""
    claim = row.claimed_by
    if not isinstance(outcome, Exception):
        try:
            with begin() as session:
                return deliver(session, runtime, row.id, now, claim=claim, answer=outcome)
        except Taken:
            return "taken"
        except Exception as err:   # any adapter failure: retry later, never lose the row
            outcome = err
    log.warning("outbox row %s (%s) failed: %s: %s", row.id, row.operation,
                type(outcome).__name__, outcome)
    try:
        with begin() as session:
            return record_failure(session, row.id, f"{type(outcome).__name__}: {outcome}",
                                  runtime.settings.outbox_max_attempts, now, claim=claim)
    except Taken:
        return "taken"


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
    """The operator's action as an event of the row's instance or, for a row of no instance
    (or one archived since), as an action of the global log."""
    change = {"outbox_id": row.id, "operation": row.operation, "action": action,
              "idempotency_key": row.idempotency_key}
    if row.payload != before:
        change.update(before=before, after=row.payload)
    instance = session.get(Instance, row.instance_id) if row.instance_id else None
    if instance is None:
        global_log.record(session, "outbox_incident_resolved", actor=actor.name,
                          subject=f"outbox:{row.id}", payload=change)
        return
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



