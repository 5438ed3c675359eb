"""Several scheduler processes on one PostgreSQL database: every timer fires exactly once."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from sqlalchemy import func, select

from engine import clock
from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.jobs import timers
from engine.models import AuditEvent, HumanTask, Instance, Timer
from tests.conftest import DATA, ROOT

INSTANCES = 300


def test_three_scheduler_processes_fire_each_timer_once(pg_url, pg_sessions, runtime):
    with pg_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "simple"), "owner")
    with pg_sessions.begin() as session:
        for n in range(INSTANCES):
            runtime.start(session, "simple", {"request_no": f"T-{n}", "amount": 1.0}, SYSTEM)
    now = (clock.now() + timedelta(days=2)).isoformat()
    workers = [subprocess.Popen([sys.executable, "-m", "tests.engine.jobs.timer_worker", pg_url, now, f"w{i}"],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True) for i in range(3)]
    fired = []
    for worker in workers:
        out, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0
        fired.append(int(out.strip()))
    assert sum(fired) == INSTANCES, fired
    with pg_sessions() as session:
        per_instance = session.execute(
            select(AuditEvent.instance_id, func.count()).where(AuditEvent.kind == "timer_fired")
            .group_by(AuditEvent.instance_id)).all()
        assert len(per_instance) == INSTANCES
        assert {n for _, n in per_instance} == {1}
        assert session.scalar(select(func.count()).select_from(Timer)) == 0
        assert session.scalar(select(func.count()).select_from(Instance)
                              .where(Instance.status == "completed")) == INSTANCES


def test_a_timer_whose_instance_changed_while_it_fired_fires_again_at_once(pg_sessions, runtime):
    """The timer's unit of work loses the race to a claim committed while its workflow ran (an
    intent guard commits the claim from a session of its own): it is run again on the fresh
    rows at once, not left to its lease."""
    with pg_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "simple"), "owner")
        instance_id = runtime.start(session, "simple", {"request_no": "T-race"}, SYSTEM).id
    with pg_sessions() as session:
        task_id = session.scalar(select(HumanTask.task_id)
                                 .where(HumanTask.instance_id == instance_id))
    attempts = []

    def rival_claims_first(_session, _key, _intents, _actor):
        attempts.append(1)
        if len(attempts) == 1:
            with pg_sessions.begin() as other:
                runtime.claim(other, task_id, Actor("cs_9", "staff", "customer_service"))

    runtime.intent_guards.append(rival_claims_first)
    fired = timers.run_due(pg_sessions, runtime, clock.now() + timedelta(days=2))
    assert (fired, len(attempts)) == (1, 2)
    with pg_sessions() as session:
        kinds = session.scalars(select(AuditEvent.kind).where(AuditEvent.instance_id == instance_id)
                                .order_by(AuditEvent.seq)).all()
    assert kinds[:3] == ["started", "task_claimed", "timer_fired"]
