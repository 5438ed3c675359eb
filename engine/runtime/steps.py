"""What each kind of event does to a workflow: shared by the runtime (live) and replay.

Every state-changing audit event is one of these applications followed by `advance()`. Keeping
them in one place is what guarantees that replaying the recorded inputs repeats exactly what the
runtime did.
"""
from __future__ import annotations

from copy import deepcopy
from datetime import timedelta
from uuid import UUID

from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition, SignalEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.errors import Conflict


def start(spec, subprocess_specs, script_engine, data: dict):
    def apply(_workflow):
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
        workflow.task_tree.data.update(data)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        return workflow
    return apply


def complete(task_id: str, data: dict):
    def apply(workflow):
        task = workflow.get_task_from_id(UUID(task_id))
        # Task.run() does not check the state (G5): a stale submission must not revive or run
        # a task that is no longer READY.
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise Conflict("task is no longer open", task_id=task_id)
        task.set_data(**data)
        task.run()
        return workflow
    return apply


def message(name: str, payload: dict):
    def apply(workflow):
        try:
            workflow.send_event(BpmnEvent(MessageEventDefinition(name), payload))
        except WorkflowException as err:
            raise Conflict(f"the request is not waiting for '{name}' now") from err
        return workflow
    return apply


def signal(name: str, payload: dict):
    """Send signal `name` into the workflow: every catch waiting for it there fires (the
    catch's `spiffworkflow:variableName`, if its signal names one, receives `payload`)."""
    def apply(workflow):
        try:
            workflow.send_event(BpmnEvent(SignalEventDefinition(name), payload))
        except WorkflowException as err:
            raise Conflict(f"the request is not waiting for signal '{name}' now") from err
        return workflow
    return apply


def timers():
    def apply(workflow):
        workflow.refresh_timers()
        return workflow
    return apply


def reschedule_timer(task_id: str, due_at: str | None):
    """Move a waiting timer's due time to `due_at` (ISO 8601; None: a moment before now, so it
    fires at once), then let the timers that are due fire."""
    def apply(workflow):
        task = workflow.get_task_from_id(UUID(task_id))
        value = task.internal_data.get("event_value") if task is not None else None
        if task is None or task.state != TaskState.WAITING or value is None or \
                (isinstance(value, dict) and value.get("cycles") == 0):
            raise Conflict("no timer waits there now", task_id=task_id)
        due = due_at or (clock.now() - timedelta(microseconds=1)).isoformat()   # the unit's time
        task.internal_data["event_value"] = {**value, "next": due} if isinstance(value, dict) \
            else due
        workflow.refresh_timers()
        return workflow
    return apply


def cancel():
    def apply(workflow):
        workflow.cancel()
        return workflow
    return apply


def retry(task_id: str, data: dict | None):
    """Re-run a failed task; `data` corrects fields of the data it ran with."""
    def apply(workflow):
        workflow.reset_from_task_id(UUID(task_id))
        # The reset task has just inherited its parent's data again; correct it only now.
        if data:
            workflow.get_task_from_id(UUID(task_id)).data.update(deepcopy(data))
        return workflow
    return apply


def for_event(kind: str, payload: dict, task_id: str | None, compiled, script_engine):
    """The application that a recorded state-changing event stands for."""
    if kind == "started":
        return start(compiled.spec, compiled.subprocess_specs, script_engine, payload["data"])
    if kind == "task_completed":
        return complete(task_id, payload["data"])
    if kind == "message_delivered":
        return message(payload["name"], payload["payload"])
    if kind == "signal_received":
        return signal(payload["name"], payload["payload"])
    if kind == "timer_fired":
        return timers()
    if kind == "cancelled":
        return cancel()
    if kind == "retried":
        return retry(payload["task_id"], payload.get("data"))
    if kind == "timer_rescheduled":
        return reschedule_timer(task_id, payload.get("due_at"))
    raise ValueError(f"event kind {kind!r} does not change the workflow")


def advance(workflow) -> tuple[str | None, str | None]:
    """Run the engine until it waits; returns (error message, failed task id) on a task error."""
    try:
        workflow.do_engine_steps()
    except WorkflowException as err:
        task = getattr(err, "task", None)
        where = f" in {task.task_spec.bpmn_id}" if task is not None else ""
        return f"{err}{where}", (str(task.id) if task is not None else None)
    return None, None
