"""engine/runtime/log_extras.py: SpiffWorkflow gathers a log record's details (a copy of the
task's data on every state change, a walk of the whole tree for a workflow's records) only when
its logger would log them; with the `spiff` loggers at INFO or DEBUG the records are the
library's own."""
from __future__ import annotations

import logging

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.runtime import determinism
from tests.conftest import DATA


def _loop_workflow() -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(DATA / "loop" / "loop.bpmn"))
    workflow = BpmnWorkflow(parser.get_spec("loop"))
    workflow.task_tree.data.update(passes=0, target=2, secret="customer's words")
    return workflow


def test_no_details_are_gathered_for_records_nobody_logs(caplog):
    determinism.install()
    caplog.set_level(logging.WARNING, logger="spiff")
    workflow = _loop_workflow()
    workflow.do_engine_steps()
    assert workflow.task_tree.collect_log_extras() == {}
    assert workflow.collect_log_extras() == {}
    assert not [r for r in caplog.records if r.name.startswith("spiff")]


def test_a_spiff_logger_at_debug_gets_the_librarys_records_with_their_details(caplog):
    determinism.install()
    caplog.set_level(logging.DEBUG, logger="spiff")
    workflow = _loop_workflow()
    workflow.do_engine_steps()
    changes = [r for r in caplog.records if r.name == "spiff.task"
               and r.getMessage().startswith("State changed")]
    assert changes and all(r.task_spec and r.workflow_spec == "loop" for r in changes)
    assert any(getattr(r, "data", None) and r.data.get("secret") for r in changes)
    assert set(workflow.collect_log_extras()) >= {"workflow_spec", "root", "tasks"}
