"""Background jobs driven with a controllable clock: timers, outbox, SLA watch, surge alerts."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import clock, orders
from engine import platform as product
from engine.access import Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.jobs import outbox, sla, surge, timers
from engine.models import Alert, AuditEvent, HumanTask, Instance, Ledger, Outbox, ServiceRequest
from engine.errors import InvalidInput
from tests.conftest import DATA, ROOT

CS = Actor("cs_1", "staff", "customer_service")


@pytest.fixture
def platform(sessions, settings, deploy):
    deploy(DATA / "simple")
    bundle = Bundle.from_folder(ROOT / "bpmn")
    keep = ("sla_escalation.bpmn", "surge_alert.bpmn")
    bundle.files = {k: v for k, v in bundle.files.items() if k in keep}
    with sessions.begin() as session:
        catalog.deploy(session, bundle, "owner")
    runtime = product.runtime(settings)

    def run(verb, *args, **kwargs):
        with sessions.begin() as session:
            return getattr(runtime, verb)(session, *args, **kwargs)
    run.runtime = runtime
    return run


def count(sessions, model, *where):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_timers_fire_once_each_in_own_transaction(sessions, platform):
    ids = [platform("start", "simple", {"request_no": f"AS-{n}", "amount": 1.0}).id for n in range(5)]
    assert timers.run_due(sessions, platform.runtime) == 0
    with sessions() as session:
        assert timers.next_due(session) == clock.now() + timedelta(days=1)
    clock.advance(timedelta(days=1, seconds=1))
    assert timers.run_due(sessions, platform.runtime, batch=2) == 5
    assert timers.run_due(sessions, platform.runtime) == 0
    assert count(sessions, AuditEvent, AuditEvent.kind == "timer_fired") == 5
    assert count(sessions, Instance, Instance.id.in_(ids), Instance.status == "completed") == 5


def test_timer_due_while_down_fires_at_startup(sessions, settings, platform):
    platform("start", "simple", {"request_no": "AS-1", "amount": 1.0})
    clock.advance(timedelta(days=3))                   # the platform was down for three days
    catalog._cache.clear()
    fresh = product.runtime(settings)                  # a new process starts
    assert timers.run_due(sessions, fresh) == 1
    with sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.kind == "timer_fired")).one()
    assert event.at == clock.now()


def test_claimed_timer_is_not_claimed_again_within_lease(sessions, platform):
    platform("start", "simple", {"request_no": "AS-1", "amount": 1.0})
    clock.advance(timedelta(days=2))
    with sessions.begin() as session:
        assert timers.claim_due(session, clock.now(), "a") != []
    with sessions.begin() as session:
        assert timers.claim_due(session, clock.now(), "b") == []
    with sessions.begin() as session:
        assert timers.claim_due(session, clock.now() + timers.LEASE * 2, "b") != []


def _approve(sessions, platform, no="AS-1", amount=88.0):
    _filed(sessions, no, amount)
    instance = platform("start", "simple", {"request_no": no, "amount": amount})
    with sessions() as session:
        task_id = session.scalars(select(HumanTask.task_id).where(HumanTask.instance_id == instance.id)).one()
    platform("complete", task_id, {"approved": True}, CS)
    return instance


def _filed(sessions, no, amount):
    """A request `no` for an order that paid `amount`: what the payment book checks against."""
    price = f"{amount:.2f}"
    with sessions.begin() as session:
        orders.upsert(session, f"O-{no}", {
            "customer_id": "C-1", "category": "apparel", "currency": "CNY", "paid_amount": price,
            "paid_at": clock.now().isoformat(),
            "items": [{"sku": "SKU-1", "name": "shirt", "quantity": 1, "unit_price": price}]})
        session.add(ServiceRequest(number=no, order_id=f"O-{no}", customer_id="C-1",
                                   type="return_refund", category="apparel", amount=price,
                                   items=[], status="open", opened_at=clock.now()))


def test_outbox_pays_once_and_replies_with_a_message(sessions, platform):
    instance = _approve(sessions, platform)
    counts = outbox.dispatch_due(sessions, platform.runtime)
    assert counts["done"] == 1
    with sessions() as session:
        [entry] = session.scalars(select(Ledger)).all()
        assert (entry.kind, str(entry.amount), entry.status, entry.request_no) == \
            ("refund", "88.00", "paid", "AS-1")
        assert session.get(Instance, instance.id).status == "running"      # refund_result arrived
        [task] = session.scalars(select(HumanTask)).all()
        assert task.bpmn_id == "confirm"
    # A crash after the payment but before the row was marked done: delivering again pays nothing.
    with sessions.begin() as session:
        row = session.scalars(select(Outbox)).one()
        row.status = "pending"
    with sessions.begin() as session:
        assert outbox.deliver(session, platform.runtime, row.id) == "done"
    assert count(sessions, Ledger) == 1
    assert count(sessions, AuditEvent, AuditEvent.kind == "message_delivered") == 1


def test_failing_adapter_retries_with_backoff_then_incident(sessions, platform, monkeypatch):
    _approve(sessions, platform)

    def broken(session, row, settings):
        raise ConnectionError("payment provider down")
    monkeypatch.setitem(outbox._ADAPTERS_OVERRIDE, "payment.refund", broken)
    max_attempts = platform.runtime.settings.outbox_max_attempts
    for attempt in range(max_attempts):
        counts = outbox.dispatch_due(sessions, platform.runtime)
        assert counts["retry" if attempt < max_attempts - 1 else "incident"] == 1
        clock.advance(timedelta(hours=1))
    with sessions() as session:
        row = session.scalars(select(Outbox)).one()
        assert row.status == "incident" and "payment provider down" in row.last_error
    monkeypatch.delitem(outbox._ADAPTERS_OVERRIDE, "payment.refund")
    admin = Actor("ops", "admin")
    with sessions.begin() as session, pytest.raises(InvalidInput, match="amount") as refused:
        outbox.resolve_incident(session, row.id, "retry", admin, {"request_no": "AS-1",
                                                                  "amount": 880.0})
    assert refused.value.field == "payload.amount"
    with sessions.begin() as session:
        outbox.resolve_incident(session, row.id, "retry", admin,
                                {"request_no": "AS-1", "amount": 88, "note": "provider back"})
    assert outbox.dispatch_due(sessions, platform.runtime)["done"] == 1
    with sessions() as session:
        paid = session.scalars(select(Ledger)).one()
        assert (str(paid.amount), paid.status) == ("88.00", "paid")
        [edit] = session.scalars(select(AuditEvent).where(
            AuditEvent.kind == "outbox_incident_resolved")).all()
        assert edit.actor == "ops" and edit.payload["after"]["note"] == "provider back"
        assert "note" not in edit.payload["before"]


def test_sla_warns_then_escalates_once(sessions, platform):
    instance = platform("start", "simple", {"request_no": "AS-1", "amount": 1.0})
    assert sla.check(sessions, platform.runtime, clock.now()) == {"warned": 0, "escalated": 0}
    clock.advance(timedelta(hours=3, minutes=20))      # 80% of the PT4H business-time SLA
    assert sla.check(sessions, platform.runtime, clock.now()) == {"warned": 1, "escalated": 0}
    assert sla.check(sessions, platform.runtime, clock.now()) == {"warned": 0, "escalated": 0}
    clock.advance(timedelta(hours=1))
    assert sla.check(sessions, platform.runtime, clock.now()) == {"warned": 0, "escalated": 1}
    assert sla.check(sessions, platform.runtime, clock.now()) == {"warned": 0, "escalated": 0}
    with sessions() as session:
        kinds = [e.kind for e in session.scalars(select(AuditEvent).where(
            AuditEvent.instance_id == instance.id).order_by(AuditEvent.seq))]
        assert kinds == ["started", "sla_at_risk", "sla_breached"]
        escalation = session.scalars(select(HumanTask).where(HumanTask.process_key == "sla_escalation")).one()
        assert escalation.department == "cs_supervisor"
        notes = [r.payload["template"] for r in session.scalars(select(Outbox).where(
            Outbox.operation == "notify.staff").order_by(Outbox.id))]
        assert notes == ["sla_at_risk", "sla_breached"]


def _complaint(session, n, category, at):
    session.add(ServiceRequest(number=f"C-{category}-{n}-{at:%H%M%S}", order_id=f"O{n}", customer_id="c",
                               type="complaint", category=category, amount=0, items=[], opened_at=at))


def test_complaint_surge_opens_one_alert_per_surge(sessions, platform):
    now = clock.now()
    with sessions.begin() as session:
        for day in range(1, 8):                       # baseline: one fresh-food complaint a day
            _complaint(session, day, "fresh", now - timedelta(days=day))
        for n in range(4):
            _complaint(session, n, "fresh", now - timedelta(minutes=10 + n))
        assert surge.check(session, platform.runtime, now) == []      # 4 < min count 5
        _complaint(session, 99, "fresh", now - timedelta(minutes=1))
        assert surge.check(session, platform.runtime, now) == ["fresh"]
        _complaint(session, 100, "fresh", now)
        assert surge.check(session, platform.runtime, now) == []      # same surge, no new alert
    assert count(sessions, Alert) == 1
    assert count(sessions, HumanTask, HumanTask.department == "operations") == 1
    later = now + timedelta(hours=3)
    with sessions.begin() as session:
        assert surge.check(session, platform.runtime, later) == []
        assert session.scalars(select(Alert)).one().closed_at == later
