"""Races and crashes: one winner per race; a killed worker leaves every instance consistent."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select

from engine import db
from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.errors import Conflict, LostRace
from engine.history import replay
from engine.models import HumanTask, Instance, MessageSubscription, Timer
from engine.runtime import projection, state_store
from engine.runtime.verbs import Runtime
from tests.conftest import DATA, ROOT

CS = Actor("cs_1", "staff", "customer_service")


def _open_task(sessions, instance_id):
    with sessions() as session:
        return session.scalars(select(HumanTask.task_id).where(HumanTask.instance_id == instance_id)).one()


def _race(sessions, runtime, task_id):
    barrier = threading.Barrier(2)
    outcomes = []

    def worker(name):
        actor = Actor(name, "staff", "customer_service")
        barrier.wait()
        try:
            with sessions.begin() as session:
                runtime.complete(session, task_id, {"approved": False}, actor)
            outcomes.append("won")
        except Conflict as err:
            outcomes.append(f"conflict: {err}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_sessions_complete_the_same_task_one_wins(sessions, runtime, deploy):
    deploy(DATA / "simple")
    for n in range(10):
        with sessions.begin() as session:
            instance = runtime.start(session, "simple", {"request_no": f"R-{n}", "amount": 1.0}, SYSTEM)
        outcomes = _race(sessions, runtime, _open_task(sessions, instance.id))
        assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "won"], outcomes
        with sessions() as session:
            assert len(replay.verify(session, instance.id, runtime.script_engine).divergence or []) == 0


def _deploy_simple(sessions):
    with sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "simple"), "owner")


def test_races_on_postgresql_have_one_winner(pg_sessions, runtime):
    _deploy_simple(pg_sessions)
    for n in range(10):
        with pg_sessions.begin() as session:
            instance = runtime.start(session, "simple", {"request_no": f"R-{n}", "amount": 1.0}, SYSTEM)
        outcomes = _race(pg_sessions, runtime, _open_task(pg_sessions, instance.id))
        assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "won"], outcomes


def test_lost_update_is_a_conflict_not_an_overwrite(pg_sessions, runtime):
    """Both sessions pass every check on the same version; the second write must fail.

    (On SQLite writers are serialised by BEGIN IMMEDIATE, so this interleaving cannot occur.)
    """
    _deploy_simple(pg_sessions)
    with pg_sessions.begin() as session:
        instance = runtime.start(session, "simple", {"request_no": "R-1", "amount": 1.0}, SYSTEM)
    first = pg_sessions()
    first.begin()
    stale = first.get(Instance, instance.id)          # version 1 loaded, no lock held
    with pg_sessions.begin() as other:                # meanwhile someone else changes the instance
        runtime.suspend(other, instance.id, SYSTEM, "hold")
    with pytest.raises(Conflict):
        runtime.resume(first, stale.id, SYSTEM)
    first.rollback()
    first.close()
    with pg_sessions() as session:
        assert session.get(Instance, instance.id).status == "suspended"


def test_a_state_read_before_another_writer_changed_it_is_a_lost_race(pg_sessions, runtime):
    """Verbs read the row and its state's chunks by two statements and no lock: a writer that
    commits in between deletes chunks the row read first still names. That is a race lost
    (the command runs again), not a damaged state (an incident)."""
    _deploy_simple(pg_sessions)
    with pg_sessions.begin() as session:
        instance = runtime.start(session, "simple", {"request_no": "R-1", "amount": 1.0}, SYSTEM)
    task_id = _open_task(pg_sessions, instance.id)
    with pg_sessions() as first:
        stale = first.get(Instance, instance.id)
        compiled = catalog.compiled(first, stale.definition_id)
        with pg_sessions.begin() as other:
            runtime.complete(other, task_id, {"approved": False},
                             Actor("bob", "staff", "customer_service"))
        with pytest.raises(LostRace):
            state_store.load(first, stale, compiled, runtime.script_engine)
        first.refresh(stale)                   # read again, it loads
        state_store.load(first, stale, compiled, runtime.script_engine)


def _consistent(session, runtime, instance):
    """The instance is exactly at some recorded step: state, projections and audit agree."""
    result = replay.verify(session, instance.id, runtime.script_engine)
    assert result.ok, (instance.business_key, result.divergence)
    compiled = catalog.compiled(session, instance.definition_id)
    workflow, _ = state_store.load(session, instance, compiled, runtime.script_engine)
    expected = projection.project(workflow)
    tasks = set(session.scalars(select(HumanTask.task_id).where(HumanTask.instance_id == instance.id)))
    timers = set(session.scalars(select(Timer.task_id).where(Timer.instance_id == instance.id)))
    subs = set(session.scalars(select(MessageSubscription.task_id).where(
        MessageSubscription.instance_id == instance.id)))
    assert tasks == set(expected.human)
    assert timers == set(expected.timers)
    assert subs == {task_id for task_id, _ in expected.messages}


def test_sigkill_during_work_leaves_every_instance_before_or_after_a_step(settings, sessions, deploy):
    deploy(DATA / "simple")
    with subprocess.Popen([sys.executable, "-m", "tests.engine.runtime.crash_worker", settings.database_url],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as worker:
        assert worker.stdout.readline().strip() == "ready"
        time.sleep(2.0)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    runtime = Runtime(settings)
    # Re-open the database as a fresh process would (WAL recovery happens here).
    engine = db.make_engine(settings.database_url)
    fresh = db.make_session_factory(engine)
    with fresh() as session:
        instances = list(session.scalars(select(Instance)))
        assert len(instances) > 5, "the worker did too little work to test anything"
        for instance in instances:
            _consistent(session, runtime, instance)
    engine.dispose()
