"""A workflow's tasks in one state, found without walking the tree when at most one task is in it.

`do_engine_steps` asks the workflow for its READY tasks about ten times a step, and every task
that runs asks for the WAITING ones (`update_waiting_tasks`); each question walks the whole task
tree, though in the shipped flows it almost always has one answer or none (a refund-first
journey: 66 READY questions, none with two answers; 50 WAITING questions, 47 with none). A task
is in the tree only if it is in its workflow's `tasks` (the walk looks children up there), so:

- no task of the workflow or its subprocesses in the state: the answer is empty;
- exactly one: the answer is that task if the walk would reach it, which is decided by its
  ancestors alone (each must let the walk descend, as engine/runtime/task_depth.py's walk
  decides, and a subprocess's tree is entered from the task that runs it);
- two or more: the walk itself, which gives their order.

Only `get_tasks(state=...)` from the root of a BPMN workflow, as the library asks, is answered
so; any other query is the library's walk. `update_waiting_tasks` walks lazily (a waiting task's
update may change the states of the tasks after it), so it only skips the walk when nothing is
WAITING. Same answers as the walk (tests/engine/runtime/test_task_walk.py compares them on every
query of the shipped flows and on crafted trees).

Noted for upstream: the walk's "do not descend into a completed subprocess to look for
unfinished tasks" compares a state with a mask (`task.state >= TaskState.FINISHED_MASK`, 448,
above every single state), so it never holds and finished subprocesses are always entered; this
module keeps that behaviour, since replays must run as the recorded steps ran.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import Workflow

from engine.runtime import task_depth

_MANY = object()


def install() -> None:
    """Answer state queries without the walk where the answer is at most one task (idempotent)."""
    if Workflow.get_tasks is not _get_tasks:
        _get_tasks.library = Workflow.get_tasks
        _update_waiting_tasks.library = Workflow.update_waiting_tasks
        Workflow.get_tasks = _get_tasks
        Workflow.update_waiting_tasks = _update_waiting_tasks


def _get_tasks(self, first_task=None, **kwargs):
    """Workflow.get_tasks: for a query of the state alone from the root, the sole task in that
    state if the walk reaches it, else the walk's answer."""
    if first_task is None and kwargs.keys() == {"state"}:
        walk = self.get_tasks_iterator(None, **kwargs)
        if type(walk) is BpmnTaskIterator and task_depth.state_only(walk):
            sole = _sole(self.top_workflow, walk.task_filter.state)
            if sole is None:
                return []
            if sole is not _MANY:
                return [sole] if _reached(walk, sole) else []
        return list(walk)
    return _get_tasks.library(self, first_task, **kwargs)


def _update_waiting_tasks(self) -> None:
    """Workflow.update_waiting_tasks, which has nothing to update when no task is WAITING."""
    waiting = TaskState.WAITING
    if any(task._state & waiting for task in self.tasks.values()):
        _update_waiting_tasks.library(self)


def _sole(top, state: int):
    """The one task of `top` and its subprocesses in `state`, None if there is none, _MANY if
    there are more."""
    found = None
    for workflow in (top, *top.subprocesses.values()):
        for task in workflow.tasks.values():
            if task._state & state:
                if found is not None:
                    return _MANY
                found = task
    return found


def _reached(walk: BpmnTaskIterator, task) -> bool:
    """Whether `walk` (not begun) visits `task`: going up from it to the walk's first task,
    every parent lets the walk descend to its children, and every subprocess passed is entered
    from the task that runs it (task_depth._next_bpmn_task's conditions)."""
    start = walk.task_list[0]
    top = start.workflow.top_workflow
    subprocesses = top.subprocesses
    while task is not start:
        parent = task.parent
        if parent is None:                     # the root of a tree: a subprocess's, or no way up
            runner = _runner(top, task.workflow)
            if runner is None or runner.task_spec.name == walk.end_at_spec or \
                    walk.skip_subprocesses or (runner.state >= TaskState.FINISHED_MASK and
                                               walk.task_filter.state <= TaskState.FINISHED_MASK):
                return False
            task = runner
            continue
        if not (parent.state >= walk.min_state or parent.id in subprocesses) or \
                parent.task_spec.name == walk.end_at_spec:
            return False
        task = parent
    return True


def _runner(top, workflow):
    """The task that runs subprocess `workflow`, wherever it is; None for the top workflow."""
    if workflow is top:
        return None
    for holder in (top, *top.subprocesses.values()):
        runner = holder.tasks.get(workflow.parent_task_id)
        if runner is not None:
            return runner
    return None
