"""Reads about process instances for the people who look at them: one instance as the API
and the pages show it (with its token positions), its history page by page, searches, and
which instances stand on a version of a process.

Every read of one instance takes the actor who reads it and answers only if the actor may
(engine.access.may_read_instance: staff and supervisors through a task of it they may see);
`readable` is that check for callers that read an instance elsewhere (replay, exports). Nothing
here changes an instance (the verbs in engine/runtime do); workflows are rebuilt read-only.
"""
from __future__ import annotations

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine import access, clock, db, prebuilt, tasklist
from engine.access import Actor
from engine.definitions import catalog
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.history import audit, replay
from engine.models import (
    UNFINISHED,
    AuditEvent,
    Definition,
    HumanTask,
    Instance,
    MessageSubscription,
    ServiceRequest,
    Timer,
)
from engine.runtime import workflow_cache

# Token states the diagrams mark, by the name the pages use.
TOKEN_STATES = {"ready": TaskState.READY, "waiting": TaskState.WAITING,
                "completed": TaskState.COMPLETED}


def readable(session: Session, actor: Actor, instance_id: int) -> Instance:
    """The instance row, if `actor` may read it. Raises NotFound when it does not exist and
    Forbidden when it is outside the actor's reach (as engine.tasks.scope does for a task)."""
    instance = _row(session, instance_id)
    user_tasks = catalog.compiled(session, instance.definition_id).tasks.values()
    if not access.may_read_instance(actor, access.instance_scope(session, instance_id, user_tasks)):
        raise Forbidden(f"{actor.name} may not read instance {instance_id}: none of its tasks "
                        f"is one you may see", instance_id=instance_id)
    return instance


def readable_with_events_in(session: Session, actor: Actor, start, end) -> list[int] | None:
    """Ids of the instances with audit events in [start, end) that `actor` may read (None:
    every event, instance-scoped or not, for the roles that read everything)."""
    if actor.role in access.INSTANCE_READ_ALL:
        return None
    query = select(AuditEvent.instance_id).where(AuditEvent.instance_id.is_not(None)).distinct()
    if start is not None:
        query = query.where(AuditEvent.at >= start)
    if end is not None:
        query = query.where(AuditEvent.at < end)
    out = []
    for instance_id in session.scalars(query):
        try:
            readable(session, actor, instance_id)
        except Forbidden:
            continue
        out.append(instance_id)
    return out


def get(session: Session, actor: Actor, instance_id: int) -> dict:
    """One instance as `instance_json` describes it. Raises NotFound, Forbidden (`readable`)."""
    return instance_json(readable(session, actor, instance_id))


def show(session: Session, runtime, actor: Actor, instance_id: int) -> dict:
    """One instance with its version, request number, token positions (`elements`), open
    tasks, waiting timers and the messages it waits for. Raises NotFound, Forbidden."""
    instance = readable(session, actor, instance_id)
    compiled = catalog.compiled(session, instance.definition_id)
    now = clock.now()
    return {**instance_json(instance), "definition_version": compiled.version,
            "request_number": request_number(session, instance.id),
            "elements": elements(runtime.workflow(session, instance)),
            "tasks": [tasklist.row_dict(r, now) for r in session.execute(
                tasklist.tiered().where(HumanTask.instance_id == instance.id))],
            "timers": [{"bpmn_id": t.bpmn_id, "due_at": t.due_at} for t in session.scalars(
                select(Timer).where(Timer.instance_id == instance.id))],
            "waiting_for": waiting_for(session, instance.id)}


def history(session: Session, actor: Actor, instance_id: int, *, offset: int = 0,
            limit: int | None = None) -> tuple[list[dict], int]:
    """(events as `event_json`, total number of events) of one instance. Raises NotFound,
    Forbidden."""
    readable(session, actor, instance_id)
    total = session.scalar(select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.instance_id == instance_id))
    events = audit.events(session, instance_id, offset=offset, limit=limit)
    return [event_json(e) for e in events], total


def audited(session: Session, script_engine, actor: Actor, instance_id: int, *,
            keep_steps: bool = False):
    """(instance, its events, the replay's result) as an auditor reads them, the events read
    once for both. Raises NotFound, Forbidden."""
    instance = readable(session, actor, instance_id)
    rows = audit.events(session, instance_id)
    result = replay.verify(session, instance_id, script_engine, keep_steps=keep_steps,
                           events=rows, instance=instance)
    return instance_json(instance), [event_json(e) for e in rows], result


def search(session: Session, text: str, *, page: int, per_page: int) -> tuple[list[dict], int]:
    """(instances whose request number contains `text` or whose id is `text`, newest first,
    and how many match)."""
    query = select(Instance)
    if text:
        as_id = db.row_id(text) or -1
        query = query.where(or_(Instance.business_key.contains(text), Instance.id == as_id))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Instance.id.desc())
                           .limit(per_page).offset((page - 1) * per_page))
    return [instance_json(r) for r in rows], total


def request_number(session: Session, instance_id: int) -> str | None:
    """The number of the after-sales request an instance runs (None: it runs none)."""
    return session.scalar(select(ServiceRequest.number).where(
        ServiceRequest.instance_id == instance_id))


def id_of_business_key(session: Session, business_key: str) -> int | None:
    return session.scalar(select(Instance.id).where(Instance.business_key == business_key))


def waiting_for(session: Session, instance_id: int) -> list[str]:
    """Names of the messages the instance waits for now: its subscriptions, as this
    transaction wrote them (`written_now`), else as they are stored."""
    written = written_now(session, instance_id)
    if written is not None:
        return sorted({waiting.message for waiting in written.projection.messages.values()})
    return sorted(set(prebuilt.read(session, _WAITING_FOR, {"instance_id": instance_id}).scalars()))


def written_now(session: Session, instance_id: int) -> workflow_cache.Entry | None:
    """The live workflow and projection of instance `instance_id` as a unit of work of this
    session's transaction wrote its current row (engine.runtime.workflow_cache), or None: what
    the rows will hold once the unit's queued writes are sent, known without sending them (a
    read after them would begin the transaction, on PostgreSQL idle while Python goes on)."""
    instance = session.identity_map.get(identity_key(Instance, instance_id))
    return workflow_cache.cache.written(session, instance) if instance is not None else None


_WAITING_FOR = select(MessageSubscription.name).where(
    MessageSubscription.instance_id == bindparam("instance_id"))


def elements(workflow) -> dict[str, list[str]]:
    """BPMN ids by token state ("ready", "waiting", "completed"), for marking the diagram."""
    found: dict = {name: set() for name in TOKEN_STATES}
    for task in workflow.get_tasks():
        bpmn_id = task.task_spec.bpmn_id
        for name, state in TOKEN_STATES.items():
            if bpmn_id and task.state == state:
                found[name].add(bpmn_id)
    return {name: sorted(ids) for name, ids in found.items()}


# ------------------------------------------------------------------ versions

def unfinished_ids(session: Session, definition_id: int) -> list[int]:
    """Ids of the instances of one deployed version that may still move on, oldest first."""
    return list(session.scalars(select(Instance.id).where(
        Instance.definition_id == definition_id, Instance.status.in_(UNFINISHED))
        .order_by(Instance.id)))


def to_migrate(session: Session, definition_id: int, given: list[int] | None = None
               ) -> list[int]:
    """The instances to move off version `definition_id`: the `given` ids (each must exist and
    run on that version), else every unfinished instance of it. Raises NotFound for an unknown
    id and InvalidInput (field `instance_ids`) for one on another version."""
    if given is None:
        return unfinished_ids(session, definition_id)
    found = dict(session.execute(select(Instance.id, Instance.definition_id)
                                 .where(Instance.id.in_(given))).all())
    for instance_id in given:
        if instance_id not in found:
            raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
        if found[instance_id] != definition_id:
            raise InvalidInput(f"instance {instance_id} does not run on the 'from' version",
                               field="instance_ids", instance_id=instance_id)
    return list(given)


def business_keys(session: Session, instance_ids: list[int]) -> dict[int, str]:
    return dict(session.execute(select(Instance.id, Instance.business_key)
                                .where(Instance.id.in_(instance_ids))).all())


def unfinished_by_key(session: Session) -> dict[str, int]:
    """Number of unfinished instances per process key."""
    return dict(session.execute(select(Instance.process_key, func.count()).where(
        Instance.status.in_(UNFINISHED)).group_by(Instance.process_key)).all())


def unfinished_by_version(session: Session, key: str) -> dict[int, int]:
    """Number of unfinished instances of process `key` per version number."""
    return dict(session.execute(
        select(Definition.version, func.count(Instance.id))
        .join(Instance, Instance.definition_id == Definition.id)
        .where(Definition.process_key == key, Instance.status.in_(UNFINISHED))
        .group_by(Definition.version)).all())


# ------------------------------------------------------------------ shapes

def instance_json(i: Instance) -> dict:
    return {"id": i.id, "process_key": i.process_key, "definition_id": i.definition_id,
            "business_key": i.business_key, "status": i.status, "version": i.version,
            "created_at": i.created_at, "updated_at": i.updated_at,
            "completed_at": i.completed_at, "error": i.error, "error_task_id": i.error_task_id,
            "events": i.audit_seq}


def event_json(e: AuditEvent) -> dict:
    return {"seq": e.seq, "at": e.at, "actor": e.actor, "kind": e.kind, "element": e.element,
            "task_id": e.task_id, "payload": e.payload, "state_hash": e.state_hash,
            "prev_hash": e.prev_hash, "hash": e.hash}


def _row(session: Session, instance_id: int) -> Instance:
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
    return instance
