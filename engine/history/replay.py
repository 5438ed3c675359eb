"""Replay and verify: rebuild an instance from its definition and recorded inputs alone.

`verify()` checks the hash chain of an instance's events (seq order, prev_hash links, each
event's own hash), then replays every state-changing event in memory, each in a unit of work
like the runtime's (engine/runtime/unit.py: the recorded time, the same task id seed) with the
recorded input (service results arrive as recorded messages; nothing is called), comparing the
state hash after each event with the recorded one (hashed in the instance's own storage format,
engine/runtime/serialization.py), and finally compares the stored state of the instance, its
chunks included, with the last recorded hash. The first divergence is reported with its event.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.definitions import catalog
from engine.errors import NotFound
from engine.history import audit
from engine.models import AuditEvent, Instance
from engine.runtime import instance_migration, serialization, state_store, steps, unit


@dataclass
class Step:
    seq: int
    at: str
    actor: str | None
    kind: str
    element: str | None
    state_hash: str
    ready: list[str] = field(default_factory=list)      # READY user tasks (bpmn ids)
    waiting: list[str] = field(default_factory=list)    # WAITING events (bpmn ids)
    completed: list[str] = field(default_factory=list)  # elements completed so far
    data: dict = field(default_factory=dict)


@dataclass
class Result:
    instance_id: int
    events: int
    ok: bool = True
    divergence: dict | None = None        # {"seq", "kind", "problem", "expected", "actual"}
    steps: list[Step] = field(default_factory=list)

    def fail(self, event, problem: str, expected=None, actual=None) -> "Result":
        self.ok = False
        self.divergence = {"seq": getattr(event, "seq", None), "kind": getattr(event, "kind", None),
                           "problem": problem, "expected": expected, "actual": actual}
        return self


def verify(session: Session | None, instance_id: int, script_engine, *, keep_steps: bool = False,
           events: list | None = None, instance: Instance | None = None,
           definition_for=None) -> Result:
    """Check the chain and the replay of one instance; the Result names the first divergence.

    `definition_for(definition_id) -> Compiled` supplies the definitions (default: the deployed
    rows); with it, `events` and `instance`, no session is needed (archives verify this way).
    """
    instance = instance or session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
    events = events if events is not None else audit.events(session, instance_id)
    result = Result(instance_id, len(events))
    if not _check_chain(events, instance_id, result):
        return result
    if definition_for is None:
        def definition_for(definition_id):
            return catalog.compiled(session, definition_id)
    if not _replay(definition_for, instance, events, script_engine, result, keep_steps):
        return result
    if events and serialization.state_hash(instance.state) != events[-1].state_hash:
        return result.fail(events[-1], "the stored instance state does not match the history",
                           events[-1].state_hash, serialization.state_hash(instance.state))
    damaged = state_store.check(session, instance) if session is not None and events else None
    if damaged:
        return result.fail(events[-1], f"the stored instance state does not match the history: "
                           f"{damaged}")
    if events and (instance.audit_seq, instance.audit_head) != (events[-1].seq, events[-1].hash):
        return result.fail(events[-1], "the instance's chain head does not match its last event",
                           [events[-1].seq, events[-1].hash], [instance.audit_seq, instance.audit_head])
    return result


def verify_all(session: Session, script_engine, *, stop_at_first: bool = True) -> list[Result]:
    results = []
    for instance_id in session.scalars(select(Instance.id).order_by(Instance.id)):
        result = verify(session, instance_id, script_engine)
        results.append(result)
        if stop_at_first and not result.ok:
            break
    return results


def state_at(session: Session, instance_id: int, seq: int, script_engine) -> Step:
    """The replayed state (tokens and data) right after event `seq`."""
    result = verify(session, instance_id, script_engine, keep_steps=True)
    for step in result.steps:
        if step.seq == seq:
            return step
    raise NotFound(f"instance {instance_id} has no replayable event {seq}", instance_id=instance_id)


def _check_chain(events: list[AuditEvent], instance_id: int, result: Result) -> bool:
    prev = audit.GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            result.fail(event, f"event {expected_seq} is missing or out of order", expected_seq, event.seq)
            return False
        if event.prev_hash != prev:
            result.fail(event, "the event does not link to the previous event", prev, event.prev_hash)
            return False
        recomputed = audit.hash_of(event)
        if event.instance_id != instance_id or recomputed != event.hash:
            result.fail(event, "the event was altered after it was recorded", event.hash, recomputed)
            return False
        prev = event.hash
    return True


def rerun(definition_for, instance: Instance, events: list, script_engine) -> None:
    """Re-run `instance`'s recorded inputs without storing or hashing any state: the work of
    SpiffWorkflow itself in a replay, which bench/replay_speed.py measures verify against."""
    _replay(definition_for, instance, events, script_engine, Result(instance.id, len(events)),
            keep_steps=False, check_states=False)


def _replay(definition_for, instance, events, script_engine, result: Result, keep_steps: bool,
            check_states: bool = True) -> bool:
    workflow = None
    compiled = None
    current_hash = None
    # The state hashed as the instance stores it, each step re-serialising only what changed.
    stored = None
    for event in events:
        if event.kind == "started":
            compiled = definition_for(event.payload["definition_id"])
        if event.kind == "migrated":
            if workflow is None:
                return bool(result.fail(event, "history does not begin with 'started'"))
            with unit.of_work(instance.business_key, event.seq, event.at):
                try:
                    target = definition_for(event.payload["to_definition_id"])
                    workflow = instance_migration.replay_event(workflow, compiled, target, event.payload)
                except Exception as err:     # the recorded move no longer applies
                    return bool(result.fail(event, f"the recorded migration cannot be applied: {err}"))
            compiled = target
            stored = state_store.dump(workflow, instance.serializer_version)    # a new tree
            current_hash = serialization.state_hash(stored.state)
        elif event.kind in audit.STATE_CHANGING:
            if compiled is None:
                return bool(result.fail(event, "history does not begin with 'started'"))
            apply = steps.for_event(event.kind, event.payload, event.task_id, compiled, script_engine)
            with unit.of_work(instance.business_key, event.seq, event.at) as work:
                try:
                    workflow = apply(workflow)
                except Exception as err:     # the recorded input no longer applies
                    return bool(result.fail(event, f"the recorded input cannot be applied: {err}"))
                work.advance(workflow)
                pinned = clock.now().timestamp()      # the time every task changed here has
            if not check_states:
                continue
            stored = state_store.dump(workflow, instance.serializer_version, stored, pinned)
            current_hash = serialization.state_hash(stored.state)
        if current_hash != event.state_hash:
            result.fail(event, "replaying the recorded input gives a different state",
                        event.state_hash, current_hash)
            return False
        if keep_steps:
            result.steps.append(snapshot(event, workflow))
    return True


def snapshot(event: AuditEvent, workflow) -> Step:
    """The position of `workflow` right after `event`: READY user tasks, WAITING events,
    completed elements, and the data of a READY user task (else of the last task that ran)."""
    step = Step(event.seq, event.at.isoformat(), event.actor, event.kind, event.element,
                event.state_hash)
    if workflow is None:
        return step
    for task in workflow.get_tasks():
        bpmn_id = task.task_spec.bpmn_id
        if bpmn_id is None:
            continue
        if task.state == TaskState.READY and task.task_spec.manual:
            step.ready.append(bpmn_id)
            step.data = dict(task.data)
        elif task.state == TaskState.WAITING:
            step.waiting.append(bpmn_id)
        elif task.state == TaskState.COMPLETED:
            step.completed.append(bpmn_id)
    if not step.data:
        last = workflow.last_task
        step.data = dict(last.data) if last is not None else {}
    return step
