"""The payment book with two writers at once, on SQLite and PostgreSQL: it locks nothing (it
reads what is committed, decides, then writes with the unit's other writes), so both writers
read the same balance before either writes. Two refunds of one order past what it paid: one is
reserved, the other, run again as the API runs a lost unit of work, is refused for the room
left. One payment settled by two answers at once moves the balance once."""
from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import select

from engine import clock, orders, payments
from engine.models import Ledger, OrderBalance, ServiceRequest
from engine.runtime import incidents
from tests.engine.test_payments_property import FINANCE, Intent


def an_order_with_two_requests(sessions) -> None:
    """Order O-R paid 100.00; requests AS-R-1 and AS-R-2 each of its whole amount (as two
    requests for one item would be once the first is closed)."""
    with sessions.begin() as session:
        orders.upsert(session, "O-R", {
            "customer_id": "C-1", "category": "apparel", "currency": "CNY",
            "paid_amount": "100.00", "paid_at": clock.now().isoformat(),
            "items": [{"sku": "A", "name": "A", "quantity": 1, "unit_price": "100.00"}]})
        for n in (1, 2):
            session.add(ServiceRequest(
                number=f"AS-R-{n}", order_id="O-R", customer_id="C-1", type="return_refund",
                category="apparel", amount=Decimal("100.00"), items=[{"sku": "A"}],
                status="open", opened_at=clock.now()))


def at_once(monkeypatch, name: str, works: list) -> list:
    """Run each of `works` (a unit of work, run again when it lost a race) in a thread of its
    own, every first attempt held at `payments.<name>` until all have reached it; returns what
    each returned or raised."""
    barrier, first = threading.Barrier(len(works)), threading.local()
    real = getattr(payments, name)

    def held(*args, **kwargs):
        if not getattr(first, "passed", False):
            first.passed = True
            barrier.wait(timeout=30)
        return real(*args, **kwargs)
    monkeypatch.setattr(payments, name, held)
    results: list = [None] * len(works)

    def run(k):
        try:
            results[k] = incidents.again_if_lost(works[k])
        except Exception as err:    # noqa: BLE001  (the outcome under test)
            results[k] = err
    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def balance_of(sessions) -> OrderBalance:
    with sessions() as session:
        return session.get(OrderBalance, "O-R")


def test_two_refunds_past_what_the_order_paid_reserve_one(race_sessions, monkeypatch):
    an_order_with_two_requests(race_sessions)

    def refund(n):
        def work():
            with race_sessions.begin() as session:
                return payments.reserve(session, f"AS-R-{n}", "refund", Intent(
                    "payment.refund", f"AS-R-{n}:refund", {"amount": "80.00"}), FINANCE).amount
        return work
    results = at_once(monkeypatch, "room", [refund(1), refund(2)])
    reserved = [r for r in results if r == Decimal("80.00")]
    refused = [r for r in results if isinstance(r, payments.PaymentRefused)]
    assert len(reserved) == 1 and len(refused) == 1, results
    assert "at most 20.00 is still refundable" in str(refused[0])
    assert balance_of(race_sessions).refunds_held == Decimal("80.00")
    with race_sessions() as session:
        assert len(session.scalars(select(Ledger)).all()) == 1


def test_one_payment_settled_twice_at_once_moves_the_balance_once(race_sessions, monkeypatch):
    an_order_with_two_requests(race_sessions)
    with race_sessions.begin() as session:
        payments.reserve(session, "AS-R-1", "refund", Intent(
            "payment.refund", "AS-R-1:refund", {"amount": "60.00"}), FINANCE)

    def settle():
        with race_sessions.begin() as session:
            return payments.settle(session, "AS-R-1:refund", "paid", reference="RF-1").status
    assert at_once(monkeypatch, "_balance", [settle, settle]) == ["paid", "paid"]
    balance = balance_of(race_sessions)
    assert (balance.refunds_held, balance.refunds_paid) == (Decimal("60.00"), Decimal("60.00"))
