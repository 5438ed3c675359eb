"""Writing a unit of work back: its audit event, the instance row (optimistic version check) and
the projection rows (human tasks, timers, message subscriptions, and the element spans: when
each element held a token), diffed before/after.

Every change of a workflow's state (the engine verbs, instance migration) goes out through
`write_back()`.

The hot path's statements are built once: building and caching a statement costs several times
more than running it on SQLite. Rows are written with Core; the ORM objects the verbs return are
kept in step with set_committed_value, exactly as a flush would leave them.
"""
from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine import db, prebuilt
from engine.errors import Conflict
from engine.history import audit
from engine.models import ElementSpan, HumanTask, Instance, MessageSubscription, Timer

_I, _HT, _TM, _MS, _ES = (Instance.__table__, HumanTask.__table__, Timer.__table__,
                          MessageSubscription.__table__, ElementSpan.__table__)
_INSERT_INSTANCE = insert(_I)
# SET comes from the keys of the parameters; b_id / b_version are the optimistic check.
_UPDATE_INSTANCE = update(_I).where(_I.c.id == bindparam("b_id"), _I.c.version == bindparam("b_version"))
_INSERT_TASKS, _INSERT_TIMERS, _INSERT_SUBSCRIPTIONS = insert(_HT), insert(_TM), insert(_MS)
_OPEN_SPANS = insert(_ES)
_CLOSE_SPANS = update(_ES).where(_ES.c.instance_id == bindparam("b_instance_id"),
                                 _ES.c.task_id.in_(bindparam("b_task_ids", expanding=True)),
                                 _ES.c.ended_at.is_(None)).values(ended_at=bindparam("b_at"))
_DELETE_TASKS = delete(_HT).where(_HT.c.instance_id == bindparam("b_instance_id"),
                                  _HT.c.task_id.in_(bindparam("b_task_ids", expanding=True)))
_DELETE_TIMERS = delete(_TM).where(_TM.c.instance_id == bindparam("b_instance_id"),
                                   _TM.c.task_id.in_(bindparam("b_task_ids", expanding=True)))
_DELETE_SUBSCRIPTION = delete(_MS).where(_MS.c.instance_id == bindparam("b_instance_id"),
                                         _MS.c.task_id == bindparam("b_task_id"),
                                         _MS.c.name == bindparam("b_name"))


def insert_instance(session: Session, instance: Instance, values: dict) -> None:
    """INSERT a new (transient) instance with `values` by Core and attach it to the session as
    a persistent row, exactly as a flush would leave it (version 1). With an id drawn ahead
    (engine.db.drawn_id: PostgreSQL) the INSERT is queued with the unit's other writes."""
    for key, value in values.items():
        setattr(instance, key, value)
    instance.version = 1
    instance.id = db.drawn_id(session, _I.name)
    row = {c.key: getattr(instance, c.key) for c in _I.columns
           if c.key != "id" or instance.id is not None}
    if instance.id is None:
        instance.id = session.connection().execute(_INSERT_INSTANCE, row).inserted_primary_key[0]
    else:
        prebuilt.write(session, _INSERT_INSTANCE, row)
    make_transient_to_detached(instance)
    session.add(instance)
    prebuilt.wrote(session, instance)


def write_back(session: Session, instance: Instance, values: dict, event: dict, before, after, *,
               task_row, timer_listeners=()) -> None:
    """Write one unit of work: insert `event` (from audit.next_event), UPDATE the instance row
    with `values` and its chain head moved to the event (one version-checked UPDATE), then the
    projection rows that changed from `before` to `after` (see write_projection).

    The writes are queued (engine.prebuilt.write): when they are sent, at the session's next
    statement or its commit, another writer's change of the instance first raises LostRace,
    the caller's transaction or savepoint discards what was written, and the instance object
    is read again.
    """
    audit.insert_event(session, event)
    update_instance(session, instance, dict(values, audit_seq=event["seq"], audit_head=event["hash"]))
    write_projection(session, instance, before, after, task_row=task_row,
                     timer_listeners=timer_listeners)
    write_spans(session, instance.id, before, after, event["at"])


def write_spans(session: Session, instance_id: int, before, after, at) -> None:
    """Close the spans of the elements that gave up their token at `at`, open those that took
    one (engine.models.ElementSpan; `before` is None for a new instance)."""
    held_before = _held(before) if before is not None else {}
    held_after = _held(after)
    gone = [task_id for task_id in held_before if task_id not in held_after]
    if gone:
        prebuilt.write(session, _CLOSE_SPANS,
                       {"b_instance_id": instance_id, "b_task_ids": gone, "b_at": at})
    new = [dict(instance_id=instance_id, task_id=task_id, bpmn_id=bpmn_id, started_at=at)
           for task_id, bpmn_id in held_after.items() if task_id not in held_before]
    if new:
        prebuilt.write(session, _OPEN_SPANS, new)


def _held(projection) -> dict[str, str]:
    """task id -> element of every token a projection holds (as the replay's ready/waiting)."""
    held = {task_id: task.task_spec.bpmn_id or task.task_spec.name
            for task_id, task in projection.human.items()}
    held.update((task_id, due.bpmn_id) for task_id, due in projection.timers.items())
    held.update((waiting.task_id, waiting.bpmn_id) for waiting in projection.messages.values())
    return held


def update_instance(session: Session, instance: Instance, values: dict) -> None:
    """UPDATE the instance row with `values` and the next version, if its version is still the
    one loaded, queued with the unit's other writes (engine.prebuilt.write); when they are sent
    (the session's next statement or its commit) a moved version raises LostRace, and nothing
    is kept (a lost race is never a silent overwrite). The ORM object is left as a flush would
    leave it: same values, new version, nothing pending; after a rollback it is read again."""
    version, instance_id = instance.version, instance.id
    prebuilt.write(session, _UPDATE_INSTANCE,
                   dict(values, version=version + 1, b_id=instance_id, b_version=version),
                   rows=1, lost=lambda: Conflict.lost_race(instance_id))
    for key, value in values.items():
        set_committed_value(instance, key, value)
    set_committed_value(instance, "version", version + 1)
    prebuilt.wrote(session, instance)       # a lost race (raised when sent) reads it again


def active_status(session: Session, instance_id: int) -> str:
    """The status an instance goes back to when it runs on without a step (resumed, an
    incident skipped): running while it has an open human task, else waiting."""
    open_task = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id)
                               .limit(1))
    return "running" if open_task is not None else "waiting"


def forget(session: Session, model, instance_id: int, task_ids) -> None:
    """Drop from the session the ORM objects of projection rows just deleted by Core (what the
    ORM's own bulk delete would have done)."""
    task_ids = set(task_ids)
    for obj in list(session.identity_map.values()):
        if type(obj) is model and obj.instance_id == instance_id and obj.task_id in task_ids:
            session.expunge(obj)


def flush_or_conflict(session: Session, instance: Instance) -> None:
    """Flush; a lost optimistic-version race becomes Conflict (never a silent overwrite)."""
    instance_id = instance.id      # read before the flush: a failed flush expires the row
    try:
        session.flush()
    except StaleDataError as err:
        raise Conflict.lost_race(instance_id) from err


def write_projection(session: Session, instance: Instance, before, after, *, task_row,
                     timer_listeners=()) -> None:
    """Write what changed between two projections of an instance (rows of tasks that stay are
    left alone, so their claims survive); `task_row(task)` builds a new human_task row."""
    gone = [t for t in before.human if t not in after.human]
    if gone:
        prebuilt.write(session, _DELETE_TASKS, {"b_instance_id": instance.id, "b_task_ids": gone})
        forget(session, HumanTask, instance.id, gone)
    new_tasks = [task_row(task)
                 for task_id, task in after.human.items() if task_id not in before.human]
    if new_tasks:
        prebuilt.write(session, _INSERT_TASKS, new_tasks)
    old_timers = {(k, v.due_at) for k, v in before.timers.items()}
    new_timers = {(k, v.due_at) for k, v in after.timers.items()}
    stale = [k for k, due in old_timers - new_timers]
    if stale:
        prebuilt.write(session, _DELETE_TIMERS, {"b_instance_id": instance.id, "b_task_ids": stale})
        forget(session, Timer, instance.id, stale)
    fresh = [after.timers[k] for k, due in new_timers - old_timers]
    if fresh:
        prebuilt.write(session, _INSERT_TIMERS, [
            dict(instance_id=instance.id, task_id=t.task_id, bpmn_id=t.bpmn_id, due_at=t.due_at)
            for t in fresh])
        for listener in timer_listeners:
            listener(min(t.due_at for t in fresh))
    gone_subs = [k for k in before.messages if k not in after.messages]
    if gone_subs:
        prebuilt.write(session, _DELETE_SUBSCRIPTION, [
            {"b_instance_id": instance.id, "b_task_id": task_id, "b_name": name}
            for task_id, name in gone_subs])
        forget(session, MessageSubscription, instance.id, [t for t, _ in gone_subs])
    new_subs = [w for k, w in after.messages.items() if k not in before.messages]
    if new_subs:
        prebuilt.write(session, _INSERT_SUBSCRIPTIONS, [
            dict(instance_id=instance.id, name=w.message, correlation=instance.business_key,
                 task_id=w.task_id, bpmn_id=w.bpmn_id) for w in new_subs])
