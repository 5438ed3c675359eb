"""Instance states as JSON text (engine/runtime/serialization.py): a task is written byte for byte
as the library's own converter writes it (TaskConverter through the registry), so a history
recorded either way verifies the other way, and a value the direct text does not cover is written
by the library; a task is restored as the library's converter restores it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from bench.throughput import refund_first_one
from engine import clock
from engine.access import SYSTEM
from engine.definitions import catalog
from engine.history import replay
from engine.models import Instance
from engine.runtime import serialization, state_store
from tests.conftest import DATA, ROOT
from tests.engine.runtime.test_workflow_cache import Loop


def _histories(sessions, runtime, deploy, run) -> list[int]:
    """A refund-first request (a call activity, DMN routing, service calls, messages), a loop
    of 20 passes (many chunks) and a request whose timer fired; their instance ids."""
    deploy(ROOT / "bpmn")
    deploy(DATA / "simple")
    refund = refund_first_one(SimpleNamespace(sessions=sessions, runtime=runtime), 1)
    loop = Loop(sessions, runtime)
    for _ in range(20):
        loop.complete()
    timed = run("start", "simple", {"request_no": "AS-2", "amount": 5.0}, SYSTEM)
    clock.advance(timedelta(days=2))
    run("fire_due_timers")
    return [refund, loop.id, timed.id]


@pytest.mark.parametrize("recorded_by, verified_by", [("library", "text"), ("text", "library")])
def test_a_history_recorded_either_way_verifies_the_other_way(
        sessions, runtime, deploy, run, monkeypatch, recorded_by, verified_by):
    monkeypatch.setattr(serialization, "_TASK_TEXT", recorded_by == "text")
    ids = _histories(sessions, runtime, deploy, run)
    monkeypatch.setattr(serialization, "_TASK_TEXT", verified_by == "text")
    with sessions() as session:
        results = [replay.verify(session, i, runtime.script_engine) for i in ids]
    assert [(r.ok, r.divergence) for r in results] == [(True, None)] * 3
    assert [r.events for r in results] == [6, 21, 2]


def _loaded(session, instance_id: int, runtime, monkeypatch, fast: bool) -> BpmnWorkflow:
    monkeypatch.setattr(serialization, "_FAST_RESTORE", fast)
    instance = session.get(Instance, instance_id)
    compiled = catalog.compiled(session, instance.definition_id)
    return state_store.load(session, instance, compiled, runtime.script_engine)[0]


def _picture(workflow: BpmnWorkflow) -> list:
    """What a restore sets on every task of `workflow` and its subprocesses (objects as the
    registry writes them), the tasks waiting for events, and which of a task's values are its
    parent's own objects (none should be: a task's data is a copy of its parent's, each list
    and dict of it too)."""
    convert = serialization._serializer.registry.convert
    tasks = [t for wf in (workflow, *workflow.subprocesses.values()) for t in wf.tasks.values()]
    return [[(t.id, type(t.id), t.task_spec.name, t.state, t.last_state_change, t.triggered,
              t._parent, t._children, convert(t.data), convert(t.internal_data),
              [k for k, v in t.data.items() if t.parent is not None and v is t.parent.data.get(k)
               and isinstance(v, (dict, list, set))]) for t in tasks],
            sorted(workflow.event_manager.tasks)]


def test_a_task_is_restored_as_the_library_restores_it(sessions, runtime, deploy, run,
                                                       monkeypatch):
    ids = _histories(sessions, runtime, deploy, run)
    waiting = run("start", "simple", {"request_no": "AS-3", "amount": 5.0}, SYSTEM).id
    with sessions() as session:
        for instance_id in [*ids, waiting]:
            fast = _loaded(session, instance_id, runtime, monkeypatch, fast=True)
            library = _loaded(session, instance_id, runtime, monkeypatch, fast=False)
            assert _picture(fast) == _picture(library)
            assert serialization.dump_chunked(fast).manifest == \
                serialization.dump_chunked(library).manifest
    assert _picture(fast)[1]                    # the timer the last one waits for


@pytest.mark.parametrize("fast", [True, False])
def test_a_history_verifies_whichever_converter_restores_its_tasks(
        sessions, runtime, deploy, run, monkeypatch, fast):
    ids = _histories(sessions, runtime, deploy, run)
    monkeypatch.setattr(serialization, "_FAST_RESTORE", fast)
    with sessions() as session:
        results = [replay.verify(session, i, runtime.script_engine) for i in ids]
    assert [(r.ok, r.divergence) for r in results] == [(True, None)] * 3


def _workflow() -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(DATA / "simple" / "simple.bpmn"))
    return BpmnWorkflow(parser.get_spec("simple"), parser.get_subprocess_specs("simple"))


def _texts(workflow, monkeypatch, direct: bool) -> list[str]:
    monkeypatch.setattr(serialization, "_TASK_TEXT", direct)
    chunked = serialization.dump_chunked(workflow)
    return [chunked.manifest] + [c.body for chunks in chunked.chunks.values() for c in chunks]


def test_every_kind_of_value_is_written_as_the_library_writes_it(monkeypatch):
    workflow = _workflow()
    root, child, grandchild = list(workflow.tasks.values())[:3]
    root.set_data(amount=Decimal("399.00"), note="退款 \"ok\"\n", items=[{"sku": "T-M", "qty": 1}],
                  nothing=None, ratio=float("nan"), tags={"b"}, when=datetime(2026, 1, 2, 3, 4,
                                                                         tzinfo=timezone.utc))
    child.data = dict(root.data, items=[{"sku": "T-M", "qty": 2}], extra=1)   # changed, added
    del child.data["note"]                                                      # and deleted
    grandchild.data = {k: v for k, v in child.data.items() if k != "nothing"}   # deleted only
    child.internal_data = {"event_value": "2026-01-03T00:00:00+00:00",
                           "due": datetime(2026, 1, 3, tzinfo=timezone.utc), "n": Decimal("1.5")}
    texts = _texts(workflow, monkeypatch, direct=True)
    assert texts == _texts(workflow, monkeypatch, direct=False)
    assert '"deletions":["note"]' in texts[1] and "\\u9000\\u6b3e" in texts[1]


def test_a_value_the_direct_text_does_not_cover_is_written_by_the_library(monkeypatch):
    workflow = _workflow()
    tasks = list(workflow.tasks.values())
    tasks[0].last_state_change = 1795371338          # an int, not a float
    tasks[1].last_state_change = float("inf")
    tasks[2].triggered = None
    texts = _texts(workflow, monkeypatch, direct=True)
    assert texts == _texts(workflow, monkeypatch, direct=False)
    assert '"last_state_change":1795371338,' in texts[1]
    assert '"last_state_change":Infinity,' in texts[1]
