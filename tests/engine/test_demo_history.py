"""engine.demo_history.fill: three days of the demo's history on SQLite, through the engine's
verbs and the scheduler's jobs, leave finished requests, paid refunds, ratings, breaches that
were escalated and work still open, and every instance's history verifies; the same seed lives
the same history."""
from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine import clock, db, demo, demo_history, platform
from engine.errors import InvalidInput
from engine.history import parallel_verify
from engine.models import AuditEvent, HumanTask, Instance, Ledger, ServiceRequest
from tests.conftest import ROOT, T0

# The history ends on Friday 2026-11-27 16:00 in Shanghai: three working days behind it.
END = T0 + timedelta(days=4, hours=6)


def test_three_days_of_history_are_worked_through_and_verify(sessions, settings):
    runtime = platform.runtime(settings)
    clock.freeze(END)
    made = []
    demo.load(sessions, runtime, ROOT / "bpmn",
              history=lambda: made.append(demo_history.fill(sessions, runtime, 3, seed=7)) or [])
    counts = made[0]
    assert counts["requests"] >= 20 and counts["tasks_done"] > 10 and counts["answers"] > 0
    assert clock.now() == END                 # left as it was found: frozen where the test froze it
    with sessions() as session:
        history = select(ServiceRequest).where(ServiceRequest.order_id.startswith("H-"))
        requests = session.scalars(history).all()
        numbers = [r.number for r in requests]
        assert len(requests) == counts["requests"]
        assert min(r.opened_at for r in requests) < END - timedelta(days=2)
        assert sum(r.status in ("resolved", "closed") for r in requests) == counts["finished"] > 0
        assert any(r.csat is not None for r in requests)
        assert any(r.customer_tier == "vip" for r in requests)
        assert {r.type for r in requests} == {"return_refund", "exchange", "repair", "complaint"}
        paid = session.scalar(select(func.count()).select_from(Ledger).where(
            Ledger.kind == "refund", Ledger.status == "paid", Ledger.request_no.in_(numbers)))
        assert paid > 0
        escalations = session.scalars(select(Instance.business_key).where(
            Instance.process_key == "sla_escalation")).all()
        assert any(key.removeprefix("ESC-").rsplit("-", 1)[0] in numbers for key in escalations)
        open_tasks = session.scalars(select(HumanTask.business_key)).all()
        assert set(open_tasks) & set(numbers)
        assert session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.business_key.in_(numbers), HumanTask.due_at < END)) > 0   # overdue
    results = parallel_verify.verify_all(settings, jobs=1, stop_at_first=False)
    with sessions() as session:
        assert len(results) == session.scalar(select(func.count()).select_from(Instance))
    assert [r.divergence for r in results if not r.ok] == []


def lived(settings, seed: int) -> tuple[list, list]:
    """Two days of history on the database of `settings`, ending at END: its requests and
    its audit events as (what, who, when), without ids that differ between databases."""
    engine = db.make_engine(settings.database_url, durable=False)
    sessions = db.make_session_factory(engine)
    runtime = platform.runtime(settings)
    clock.freeze(END)
    demo.load(sessions, runtime, ROOT / "bpmn", history=lambda: [
        str(demo_history.fill(sessions, runtime, 2, seed=seed))])
    with sessions() as session:
        requests = session.execute(select(
            ServiceRequest.number, ServiceRequest.type, ServiceRequest.amount,
            ServiceRequest.status, ServiceRequest.outcome, ServiceRequest.csat,
            ServiceRequest.resolved_at).where(ServiceRequest.order_id.startswith("H-"))
            .order_by(ServiceRequest.number)).all()
        events = session.execute(select(AuditEvent.at, AuditEvent.actor, AuditEvent.kind,
                                        AuditEvent.element).where(AuditEvent.at <= END)
                                 .order_by(AuditEvent.at, AuditEvent.actor, AuditEvent.kind,
                                           AuditEvent.element)).all()
    engine.dispose()
    return requests, events


def test_the_same_seed_lives_the_same_history(settings, template_db, tmp_path):
    """What is filed, done and answered is drawn from the seed, not from the run: two
    databases given the same seed end alike; another seed files other requests."""
    copy = tmp_path / "again.sqlite"
    shutil.copy(template_db, copy)
    again = replace(settings, database_url=f"sqlite:///{copy}")
    first = lived(settings, seed=3)
    assert first == lived(again, seed=3) and len(first[0]) > 10 and len(first[1]) > 100
    zone = ZoneInfo(settings.timezone)
    assert demo_history._plan(3, T0, END, zone) != demo_history._plan(4, T0, END, zone)


def test_a_history_is_at_least_a_day(sessions, settings):
    with pytest.raises(InvalidInput) as refused:
        demo_history.fill(sessions, platform.runtime(settings), 0)
    assert refused.value.field == "history"
