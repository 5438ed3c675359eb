"""A loop past SpiffWorkflow's task-iterator depth (issue 23, item 2): the instance waits for its
last task instead of ending silently. SpiffWorkflow 3.2 stops walking the task tree at depth 1000
(about pass 500 of this loop), so without engine/runtime/task_depth.py the instance below was
stored `completed` with its user task dropped, and a replay agreed."""
from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.access import Actor
from engine.history import replay
from engine.runtime import task_depth
from tests.conftest import DATA

LOOP = DATA / "loop"
AGENT = Actor("cs_1", "staff", "customer_service")


@pytest.mark.parametrize("passes", [1500])
def test_a_loop_of_many_passes_waits_for_its_last_task(run, deploy, sessions, task_of, runtime,
                                                      passes):
    deploy(LOOP)
    instance = run("start", "loop", {"request_no": f"LOOP-{passes}", "passes": 0,
                                     "target": passes}, AGENT)
    assert instance.status == "running"
    task_id = task_of(instance.id)                  # the user task after the last pass
    done = run("complete", task_id, {}, AGENT)
    assert done.status == "completed"
    with sessions() as session:
        assert replay.verify(session, instance.id, runtime.script_engine).ok


def test_the_library_alone_would_end_the_loop_early():
    """The limit task_depth lifts is real: the library's own bound hides the READY task."""
    task_depth.install()
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(LOOP / "loop.bpmn"))
    workflow = BpmnWorkflow(parser.get_spec("loop"))
    workflow.task_tree.data.update(passes=0, target=600)
    workflow.do_engine_steps()
    bounded = list(workflow.get_tasks(state=TaskState.READY, manual=True, max_depth=1000))
    unbounded = list(workflow.get_tasks(state=TaskState.READY, manual=True))
    assert bounded == [] and [t.task_spec.name for t in unbounded] == ["handle"]
    assert not workflow.is_completed()
