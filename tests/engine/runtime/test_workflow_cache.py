"""The live workflows kept between units of work (engine/runtime/workflow_cache.py): used only for
the row they were written as, never after a rollback or a failed unit, and storing the very
state a workflow loaded from the database would."""
from __future__ import annotations

import shutil
from uuid import UUID

import pytest
from sqlalchemy import select, update

from engine import config, db
from engine.access import Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.errors import StepFailed
from engine.history import replay
from engine.models import HumanTask, Instance
from engine.runtime import state_store, workflow_cache
from engine.runtime.verbs import Runtime
from tests.conftest import ROOT

GROWTH = ROOT / "bench" / "data"         # growth.bpmn: a user task in a loop
AGENT = Actor("cs_1", "staff", "customer_service")
FORM = {"settled": False}


@pytest.fixture(autouse=True)
def empty_cache():
    workflow_cache.cache.clear()
    yield
    workflow_cache.cache.clear()


@pytest.fixture
def loads(monkeypatch):
    """How many workflows were rebuilt from a stored state."""
    counter = {"n": 0}
    load = state_store.load

    def counting(*args, **kwargs):
        counter["n"] += 1
        return load(*args, **kwargs)
    monkeypatch.setattr(state_store, "load", counting)
    return counter


class Loop:
    """One growth-loop instance on one database, driven verb by verb."""

    def __init__(self, sessions, runtime, script: str | None = None):
        self.sessions, self.runtime = sessions, runtime
        bundle = Bundle.from_folder(GROWTH)
        bundle.files = {k: v for k, v in bundle.files.items() if k == "growth.bpmn"}
        if script is not None:
            bundle.files["growth.bpmn"] = bundle.files["growth.bpmn"].replace(
                b"passes = passes + 1", script.encode())
        with sessions.begin() as session:
            catalog.deploy(session, bundle, "owner")
            self.id = runtime.start(session, "growth", {"passes": 0}, AGENT,
                                    business_key="LOOP-1").id

    def task(self) -> str:
        with self.sessions() as session:
            return session.scalars(select(HumanTask.task_id)
                                   .where(HumanTask.instance_id == self.id)).one()

    def verb(self, name, *args):
        with self.sessions.begin() as session:
            return getattr(self.runtime, name)(session, *args)

    def complete(self, form=FORM):
        return self.verb("complete", self.task(), form, AGENT)

    def row(self) -> Instance:
        with self.sessions() as session:
            return session.get(Instance, self.id)

    def data(self) -> dict:
        """The data of the open task."""
        with self.sessions() as session:
            workflow = self.runtime.workflow(session, session.get(Instance, self.id))
        return workflow.get_task_from_id(UUID(self.task())).data

    def verified(self) -> bool:
        with self.sessions() as session:
            return replay.verify(session, self.id, self.runtime.script_engine).ok


@pytest.fixture
def loop(sessions, runtime):
    return Loop(sessions, runtime)


@pytest.fixture
def other_database(template_db, tmp_path):
    """A second database like the test's own, with its own runtime (same frozen clock)."""
    path = tmp_path / "other.sqlite"
    shutil.copy(template_db, path)
    url = f"sqlite:///{path}"
    engine = db.make_engine(url, durable=False)
    yield db.make_session_factory(engine), Runtime(config.Settings(database_url=url))
    engine.dispose()


def test_a_verb_after_one_of_this_process_takes_the_live_workflow(loop, loads):
    for _ in range(3):
        loop.complete()
    assert loads["n"] == 0
    assert loop.verified()


def test_the_live_workflow_stores_exactly_what_a_loaded_one_would(loop, other_database):
    cached = []
    for _ in range(4):
        loop.complete()
        cached.append(loop.row().state)
    other = Loop(*other_database)
    loaded = []
    for _ in range(4):
        workflow_cache.cache.clear()            # every unit loads the state from the database
        other.complete()
        loaded.append(other.row().state)
    assert loaded == cached and len(set(cached)) == 4


def test_a_row_written_elsewhere_is_loaded_not_taken_from_the_cache(loop, loads, monkeypatch):
    loop.complete()
    # Another process (its own cache) completes the next task: this process's entry is stale.
    with monkeypatch.context() as other_process:
        other_process.setattr(workflow_cache, "cache", workflow_cache.WorkflowCache())
        loop.complete()
    passes_before = loads["n"]
    loop.complete()
    assert loads["n"] == passes_before + 1
    assert loop.verified()


def test_the_same_row_of_another_database_never_matches(sessions, runtime, other_database,
                                                         monkeypatch):
    """Two databases whose instance 1 has the same history so far (same clock, business key,
    definition id) but another definition behind it: each runs on its own."""
    Loop(sessions, runtime)                                   # this process keeps its workflow
    with monkeypatch.context() as elsewhere:                  # the other one, started without it
        elsewhere.setattr(workflow_cache, "cache", workflow_cache.WorkflowCache())
        other = Loop(*other_database, script="passes = passes + 10")
    other.complete()
    assert other.data()["passes"] == 10 and other.verified()


def test_a_rolled_back_unit_leaves_nothing_behind(loop, loads):
    loop.complete()
    task = loop.task()
    with pytest.raises(RuntimeError):
        with loop.sessions.begin() as session:
            loop.runtime.complete(session, task, FORM, AGENT)
            raise RuntimeError("the caller fails after the verb")
    assert len(workflow_cache.cache) == 0
    assert loop.task() == task                      # the rollback kept the task open
    loop.complete()
    assert loads["n"] == 1 and loop.verified()


def test_a_rolled_back_savepoint_drops_what_its_unit_kept(loop, loads):
    loop.complete()
    with loop.sessions.begin() as session:
        try:
            with session.begin_nested():
                loop.runtime.complete(session, loop.task(), FORM, AGENT)
                raise RuntimeError("rolled back to the savepoint")
        except RuntimeError:
            pass
    assert len(workflow_cache.cache) == 0
    loop.complete()
    assert loads["n"] == 1 and loop.verified()


def test_a_released_savepoint_keeps_nothing_until_its_transaction_commits(loop, loads):
    loop.complete()
    task = loop.task()
    with pytest.raises(RuntimeError):
        with loop.sessions.begin() as session:
            with session.begin_nested():             # as the timer job fires each instance
                loop.runtime.complete(session, task, FORM, AGENT)
            raise RuntimeError("the transaction fails after the savepoint")
    assert len(workflow_cache.cache) == 0 and loop.task() == task
    loop.complete()
    assert loads["n"] == 1 and loop.verified()


def test_a_unit_that_fails_after_changing_the_workflow_does_not_keep_it(loop, loads):
    loop.complete()

    def refuse_once(session, business_key, intents, actor):
        loop.runtime.intent_guards.remove(refuse_once)
        raise RuntimeError("the payment book refuses")
    loop.runtime.intent_guards.append(refuse_once)     # runs after the task ran in memory
    task = loop.task()
    with pytest.raises(StepFailed):
        loop.verb("complete", task, FORM, AGENT)
    loop.verb("complete", task, FORM, AGENT)          # the same task is open again
    assert loads["n"] == 1 and loop.verified()


def test_two_units_in_one_transaction_share_the_live_workflow(loop, loads):
    with loop.sessions.begin() as session:
        for _ in range(2):
            task = session.scalars(select(HumanTask.task_id)
                                   .where(HumanTask.instance_id == loop.id)).one()
            loop.runtime.complete(session, task, FORM, AGENT)
    assert loads["n"] == 0 and loop.verified()


def test_a_claim_carries_the_live_workflow_to_the_next_row(loop, loads):
    loop.complete()
    loop.verb("claim", loop.task(), AGENT)
    loop.complete()
    assert loads["n"] == 0 and loop.verified()


def test_a_stale_version_is_never_taken(loop, loads):
    loop.complete()
    with loop.sessions.begin() as session:    # the row moved on without this process
        session.execute(update(Instance).where(Instance.id == loop.id)
                        .values(version=Instance.version + 1))
    loop.complete()
    assert loads["n"] == 1
