"""Moving a workflow's task tree onto another version of its process, in memory.

A move keeps everything that happened and everything that is open: completed tasks, READY user
tasks (same task ids, so claims and links stay valid), WAITING timers with their due times and
message waits, tasks in ERROR (a fix deployed as a new version can then be retried). Each kept
task is pointed at the element of the target version with the same BPMN id, or the id given in
`mapping` ({old_id: new_id}); the engine's own steps derived from an element
(`review.BoundaryEventSplit`...) follow their element. What the engine had only predicted
(MAYBE/LIKELY tasks, FUTURE tasks below an open one) is dropped and predicted again from the
target. Cancelled branches whose element is gone are dropped: they never ran.

A tree can move when every kept task has a counterpart, and every open one (READY, WAITING,
STARTED, ERROR) a counterpart of a compatible kind (same task type, same kind of event, same
called process). `layout()` decides where everything goes and what stands in the way without
changing anything; `apply()` then reshapes the tree. Nothing here reads or writes the database:
engine/runtime/instance_migration.py moves stored instances with it, and replay re-applies
recorded moves.

Why not `SpiffWorkflow.bpmn.util.diff.migrate_workflow`: it resets READY and WAITING tasks (a
running timer would start again, task data is re-copied from the parent), keeps the old spec on
tasks whose element was removed (which a spec-by-reference state cannot store), and its
`SpecDiff` does not align a task whose id was renamed; the explicit mapping here does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.util.task import TaskState

from engine.definitions import catalog
from engine.errors import Conflict, InvalidInput

OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
# Engine steps named after the element they belong to (see SpiffWorkflow's TaskParser).
DERIVED_SUFFIXES = (".BoundaryEventSplit", ".BoundaryEventJoin", ".EndJoin", " [child]")
REPREDICT = TaskState.PREDICTED_MASK | TaskState.FUTURE


def move(workflow, target: catalog.Compiled, mapping: dict):
    """Point `workflow` at the target's specs; returns it. Raises Conflict (with
    `details={"reasons": [...]}`) when it cannot move, before anything is changed."""
    items, problems, _ = layout(workflow, target, normalize_mapping(mapping))
    if problems:
        raise Conflict("; ".join(problems), details={"reasons": problems})
    return apply(workflow, target, items)


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


def in_target(name: str, target: catalog.Compiled) -> bool:
    """Does the target version (its process or a process it calls) have an element `name`?"""
    return any(name in spec.task_specs for spec in [target.spec, *target.subprocess_specs.values()])


@dataclass
class _Move:
    """What happens to one (sub)workflow: its new spec, each kept task's new task spec, and the
    branches to drop (the top-most task of each)."""

    workflow: object
    spec: object
    specs: dict = field(default_factory=dict)
    dropped: list = field(default_factory=list)


def layout(workflow, target: catalog.Compiled, mapping: dict):
    """Decide, without changing anything, where every task of `workflow` goes.

    Returns (the moves for `apply()`, problems, {open element: target element}); the move can
    be applied only when there are no problems.
    """
    problems: list[str] = []
    moves: dict[str, str] = {}
    items = []
    queue = [(workflow, target.spec)]
    while queue:
        wf, spec = queue.pop(0)
        item = _Move(wf, spec)
        _classify(wf.task_tree, wf.spec, item, target, mapping, problems, moves)
        items.append(item)
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
    return items, problems, moves


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


def apply(workflow, target: catalog.Compiled, items: list[_Move]):
    """Reshape `workflow` as `layout()` decided (it must have found no problems); returns it."""
    for item in items:
        _apply(item)
    workflow.subprocess_specs = target.subprocess_specs
    return workflow


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
