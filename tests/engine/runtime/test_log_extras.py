"""engine/runtime/log_extras.py: SpiffWorkflow gathers a log record's details (a copy of the
task's data on every state change, a walk of the whole tree for a workflow's records) only when
its logger would log them; with the `spiff` loggers at INFO or DEBUG the records are the
library's own."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.runtime import determinism
from tests.conftest import DATA


def _loop_workflow() -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(DATA / "loop" / "loop.bpmn"))
    workflow = BpmnWorkflow(parser.get_spec("loop"))
    workflow.task_tree.data.update(passes=0, target=2, secret="customer's words")
    return workflow


def _stepped(caplog, level: int) -> BpmnWorkflow:
    """The loop workflow after its engine steps, the `spiff` loggers at `level`."""
    determinism.install()
    caplog.set_level(level, logger="spiff")
    workflow = _loop_workflow()
    workflow.do_engine_steps()
    return workflow


def test_no_details_are_gathered_for_records_nobody_logs(caplog):
    workflow = _stepped(caplog, logging.WARNING)
    assert workflow.task_tree.collect_log_extras() == {}
    assert workflow.collect_log_extras() == {}
    assert not [r for r in caplog.records if r.name.startswith("spiff")]


def test_a_spiff_logger_at_debug_gets_the_librarys_records_with_their_details(caplog):
    workflow = _stepped(caplog, logging.DEBUG)
    changes = [r for r in caplog.records if r.name == "spiff.task"
               and r.getMessage().startswith("State changed")]
    assert changes and all(r.task_spec and r.workflow_spec == "loop" for r in changes)
    assert any(getattr(r, "data", None) and r.data.get("secret") for r in changes)
    assert set(workflow.collect_log_extras()) >= {"workflow_spec", "root", "tasks"}


def _states_after_a_run(set_state) -> list[tuple]:
    original = Task._set_state
    Task._set_state = set_state
    try:
        with clock.pinned(datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)), \
                determinism.seeded("same ids"):
            workflow = _loop_workflow()
            workflow.do_engine_steps()
            for task in workflow.get_tasks(state=TaskState.READY, manual=True):
                task.run()
            workflow.do_engine_steps()
    finally:
        Task._set_state = original
    return [(str(t.id), t.task_spec.name, t.state, t.last_state_change)
            for t in workflow.get_tasks()]


def test_a_state_change_nobody_logs_sets_the_same_state_and_time_as_the_librarys(caplog):
    determinism.install()
    caplog.set_level(logging.WARNING, logger="spiff")
    quiet = Task._set_state
    assert quiet.library_set_state is not quiet
    assert _states_after_a_run(quiet) == _states_after_a_run(quiet.library_set_state)
    assert not [r for r in caplog.records if r.name.startswith("spiff")]


def test_a_spiff_logger_at_info_gets_every_state_change_with_its_name(caplog):
    _stepped(caplog, logging.INFO)
    changes = [r.getMessage() for r in caplog.records if r.name == "spiff.task"]
    assert "State changed to READY" in changes and "State changed to COMPLETED" in changes
