"""Messages that arrive before their process waits for them: kept, then delivered in order.

A courier may report `picked_up` before the platform's own booking answer is in, a customer may
report the return shipment before the refund is paid. `deliver` gives a message to the instances
waiting for it as `Runtime.deliver_message` does; when none waits but the correlation names a
known request, the message is kept (`BufferedMessage`, an audit note `message_buffered` on the
instance) for its time to live — the message schema's `x-buffer-ttl` (an ISO duration, PT0S: never
kept) in the instance's version, else `Settings.message_buffer_ttl` — once its payload passed
that version's schema; a message the version never waits for is not kept. `Drain`, a runtime hook,
delivers kept messages as soon as a unit of work leaves the instance waiting for them, oldest
first, each in a savepoint of its own (one that fails is the instance's incident, as a message
from outside would be). `expire` marks the ones whose time ran out (an audit note
`message_expired`); supervisors list them (`listing`). Unknown requests stay NotFound.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine import access, clock, instances, json_safety, prebuilt
from engine.access import Actor
from engine.definitions import catalog, messages
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound, StepFailed
from engine.history import audit
from engine.models import FINISHED, BufferedMessage, Instance, MessageSubscription
from engine.runtime import incidents, projection, serialization

STATUSES = ("pending", "delivered", "expired", "refused")


@dataclass(frozen=True)
class Buffered:
    """What `deliver` answers for a message it kept."""

    id: int
    business_key: str
    expires_at: datetime


_KEPT = prebuilt.rows_of(BufferedMessage).where(
    BufferedMessage.message_id == bindparam("message_id"))


def deliver(session: Session, runtime, name: str, correlation: str, payload: dict,
            actor: Actor, message_id: str | None = None,
            before_write=None) -> list[Instance] | Buffered:
    """Deliver a message, or keep it when its known request does not wait for it yet; returns
    the instances it went to, or the `Buffered` entry. A message id kept before answers that
    entry again. `before_write` goes to Runtime.deliver_message. Raises NotFound (unknown
    request, or a message its version never keeps), InvalidInput naming the field."""
    if message_id is not None:
        kept = prebuilt.one(session, BufferedMessage, _KEPT, {"message_id": message_id})
        if kept is not None:
            return Buffered(kept.id, kept.business_key, kept.expires_at)
    try:
        return runtime.deliver_message(session, name, correlation, payload, actor,
                                       message_id=message_id, before_write=before_write)
    except NotFound:
        instance_id = instances.id_of_business_key(session, correlation)
        if not isinstance(correlation, str) or instance_id is None:
            raise
        instance = session.get(Instance, instance_id)
        schemas = catalog.compiled(session, instance.definition_id).messages
        if instance.status in FINISHED or (schemas and name not in schemas):
            raise                            # over, or a message its version never waits for
        ttl = messages.buffer_ttl(schemas.get(name), runtime.settings.message_buffer_ttl)
        if ttl <= timedelta(0):
            raise
        messages.check_payload(schemas, name, payload)
        return _keep(session, instance, name, payload, actor, message_id, ttl)


def _keep(session, instance, name, payload, actor, message_id, ttl) -> Buffered:
    json_safety.check({"payload": payload})
    now = clock.now()
    row = BufferedMessage(business_key=instance.business_key, instance_id=instance.id, name=name,
                          payload=payload, message_id=message_id, actor=actor.name,
                          actor_role=actor.role, received_at=now, expires_at=now + ttl,
                          status="pending")
    session.add(row)
    session.flush()
    _note(session, instance, "message_buffered", actor.name, row)
    return Buffered(row.id, row.business_key, row.expires_at)


def _note(session, instance, kind, actor, row) -> None:
    audit.append_note(session, instance, at=clock.now(), actor=actor, kind=kind,
                      payload={"buffered_id": row.id, "name": row.name, "payload": row.payload,
                               "message_id": row.message_id,
                               "expires_at": row.expires_at.isoformat()},
                      state_hash=serialization.state_hash(instance.state), element=row.name)


class Drain:
    """The runtime hook that delivers kept messages once their instance waits for them."""

    def __init__(self, runtime):
        self.runtime = runtime
        self._busy = False

    def __call__(self, session: Session, instance: Instance, workflow, event) -> None:
        if self._busy:                          # a delivery's own unit of work
            return
        # An instance that waits for no message now can take none; one kept for another
        # instance of the key was not deliverable before this unit either, and is tried when
        # that instance changes. (No workflow: a suspension or resumption, which is tried.)
        if workflow is not None and not projection.waits_for_a_message(workflow):
            return
        self._busy = True
        tried: set[int] = set()
        try:
            while (row := _next_deliverable(session, instance.business_key, tried)) is not None:
                tried.add(row.id)
                self._deliver(session, row)
        finally:
            self._busy = False

    def _deliver(self, session: Session, row: BufferedMessage) -> None:
        row.status, row.settled_at = "delivered", clock.now()
        actor = Actor(row.actor, row.actor_role)
        try:
            with session.begin_nested():
                self.runtime.deliver_message(session, row.name, row.business_key, row.payload,
                                             actor, message_id=row.message_id)
        except StepFailed as failed:         # the instance's incident, retried from there
            incidents.record(session, failed)
        except InvalidInput:                 # the waiting version's schema refuses it
            row.status = "refused"
        except (NotFound, Conflict):         # not waiting after all (suspended, in error)
            row.status, row.settled_at = "pending", None


# Asked after every unit of work, and almost always empty: prebuilt statements, ids only.
_KEPT_FOR = (select(BufferedMessage.id)
             .where(BufferedMessage.business_key == bindparam("key"),
                    BufferedMessage.status == "pending",
                    BufferedMessage.expires_at > bindparam("now"))
             .order_by(BufferedMessage.id))
_DELIVERABLE = _KEPT_FOR.where(BufferedMessage.name.in_(
    select(MessageSubscription.name).where(MessageSubscription.correlation == bindparam("key"))))


def _next_deliverable(session: Session, business_key: str, tried) -> BufferedMessage | None:
    # Core, without the ORM's autoflush: kept rows are flushed as they are kept, and one marked
    # delivered but not flushed yet is in `tried`. Whether any is kept is asked ahead of the
    # unit's queued writes, which keep none (so that on PostgreSQL it begins no transaction);
    # only then are they sent, with the subscriptions the unit wrote.
    params = {"key": business_key, "now": clock.now()}
    if not tried and prebuilt.ahead(session, _KEPT_FOR, params).first() is None:
        return None
    ids = prebuilt.run(session, _DELIVERABLE, params).scalars()
    found = next((id_ for id_ in ids if id_ not in tried), None)
    return session.get(BufferedMessage, found) if found is not None else None


def expire(sessions, now: datetime | None = None, limit: int = 500) -> int:
    """Mark kept messages whose time ran out as expired, each noted on its instance; returns
    how many."""
    now = now or clock.now()
    with sessions.begin() as session:
        rows = list(session.scalars(select(BufferedMessage).where(
            BufferedMessage.status == "pending", BufferedMessage.expires_at <= now)
            .order_by(BufferedMessage.id).limit(limit)))
        for row in rows:
            row.status, row.settled_at = "expired", now
            instance = session.get(Instance, row.instance_id) if row.instance_id else None
            if instance is not None:
                _note(session, instance, "message_expired", "system", row)
    return len(rows)


def listing(session: Session, actor: Actor, status: str = "expired") -> list[dict]:
    """Kept messages of `status`, newest first, of the instances `actor` may read."""
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    rows = session.scalars(select(BufferedMessage).where(BufferedMessage.status == status)
                           .order_by(BufferedMessage.id.desc()).limit(500))
    return [buffered_json(row) for row in rows
            if actor.role in access.INSTANCE_READ_ALL or _readable(session, actor, row)]


def _readable(session, actor, row) -> bool:
    try:
        instances.readable(session, actor, row.instance_id)
    except (NotFound, Forbidden):
        return False
    return True


def buffered_json(row: BufferedMessage) -> dict:
    return {"id": row.id, "business_key": row.business_key, "instance_id": row.instance_id,
            "name": row.name, "payload": row.payload, "message_id": row.message_id,
            "actor": row.actor, "received_at": row.received_at, "expires_at": row.expires_at,
            "status": row.status, "settled_at": row.settled_at}
