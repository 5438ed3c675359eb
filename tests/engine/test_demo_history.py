"""engine.demo_history.fill: three days of the demo's history on SQLite, through the engine's
verbs and the scheduler's jobs, leave finished requests, paid refunds, ratings, breaches that
were escalated and work still open, and every instance's history verifies."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from engine import clock, demo, demo_history, platform
from engine.history import parallel_verify
from engine.models import HumanTask, Instance, Ledger, ServiceRequest
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
    assert clock.now() > END                  # unfrozen: the served platform runs on real time
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


def test_the_same_seed_plans_the_same_filings(settings):
    """The filings are drawn from the seed, not from the run; another seed draws others."""
    zone, start = ZoneInfo(settings.timezone), T0 - timedelta(days=5)
    plan = demo_history._plan(3, start, T0, zone)
    assert plan == demo_history._plan(3, start, T0, zone) != demo_history._plan(4, start, T0, zone)
    assert len(plan) > 30 and all(start <= f.at < T0 for f in plan)
    assert [f.at for f in plan] == sorted(f.at for f in plan)
