"""The stack walk engine/runtime/task_depth.py gives SpiffWorkflow's task iterators visits the
same tasks in the same order as the library's own walk: a replay is bit-exact only if the engine
runs READY tasks in the order it always did. Every walk the shipped flows make (filings, steps,
messages, timers, call activities, a QA loop, complaint tiers) is made both ways and compared,
and so are walks with each kind of filter over a deep loop and a running call activity."""
from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskIterator, TaskState
from SpiffWorkflow.workflow import Workflow

from engine import clock
from engine.runtime import determinism, task_depth, unit
from tests.conftest import DATA, ROOT
from tests.engine.runtime import test_flows as flows
from tests.engine.runtime.test_flows import desk  # noqa: F401  (the flows' fixture)

# The library's walk: a bound it never reaches keeps its own _next, depth and all.
LIBRARY = {"max_depth": task_depth.UNLIMITED - 1}

FLOWS = [flows.test_refund_first_pays_before_the_goods_come_back,
         flows.test_missed_pickups_are_rebooked_twice_then_escalated,
         flows.test_repair_in_warranty_with_a_failed_qa_loop,
         flows.test_complaint_goes_up_the_tiers_then_to_supervisor_and_management]

FILTERS = [{}, {"state": TaskState.READY}, {"state": TaskState.READY, "manual": False},
           {"state": TaskState.WAITING}, {"state": TaskState.NOT_FINISHED_MASK},
           {"state": TaskState.FINISHED_MASK}, {"state": TaskState.PREDICTED_MASK},
           {"skip_subprocesses": True}, {"spec_name": "handle"}, {"end_at_spec": "gateway"}]


def _ids(tasks) -> list:
    return [task.id for task in tasks]


@pytest.fixture
def compared(monkeypatch) -> list[int]:
    """Every workflow query of the test is answered by the stack walk and checked against the
    library's walk; yields the sizes of the answers."""
    determinism.install()
    walks: list[int] = []
    get_tasks = Workflow.get_tasks

    def both_ways(workflow, first_task=None, **kwargs):
        found = get_tasks(workflow, first_task, **kwargs)
        if "max_depth" not in kwargs:
            assert _ids(found) == _ids(get_tasks(workflow, first_task, **kwargs, **LIBRARY))
            walks.append(len(found))
        return found
    monkeypatch.setattr(Workflow, "get_tasks", both_ways)
    return walks


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.__name__[5:45])
def test_every_walk_of_the_shipped_flows_is_the_librarys(compared, desk, flow):  # noqa: F811
    flow(desk)
    assert len(compared) > 50


def _loop(target: int) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(DATA / "loop" / "loop.bpmn"))
    workflow = BpmnWorkflow(parser.get_spec("loop"))
    workflow.task_tree.data.update(passes=0, target=target)
    workflow.do_engine_steps()
    return workflow


def _inside_a_call_activity(script_engine) -> BpmnWorkflow:
    """The entry process routed, its refund-first call activity running."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(path) for path in (ROOT / "bpmn").glob("*.bpmn")])
    parser.add_dmn_files([str(path) for path in (ROOT / "bpmn").glob("*.dmn")])
    spec = parser.get_spec("aftersales_request")
    workflow = BpmnWorkflow(spec, parser.get_subprocess_specs("aftersales_request"),
                            script_engine=script_engine)
    workflow.task_tree.data.update(
        request_no="AS-1", order_id="O-1", customer_id="C-1", customer_tier="normal",
        type="return_refund", category="apparel", amount=120, reason="", items=[],
        address="", repeat_complaints=0, damage=False, pickup=False, in_warranty=False)
    with unit.of_work("AS-1", 1, clock.now()):     # service calls collected, as in a verb
        workflow.do_engine_steps()
    return workflow


@pytest.mark.parametrize("kwargs", FILTERS, ids=lambda kwargs: ",".join(kwargs) or "all")
def test_filtered_walks_match_the_library_on_deep_and_nested_trees(runtime, kwargs):
    determinism.install()
    for workflow in (_loop(400), _inside_a_call_activity(runtime.script_engine)):
        fast = workflow.get_tasks(**kwargs)
        assert _ids(fast) == _ids(workflow.get_tasks(**kwargs, **LIBRARY))
        plain = {k: v for k, v in kwargs.items() if k != "skip_subprocesses"}   # not BPMN's
        for tree in [workflow.task_tree] + [sub.task_tree for sub in workflow.subprocesses.values()]:
            assert _ids(TaskIterator(tree, **plain)) == _ids(TaskIterator(tree, **plain, **LIBRARY))
    [called] = workflow.subprocesses.values()       # the entry process called refund-first,
    assert any(len(task._children) > 1 for task in called.tasks.values())     # which branches


def test_the_unlimited_walk_keeps_a_stack_and_a_bounded_walk_is_the_librarys():
    determinism.install()
    workflow = _loop(3)
    unlimited = workflow.get_tasks_iterator()
    bounded = workflow.get_tasks_iterator(max_depth=10)
    next(unlimited), next(bounded)
    assert unlimited._walk is not None and bounded._walk is None


def _no_walk(monkeypatch) -> None:
    """Any walk from here on fails the test."""
    def walked(_iterator):
        raise AssertionError("walked the tree")
    monkeypatch.setattr(BpmnTaskIterator, "__next__", walked)
    monkeypatch.setattr(TaskIterator, "__next__", walked)


def test_the_one_ready_task_of_a_deep_tree_is_found_without_a_walk(monkeypatch):
    determinism.install()
    workflow = _loop(400)
    expected = _ids(workflow.get_tasks(state=TaskState.READY, **LIBRARY))
    assert len(expected) == 1 and not workflow.get_tasks(state=TaskState.WAITING, **LIBRARY)
    _no_walk(monkeypatch)
    assert _ids(workflow.get_tasks(state=TaskState.READY)) == expected
    assert workflow.get_tasks(state=TaskState.WAITING) == []
    workflow.update_waiting_tasks()            # nothing waits: nothing walked


def _ready(workflow):
    [task] = [task for task in workflow.tasks.values() if task.state == TaskState.READY]
    return task


@pytest.mark.parametrize("state", [TaskState.READY, TaskState.NOT_FINISHED_MASK,
                                   TaskState.FINISHED_MASK, TaskState.PREDICTED_MASK])
def test_a_task_the_walk_does_not_reach_is_not_found(runtime, state):
    """A READY task under a parent only predicted (the walk for definite states does not go
    below it), and the READY task of a subprocess whose task is under such a parent (the walk
    never meets the task that would take it into the subprocess): the same answers as the
    library's walk, from the top workflow and from the subprocess."""
    determinism.install()
    loop = _loop(3)
    _ready(loop).parent._state = TaskState.LIKELY
    nested = _inside_a_call_activity(runtime.script_engine)
    [called] = nested.subprocesses.values()
    nested.get_task_from_id(called.parent_task_id).parent._state = TaskState.LIKELY
    for workflow in (loop, nested, called):
        assert _ids(workflow.get_tasks(state=state)) == \
            _ids(workflow.get_tasks(state=state, **LIBRARY))
    assert loop.get_tasks(state=TaskState.READY) == []
    assert [task.workflow for task in called.get_tasks(state=TaskState.READY)] == [called]
    assert nested.get_tasks(state=TaskState.READY) == []
