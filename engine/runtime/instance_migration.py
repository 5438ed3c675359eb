"""Moving unfinished instances from one deployed version of their process to another.

A move keeps everything that happened and everything that is open: completed tasks, READY user
tasks (same task ids, so claims and links stay valid), WAITING timers with their due times and
message waits, tasks in ERROR (a fix deployed as a new version can then be retried). Each kept
task is pointed at the element of the target version with the same BPMN id, or the id given in
`mapping` ({old_id: new_id}); the engine's own steps derived from an element
(`review.BoundaryEventSplit`...) follow their element. What the engine had only predicted
(MAYBE/LIKELY tasks, FUTURE tasks below an open one) is dropped and predicted again from the
target. Cancelled branches whose element is gone are dropped: they never ran.

An instance can move when every kept task has a counterpart, and every open one (READY,
WAITING, STARTED, ERROR) a counterpart of a compatible kind (same task type, same kind of
event, same called process). `plan()` checks that without writing anything; `migrate()` moves
each instance in its own savepoint and records one `migrated` event, which replay re-applies
with `replay_event()`. Moving back to the previous version with the reverse mapping is a
migration like any other.

Why not `SpiffWorkflow.bpmn.util.diff.migrate_workflow`: it resets READY and WAITING tasks (a
running timer would start again, task data is re-copied from the parent), keeps the old spec on
tasks whose element was removed (which a spec-by-reference state cannot store), and its
`SpecDiff` does not align a task whose id was renamed; the explicit mapping here does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.access import Actor
from engine.definitions import catalog
from engine.errors import Conflict, EngineError, InvalidInput, NotFound
from engine.history import audit
from engine.models import UNFINISHED, Definition, HumanTask, Instance, MessageSubscription, Timer
from engine.runtime import projection, serialization, unit, writeback
from engine.runtime.verbs import Runtime

MOVABLE = UNFINISHED
OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
# Engine steps named after the element they belong to (see SpiffWorkflow's TaskParser).
DERIVED_SUFFIXES = (".BoundaryEventSplit", ".BoundaryEventJoin", ".EndJoin", " [child]")
REPREDICT = TaskState.PREDICTED_MASK | TaskState.FUTURE


# --------------------------------------------------------------- public API

def plan(session: Session, runtime: Runtime, instance_ids, to_definition_id: int,
         mapping: dict | None = None) -> dict[int, dict]:
    """Dry run: {instance_id: {"can_move", "reasons", "moves"}} for each instance.

    `moves` says where each open element goes ({old_id: new_id}). Nothing is written.
    Raises NotFound for an unknown target definition and InvalidInput for a malformed mapping.
    """
    mapping = normalize_mapping(mapping)
    target = _target(session, to_definition_id)
    out = {}
    for instance_id in instance_ids:
        instance = session.get(Instance, instance_id)
        if instance is None:
            out[instance_id] = {"can_move": False, "reasons": [f"instance {instance_id} does not exist"],
                                "moves": {}}
            continue
        with unit.of_work(instance.business_key, instance.audit_seq + 1, clock.now()):
            reasons, moves, _ = _trial(session, runtime, instance, target, mapping)
        out[instance_id] = {"can_move": not reasons, "reasons": reasons, "moves": moves}
    return out


def migrate(session: Session, runtime: Runtime, instance_ids, to_definition_id: int,
            mapping: dict | None, actor: Actor, dry_run: bool = False) -> dict[int, dict]:
    """Move each instance to `to_definition_id`; all or nothing per instance.

    Returns {instance_id: {"moved", "can_move", "reasons", "moves"}}. An instance that cannot
    move is left exactly as it was and its reasons are reported; the others move. With
    `dry_run` nothing is written (same as `plan()`).
    """
    checks = plan(session, runtime, instance_ids, to_definition_id, mapping)
    if dry_run:
        return {i: dict(c, moved=False) for i, c in checks.items()}
    results = {}
    for instance_id, check in checks.items():
        if not check["can_move"]:
            results[instance_id] = dict(check, moved=False)
            continue
        try:
            with session.begin_nested():
                migrate_instance(session, runtime, instance_id, to_definition_id, mapping, actor)
        except EngineError as err:
            reasons = (err.details or {}).get("reasons") if isinstance(err.details, dict) else None
            results[instance_id] = dict(check, can_move=False, moved=False,
                                        reasons=reasons or [err.message])
            continue
        results[instance_id] = dict(check, moved=True)
    return results


def migrate_instance(session: Session, runtime: Runtime, instance_id: int, to_definition_id: int,
                     mapping: dict | None, actor: Actor) -> Instance:
    """One instance, one unit of work: move the state, rewrite projections, record `migrated`.

    Raises NotFound, and Conflict: with `details={"reasons": [...]}` when it cannot move, or
    when another writer changed the instance first (then the instance is left as it was).
    """
    mapping = normalize_mapping(mapping)
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
    target = _target(session, to_definition_id)
    at = clock.now()
    with unit.of_work(instance.business_key, instance.audit_seq + 1, at):
        reasons, _, moved = _trial(session, runtime, instance, target, mapping)
        if reasons:
            raise Conflict(f"instance {instance_id} cannot move to version {target.version}: "
                           + "; ".join(reasons), instance_id=instance_id,
                           details={"reasons": reasons})
        workflow, before, state = moved
        after = projection.project(workflow)
    payload = {"from_definition_id": instance.definition_id,
               "to_definition_id": target.definition_id, "mapping": mapping}
    event = audit.next_event(instance, at=at, actor=actor.name, kind="migrated", payload=payload,
                             state_hash=serialization.state_hash(state))
    writeback.write_back(session, instance,
                         dict(state=state, definition_id=target.definition_id,
                              status=instance.status, updated_at=at),
                         event, before, after,
                         task_row=lambda task: runtime.human_task_row(instance, target, task, at),
                         timer_listeners=runtime.timer_listeners)
    _retarget_rows(session, runtime, instance, target, before, after)
    for hook in runtime.hooks:
        hook(session, instance, workflow, event)
    return instance


def replay_event(workflow, source: catalog.Compiled, target: catalog.Compiled,
                 payload: dict):
    """Re-apply a recorded `migrated` event (replay calls this under the event's time and seed).

    Raises Conflict when the event does not fit the replayed history.
    """
    if source.definition_id is not None and payload.get("from_definition_id") != source.definition_id:
        raise Conflict(f"the event moves from definition {payload.get('from_definition_id')}, "
                       f"but the history is on definition {source.definition_id}")
    return move(workflow, target, payload.get("mapping") or {})


def move(workflow, target: catalog.Compiled, mapping: dict):
    """Point `workflow` (in memory) at the target's specs; returns it. Raises Conflict."""
    layout, problems, _ = _layout(workflow, target, normalize_mapping(mapping))
    if problems:
        raise Conflict("; ".join(problems), details={"reasons": problems})
    for item in layout:
        _apply(item)
    workflow.subprocess_specs = target.subprocess_specs
    return workflow


def normalize_mapping(mapping) -> dict[str, str]:
    """A mapping as stored in the audit event: str -> str, sorted. Raises InvalidInput."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise InvalidInput("mapping must be an object {old_id: new_id}", field="mapping")
    for old, new in mapping.items():
        if not isinstance(old, str) or not isinstance(new, str) or not old or not new:
            raise InvalidInput(f"mapping entries must be non-empty ids, got {old!r}: {new!r}",
                               field="mapping")
    return dict(sorted(mapping.items()))


def mapped_name(name: str, mapping: dict) -> str:
    """The target spec name of a source spec name (derived engine steps follow their element)."""
    if name in mapping:
        return mapping[name]
    for suffix in DERIVED_SUFFIXES:
        if name.endswith(suffix) and name[:-len(suffix)] in mapping:
            return mapping[name[:-len(suffix)]] + suffix
    return name


# ---------------------------------------------------------------- internals

@dataclass
class _Move:
    """What happens to one (sub)workflow: its new spec, each kept task's new task spec, and the
    branches to drop (the top-most task of each)."""

    workflow: object
    spec: object
    specs: dict = field(default_factory=dict)
    dropped: list = field(default_factory=list)


def _target(session: Session, definition_id: int) -> catalog.Compiled:
    if session.get(Definition, definition_id) is None:
        raise NotFound(f"definition {definition_id} does not exist", field="to_definition_id")
    return catalog.compiled(session, definition_id)


def _trial(session, runtime, instance, target, mapping):
    """(reasons, moves, (workflow, projection before, state) or None): the move done in memory.

    Must run under the unit of work's pinned clock and seed: the state it returns is the one
    that gets stored.
    """
    reasons = []
    if instance.process_key != target.process_key:
        reasons.append(f"instance runs '{instance.process_key}', the target is "
                       f"'{target.process_key}'")
    elif instance.definition_id == target.definition_id:
        reasons.append(f"instance is already on version {target.version}")
    if instance.status not in MOVABLE:
        reasons.append(f"instance is {instance.status}")
    unknown = sorted(new for new in set(mapping.values())
                     if not _in_target(new, target))
    reasons += [f"mapping target '{new}' does not exist in version {target.version}"
                for new in unknown]
    if reasons:
        return reasons, {}, None
    source = catalog.compiled(session, instance.definition_id)
    workflow = serialization.load(instance.state, source.spec, source.subprocess_specs,
                                  runtime.script_engine)
    before = projection.project(workflow)
    layout, problems, moves = _layout(workflow, target, mapping)
    if problems:
        return problems, moves, None
    try:
        for item in layout:
            _apply(item)
        workflow.subprocess_specs = target.subprocess_specs
        state = serialization.dump(workflow)
        # The stored state must load against the target alone.
        serialization.load(state, target.spec, target.subprocess_specs, runtime.script_engine)
    except Exception as err:       # the engine refused the reshaped tree: report, move nothing
        return [f"the moved state is not valid for version {target.version}: {err}"], moves, None
    return [], moves, (workflow, before, state)


def _in_target(name: str, target) -> bool:
    return any(name in spec.task_specs for spec in [target.spec, *target.subprocess_specs.values()])


def _layout(workflow, target, mapping):
    """Decide, without changing anything, where every task of `workflow` goes.

    Returns (list of _Move, problems, moves {open element: target element}).
    """
    problems: list[str] = []
    moves: dict[str, str] = {}
    layout = []
    queue = [(workflow, target.spec)]
    while queue:
        wf, spec = queue.pop(0)
        item = _Move(wf, spec)
        _classify(wf.task_tree, wf.spec, item, target, mapping, problems, moves)
        layout.append(item)
        for task, new_spec in item.specs.items():
            sub = workflow.subprocesses.get(task.id)
            if sub is None:
                continue
            called = getattr(new_spec, "spec", None)
            sub_spec = target.subprocess_specs.get(called)
            if sub_spec is None:
                problems.append(f"'{_label(task)}' runs '{sub.spec.name}', which version "
                                f"{target.version} does not include")
                continue
            queue.append((sub, sub_spec))
    return layout, problems, moves


def _classify(task, old_process, item: _Move, target, mapping, problems, moves) -> None:
    stack = [task]
    while stack:
        task = stack.pop()
        new = item.spec.task_specs.get(mapped_name(task.task_spec.name, mapping))
        state = task.state
        parent_done = task.parent is None or task.parent.state == TaskState.COMPLETED
        if state & TaskState.PREDICTED_MASK or (state == TaskState.FUTURE and not parent_done):
            _drop(task, item, problems)
            continue
        if state == TaskState.CANCELLED and new is None:
            _drop(task, item, problems)
            continue
        if new is None:
            if not _base_missing(task.task_spec.name, item.spec, mapping):
                why = _missing(task, old_process, item.spec, target, mapping)
                if why not in problems:
                    problems.append(why)
        else:
            item.specs[task] = new
            if task.has_state(OPEN) or state == TaskState.FUTURE:
                why = _incompatible(task.task_spec, new)
                if why:
                    problems.append(f"'{_label(task)}' ({TaskState.get_name(state)}) {why}")
                elif task.has_state(OPEN) and task.task_spec.bpmn_id is not None:
                    moves[task.task_spec.bpmn_id] = new.bpmn_id or new.name
        stack.extend(reversed(task.children))


def _drop(task, item: _Move, problems) -> None:
    item.dropped.append(task)
    for below in task:                      # the whole branch: it must hold only predictions
        if below is not task and below.has_state(OPEN | TaskState.COMPLETED):
            problems.append(f"'{_label(below)}' ({TaskState.get_name(below.state)}) sits below "
                            f"a task that was only predicted; this instance cannot be moved")
            return


def _base_missing(name: str, new_process, mapping) -> bool:
    """Is `name` an engine step of an element that is itself missing (and reported as such)?"""
    for suffix in DERIVED_SUFFIXES:
        if name.endswith(suffix):
            return mapped_name(name[:-len(suffix)], mapping) not in new_process.task_specs
    return False


def _missing(task, old_process, new_process, target, mapping) -> str:
    state = TaskState.get_name(task.state)
    label = _label(task)
    name = task.task_spec.name
    if task.task_spec.bpmn_id is None:
        for suffix in (".BoundaryEventSplit", ".BoundaryEventJoin"):
            if name.endswith(suffix):
                base = name[:-len(suffix)]
                return (f"'{base}' has boundary events, '{mapped_name(base, mapping)}' in version "
                        f"{target.version} has none")
        return f"engine step '{name}' ({state}) has no counterpart in version {target.version}"
    hint = ""
    successor = _successor(task.task_spec, old_process, new_process)
    if successor:
        hint = f" ('{successor}' looks like its successor: map {label}={successor})"
    if task.has_state(OPEN):
        return f"'{label}' is {state} but does not exist in version {target.version}{hint}"
    return f"'{label}' was {state} and does not exist in version {target.version}{hint}"


def _successor(old_spec, old_process, new_process) -> str | None:
    """The one element added in the target with the same task type, if there is exactly one."""
    candidates = [s.bpmn_id for s in new_process.task_specs.values()
                  if s.bpmn_id and s.name not in old_process.task_specs
                  and type(s) is type(old_spec)]
    return candidates[0] if len(candidates) == 1 else None


def _incompatible(old, new) -> str | None:
    if type(old) is not type(new):
        if getattr(old, "manual", False) and getattr(new, "manual", False):
            return None
        return f"would change from {type(old).__name__} to {type(new).__name__}"
    old_event = getattr(old, "event_definition", None)
    new_event = getattr(new, "event_definition", None)
    if type(old_event) is not type(new_event):
        return (f"would wait for a {type(new_event).__name__} instead of a "
                f"{type(old_event).__name__}")
    if isinstance(old, SubWorkflowTask) and old.spec != new.spec:
        return f"would call '{new.spec}' instead of '{old.spec}'"
    return None


def _label(task) -> str:
    return task.task_spec.bpmn_id or task.task_spec.name


def _apply(item: _Move) -> None:
    wf = item.workflow
    wf.spec = item.spec
    for task in item.dropped:
        if task.id in wf.tasks:
            wf._remove_task(task.id)
    for task, new_spec in item.specs.items():
        task.task_spec = new_spec
    for task in list(item.specs):
        # Predict again what the target says comes after each open task (as reset_branch
        # would, minus resetting the task itself).
        if task.has_state(TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            task.task_spec._predict_hook(task)
            for child in task.children:
                child.task_spec._predict(child, mask=REPREDICT)
        elif task.state == TaskState.FUTURE:
            task.task_spec._predict(task, mask=REPREDICT)
    if wf.last_task is not None and wf.last_task.id not in wf.tasks:
        wf.last_task = None


def _retarget_rows(session, runtime, instance, target, before, after) -> None:
    """Rows of tasks, timers and waits that stayed now describe their element in the target
    (new and gone rows were written like any step's)."""
    for task_id, task in after.human.items():
        if task_id not in before.human:
            continue
        row = session.scalars(select(HumanTask).where(HumanTask.task_id == task_id)).one()
        # The SLA runs from when the task opened, by the target's SLA.
        fresh = runtime.human_task_row(instance, target, task, row.created_at)
        if row.department != fresh["department"]:
            row.claimed_by, row.claimed_at = None, None
        if row.due_at != fresh["due_at"]:
            row.warned_at, row.escalated_at = None, None
        for key in ("bpmn_id", "name", "department", "form_key", "process_key", "due_at",
                    "at_risk_at"):
            setattr(row, key, fresh[key])
    for task_id, due in after.timers.items():
        if task_id in before.timers:
            session.execute(update(Timer).where(Timer.instance_id == instance.id,
                                                Timer.task_id == task_id)
                            .values(bpmn_id=due.bpmn_id))
    for (task_id, name), waiting in after.messages.items():
        if (task_id, name) in before.messages:
            session.execute(update(MessageSubscription).where(
                MessageSubscription.instance_id == instance.id,
                MessageSubscription.task_id == task_id, MessageSubscription.name == name)
                .values(bpmn_id=waiting.bpmn_id))
