"""One unit of work: what every change of a workflow runs inside.

The engine verbs, replay, what-if and instance migration all change a workflow the same way,
inside `of_work()`: the clock pinned to the event's time, task ids seeded from
"<business key>:<event seq>", service calls collected instead of made; then the change is
applied, the engine advanced until it waits, and the events it threw taken. Doing it once, here,
is what lets a replay rebuild exactly the state that was recorded: the stored state must not
differ by one byte.

    with unit.of_work(instance.business_key, instance.audit_seq + 1, at) as work:
        workflow = apply(workflow)
        error, failed_task = work.advance(workflow)

`run()` is an engine verb's whole unit of work on the caller's session: take the instance's
workflow (live from engine/runtime/workflow_cache.py when this process wrote its current row,
else loaded from the state), apply and advance inside `of_work()`, then write back the state,
the audit event and the projection rows (engine/runtime/writeback.py) and the outbox rows, call
the hooks, and keep the live workflow for the next unit once the transaction commits.
"""
from __future__ import annotations

import contextlib
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine import clock
from engine.access import Actor
from engine.definitions import catalog
from engine.errors import EngineError
from engine.history import audit
from engine.models import Instance
from engine.runtime import (
    determinism,
    incidents,
    projection,
    serialization,
    services,
    state_store,
    steps,
    workflow_cache,
    writeback,
)

_NOTHING = projection.Projection({}, {}, {})


class Unit:
    """What one unit of work collected: the service calls and the events the workflow threw."""

    def __init__(self, business_key: str, seq: int, calls: services.ServiceCalls):
        self.business_key, self.seq, self.calls = business_key, seq, calls
        self.thrown: list = []

    def advance(self, workflow, *, strict: bool = False) -> tuple[str | None, str | None]:
        """Run the engine until it waits and take the events it threw; returns (error message,
        failed task id) when a task failed, else (None, None) (see steps.advance). `strict`
        lets a failed task's exception out instead (the live verbs: it becomes an incident)."""
        if strict:
            workflow.do_engine_steps()
            error = None, None
        else:
            error = steps.advance(workflow)
        self.thrown = workflow.get_events()
        return error

    @property
    def intents(self) -> list[services.Intent]:
        """The outbox intents: the service calls, then one message per thrown event."""
        return self.calls.intents + [
            services.Intent(f"message.{e.event_definition.name}",
                            f"{self.business_key}:msg:{self.seq}:{n}", {"payload": e.payload},
                            None)
            for n, e in enumerate(self.thrown)]


@contextlib.contextmanager
def of_work(business_key: str, seq: int, at: datetime):
    """Pin the clock to `at`, seed task ids from f"{business_key}:{seq}" and collect service
    calls for the length of the block; yields the Unit."""
    determinism.install()
    with clock.pinned(at), determinism.seeded(f"{business_key}:{seq}"), \
            services.collecting(business_key) as calls:
        yield Unit(business_key, seq, calls)


def run(session: Session, runtime, instance: Instance, compiled: catalog.Compiled, *, kind: str,
        actor: Actor, payload: dict, apply, element: str | None = None,
        task_id: str | None = None, at: datetime | None = None, new: bool = False,
        final_status: str | None = None, before_write=None) -> Instance:
    """Apply `apply` (see engine/runtime/steps.py) to `instance`'s workflow, advance it and write
    it all back as one `kind` event; returns the instance.

    `runtime` gives the script engine, the task-row builder, the timer listeners, the hooks and
    the intent guards (called with the unit's outbox intents before anything is written: one
    that raises makes the command an incident, like a failed step).
    A `new` instance is not stored yet: `apply` builds its workflow and the row is inserted.
    `before_write(session)`, if given, is called once the workflow has run, before the guards
    and before anything of the unit is written (a filing writes its request row there).
    A task that fails inside the engine's steps of a start puts the new instance in error (the
    event records the error). Any other exception, while applying or advancing or while writing
    back (a state that cannot be stored, a task row, a hook), raises StepFailed: the caller's
    transaction rolls back what was written and engine.runtime.incidents records the incident in
    a transaction of its own. The unit's writes are queued (engine.prebuilt.write) and sent
    with the session's next statement or its commit: LostRace is raised then when another
    writer changed the instance first. The database's own errors (busy, gone) go to the caller
    as they are.
    """
    at = at or clock.now()
    version = None if new else instance.version
    try:
        return _run(session, runtime, instance, compiled, kind=kind, actor=actor,
                    payload=payload, apply=apply, element=element, task_id=task_id, at=at,
                    new=new, final_status=final_status, before_write=before_write)
    except (EngineError, SQLAlchemyError):   # refusals and the database's own answers
        raise
    except Exception as err:    # the one failure path: see engine/runtime/incidents.py
        raise incidents.failure(err, instance=None if new else instance, kind=kind,
                                actor=actor, payload=payload, element=element,
                                task_id=task_id, version=version) from err


def _run(session, runtime, instance, compiled, *, kind, actor, payload, apply, element,
         task_id, at, new, final_status, before_write) -> Instance:
    with of_work(instance.business_key, instance.audit_seq + 1, at) as work:
        workflow, before, stored = _workflow_of(session, runtime, instance, compiled, new)
        workflow = apply(workflow)
        # A start keeps a task failed in the steps in its state (the instance is stored in
        # error, retried by that task); any later command's failure is an incident.
        error, error_task = work.advance(workflow, strict=not new)
        after = projection.project(workflow)
        pinned = clock.now().timestamp()        # the time every task changed here has
        # Computed before the first write, which takes the write lock on SQLite and begins
        # the transaction on PostgreSQL (engine/db.py). Only the chunks that changed since
        # `stored` are serialised again (a CHUNKED instance).
        state = state_store.dump(workflow, instance.serializer_version, stored, pinned)
        if before_write is not None:            # e.g. a filing's request row, which guards read
            before_write(session)
        for guard in runtime.intent_guards:     # e.g. the payment book (engine/payments.py)
            guard(session, instance.business_key, work.intents, actor)
    status = final_status or _status(workflow, after, error)
    values = dict(state=state.state, updated_at=at, error=error, error_task_id=error_task, status=status,
                  completed_at=at if status == "completed" else instance.completed_at)
    if new:
        writeback.insert_instance(session, instance, values)    # the event's hash needs the new id
        values = {}
    if error:
        payload = dict(payload, error=error)
    event = audit.next_event(instance, at=at, actor=actor.name, kind=kind, payload=payload,
                             state_hash=serialization.state_hash(state.state), element=element,
                             task_id=task_id)
    writeback.write_back(session, instance, values, event, before, after,
                         task_row=lambda task: runtime.human_task_row(instance, compiled, task, at),
                         timer_listeners=runtime.timer_listeners)
    state = state_store.write(session, instance.id, state, stored)     # after the version check
    services.write_intents(session, instance.id, instance.business_key, work.intents, at)
    for hook in runtime.hooks:
        hook(session, instance, workflow, event)
    workflow_cache.cache.keep(session, instance, workflow_cache.Entry(workflow, after, state))
    return instance


def _workflow_of(session, runtime, instance, compiled, new: bool):
    """(the instance's live workflow, its projection as stored, its state as stored): the ones
    this process kept when it last wrote the instance's current row
    (engine/runtime/workflow_cache.py), else rebuilt from the stored state. A new instance has
    none."""
    if new:
        return None, _NOTHING, None
    kept = workflow_cache.cache.take(session, instance, compiled)
    if kept is not None:
        kept.workflow.script_engine = runtime.script_engine
        return kept.workflow, kept.projection, kept.stored
    workflow, stored = state_store.load(session, instance, compiled, runtime.script_engine)
    return workflow, projection.project(workflow), stored


def _status(workflow, after: projection.Projection, error: str | None) -> str:
    if error:
        return "error"
    if after.human:         # an open task: not completed, without walking the task tree
        return "running"
    return "completed" if workflow.is_completed() else "waiting"
