"""What a workflow state implies for the query tables: READY human tasks, timers, subscriptions.

Pure functions of a `BpmnWorkflow`. The runtime diffs the projection before and after a step and
writes only the difference; `rebuild()` rewrites an instance's rows from its state alone.

Signal waits are subscriptions too, in the same table as message waits, their name prefixed
with SIGNAL_PREFIX (a signal goes to every instance waiting for it, whatever its correlation,
so one table serves both without a migration). They are the waiting signal catches
(intermediate and boundary events) and, while the instance runs, the signal start events of its
event subprocesses: SpiffWorkflow starts an event subprocess for any event that matches its
start, so that subscription lasts as long as the instance, keyed by the workflow's root task.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine.runtime import event_subprocesses


SIGNAL_PREFIX = "signal:"


def signal_subscription(name: str) -> str:
    """The subscription name of a wait for signal `name`."""
    return SIGNAL_PREFIX + name


@dataclass(frozen=True)
class TimerDue:
    task_id: str
    bpmn_id: str
    due_at: datetime


@dataclass(frozen=True)
class Waiting:
    task_id: str
    bpmn_id: str
    message: str


@dataclass
class Projection:
    human: dict          # task id -> Spiff task (READY, manual)
    timers: dict         # task id -> TimerDue
    messages: dict       # (task id, message name) -> Waiting


def project(workflow) -> Projection:
    human = {str(t.id): t for t in ready_user_tasks(workflow)}
    timers: dict = {}
    messages: dict = {}
    for task in workflow.event_manager.tasks.values():
        task_id, bpmn_id = str(task.id), task.task_spec.bpmn_id or task.task_spec.name
        for part in _waited_events(task):
            if isinstance(part, TimerEventDefinition):
                due = timer_due(task)
                if due is not None:
                    timers[task_id] = TimerDue(task_id, bpmn_id, due)
            elif isinstance(part, MessageEventDefinition):
                messages[(task_id, part.name)] = Waiting(task_id, bpmn_id, part.name)
            elif isinstance(part, SignalEventDefinition):
                name = signal_subscription(part.name)
                messages[(task_id, name)] = Waiting(task_id, bpmn_id, name)
    if not workflow.is_completed():
        root = str(workflow.task_tree.id)
        for start in event_subprocesses.starts(workflow):
            if isinstance(start.event_definition, SignalEventDefinition):
                name = signal_subscription(start.event_definition.name)
                messages[(root, name)] = Waiting(root, start.bpmn_id or start.name, name)
    return Projection(human, timers, messages)


def waits_for_a_message(workflow) -> bool:
    """Whether a task of the workflow waits for a message (one of `project`'s subscriptions
    that is not a signal), without walking the task tree."""
    return any(isinstance(part, MessageEventDefinition)
               for task in workflow.event_manager.tasks.values() for part in _waited_events(task))


def _waited_events(task) -> list:
    """The event definitions a waiting event task waits for (each part of a multiple one)."""
    definition = task.task_spec.event_definition
    return (definition.event_definitions if isinstance(definition, MultipleEventDefinition)
            else [definition])


def ready_user_tasks(workflow) -> list:
    """The READY manual tasks of the workflow and its subprocesses, in the order
    `get_tasks(state=READY, manual=True)` gives them.

    The library's iterator walks the task tree, whose depth grows with every pass of a loop;
    scanning the task maps is several times cheaper. Two or more are left to the iterator, for
    its order (the rows of new tasks are inserted in it)."""
    ready = [task for wf in (workflow, *workflow.subprocesses.values())
             for task in wf.tasks.values()
             if task.state == TaskState.READY and task.task_spec.manual]
    if len(ready) > 1:
        return workflow.get_tasks(state=TaskState.READY, manual=True)
    return ready


def timer_due(task) -> datetime | None:
    """The due time of a WAITING timer task (boundary, intermediate, event gateway, cycle)."""
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(value, dict):            # timeCycle: {'cycles', 'next', 'duration'}
        if value.get("cycles") == 0:
            return None
        due = datetime.fromisoformat(value["next"])
    else:
        due = TimerEventDefinition.get_datetime(value)
    if due.tzinfo is None:
        due = due.replace(tzinfo=timezone.utc)
    return due.astimezone(timezone.utc)
