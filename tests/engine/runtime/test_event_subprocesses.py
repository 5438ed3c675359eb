"""Starting an event subprocess leaves the version's shared spec as it was compiled.

SpiffWorkflow's first start of an event subprocess connects it into the process spec; on the
compiled spec that every instance of a version shares, later instances then started with the
subprocess armed, and replays diverged. Run with and without a save/restore between steps.
"""
from __future__ import annotations

import pytest
from SpiffWorkflow.util.task import TaskState

from engine.definitions import catalog
from engine.runtime import projection, serialization, steps
from engine.runtime.scripting import PlatformScriptEngine
from tests.conftest import DATA

SOURCES = {"stock_hold.bpmn": (DATA / "signals" / "stock_hold.bpmn").read_text()}


def shape(workflow) -> list[tuple[str, str]]:
    return [(t.task_spec.name, TaskState.get_name(t.state)) for t in workflow.get_tasks()]


@pytest.mark.parametrize("restore", [False, True])
def test_a_triggered_event_subprocess_does_not_change_later_instances(restore):
    compiled = catalog.compile_sources("stock_hold", SOURCES, {})
    engine = PlatformScriptEngine()

    def step(workflow, apply):
        workflow = apply(workflow)
        workflow.do_engine_steps()
        if restore:
            workflow = serialization.load(serialization.dump(workflow), compiled.spec,
                                          compiled.subprocess_specs, engine)
        return workflow

    start = steps.start(compiled.spec, compiled.subprocess_specs, engine, {})
    before = shape(step(None, start))
    first = step(None, start)
    first = step(first, steps.signal("price_changed", {"amount": 12}))
    assert [t.data.get("price_noted") for t in first.get_tasks(spec_name="note_price")] == [12]
    first = step(first, steps.signal("price_changed", {"amount": 13}))   # non-interrupting
    assert sorted(t.data.get("price_noted")
                  for t in first.get_tasks(spec_name="note_price")) == [12, 13]
    later = step(None, start)
    assert shape(later) == before                  # not started with the subprocess armed
    waits = {name for _, name in projection.project(later).messages}
    assert waits == {"signal:stock_released", "signal:price_changed"}
