"""Races on one task, run with real threads, each with its own session and connection, 50 times
each, on durable SQLite and on PostgreSQL: of 10 users claiming one task at once exactly one
wins, and a claim and another user's completion of one task never both succeed. On both
databases a verb reads without a lock and writes with a version check (its transaction
begins at its first write, engine/db.py), so the loser of each race finds the version moved."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from engine import tasks
from engine.access import Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.errors import Conflict
from engine.models import HumanTask
from tests.conftest import DATA


RUNS = 50
CLAIMERS = 10


def clerk(n: int) -> Actor:
    return Actor(f"cs_{n}", "staff", "customer_service")


def race(pool: ThreadPoolExecutor, calls) -> list:
    """Run `calls` at once (each after a barrier), each in its own transaction; returns what
    each returned, or the Conflict it raised, in the order of `calls`."""
    barrier = threading.Barrier(len(calls))

    def one(call):
        barrier.wait(timeout=30)
        try:
            return call()
        except Conflict as refused:
            return refused

    return [f.result(timeout=60) for f in [pool.submit(one, call) for call in calls]]


@pytest.fixture
def open_tasks(race_sessions, runtime):
    """RUNS instances of the simple process, each at its one open review task (customer
    service); returns their task ids."""
    with race_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "simple"), "owner")
        ids = [runtime.start(session, "simple", {"request_no": f"R-{n}"}).id for n in range(RUNS)]
    with race_sessions() as session:
        return list(session.scalars(select(HumanTask.task_id).where(HumanTask.instance_id.in_(ids))
                                    .order_by(HumanTask.instance_id)))


def test_of_ten_claimers_exactly_one_wins(race_sessions, runtime, open_tasks):
    def claim(task_id, actor):
        def call():
            with race_sessions.begin() as session:
                tasks.scope(session, actor, task_id)        # as the API and the pages do
                return runtime.claim(session, task_id, actor).claimed_by
        return call

    with ThreadPoolExecutor(CLAIMERS) as pool:
        for task_id in open_tasks:
            results = race(pool, [claim(task_id, clerk(n)) for n in range(CLAIMERS)])
            winners = [r for r in results if isinstance(r, str)]
            assert len(winners) == 1, results
            assert sum(isinstance(r, Conflict) for r in results) == CLAIMERS - 1, results
            with race_sessions() as session:
                held = session.scalar(select(HumanTask.claimed_by)
                                      .where(HumanTask.task_id == task_id))
            assert held == winners[0]


def test_a_claim_and_another_users_completion_never_both_succeed(race_sessions, runtime,
                                                                  open_tasks):
    def claim(task_id):
        def call():
            with race_sessions.begin() as session:
                tasks.scope(session, clerk(1), task_id)
                return runtime.claim(session, task_id, clerk(1)).claimed_by
        return call

    def complete(task_id):
        def call():
            with race_sessions.begin() as session:
                tasks.scope(session, clerk(2), task_id)
                return runtime.complete(session, task_id, {"approved": False}, clerk(2)).status
        return call

    outcomes = {"claimed": 0, "completed": 0}
    with ThreadPoolExecutor(2) as pool:
        for task_id in open_tasks:
            claimed, completed = race(pool, [claim(task_id), complete(task_id)])
            assert isinstance(claimed, Conflict) != isinstance(completed, Conflict), \
                (claimed, completed)
            outcomes["claimed" if isinstance(completed, Conflict) else "completed"] += 1
    assert sum(outcomes.values()) == RUNS
