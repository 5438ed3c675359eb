"""The money audit on books written row by row: what it counts (failed payments count for
nothing) and what it reports beyond the amounts (payments of no request, of another order, of
an order the store does not know, an outbox row asking the provider for another amount)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from engine import clock, money_audit
from engine.models import Ledger, OrderBalance, Outbox, ServiceRequest, ShopOrder


@pytest.fixture
def book(sessions):
    """An order O-1 (paid 300.00) with request AS-1 (items 200.00); `book.pay(...)` adds a
    ledger row with its outbox row; `book.check()` is the audit's problem lines."""
    now = clock.now()
    with sessions.begin() as session:
        session.add(ShopOrder(order_id="O-1", customer_id="C1", category="3c",
                              paid_amount=Decimal("300.00"), items=[], paid_at=now))
        session.add(ServiceRequest(number="AS-1", order_id="O-1", customer_id="C1",
                                   type="return_refund", category="3c",
                                   amount=Decimal("200.00"), items=[], opened_at=now))

    class Book:
        def pay(self, key, amount, status="paid", kind="refund", request_no="AS-1",
                order_id="O-1", outbox="done", asked=None):
            with sessions.begin() as session:
                session.add(Ledger(idempotency_key=key, request_no=request_no,
                                   order_id=order_id, kind=kind, amount=Decimal(amount),
                                   status=status, created_at=now))
                session.add(Outbox(idempotency_key=key, business_key=request_no,
                                   operation=f"payment.{kind}", status=outbox,
                                   payload={"amount": Decimal(asked or amount)},
                                   next_attempt_at=now, created_at=now))

        def check(self):
            with sessions() as session:
                return [p.line() for p in money_audit.check(session).problems]
    return Book()


def test_failed_payments_count_for_nothing(book):
    book.pay("k1", "200.00")
    book.pay("k2", "150.00", status="failed")
    assert book.check() == []


def test_a_claw_back_collected_gives_room_back(book):
    book.pay("k1", "200.00")
    book.pay("k2", "50.00", kind="clawback")
    book.pay("k3", "50.00")
    assert book.check() == []


def test_a_payment_of_no_request_and_of_another_order_are_reported(book):
    book.pay("ghost", "10.00", request_no="AS-404", order_id="O-1")
    book.pay("elsewhere", "10.00", order_id="O-2")
    assert book.check() == [
        "order O-1 request AS-404 payment ghost: ledger row 1 (paid refund of 10.00) belongs "
        "to no after-sales request",
        "order O-2 request AS-1 payment elsewhere: ledger row 2 (paid refund of 10.00) names "
        "order O-2, but the request was filed from order O-1",
        "order O-2: has payments but is not in the order store"]


def test_a_pending_payment_whose_outbox_row_asks_for_more_is_reported(book):
    book.pay("k1", "100.00", status="pending", outbox="pending", asked="1000.00")
    assert book.check() == [
        "order O-1 request AS-1 payment k1: outbox row 1 asks the provider for "
        "1000.00 but ledger row 1 (pending refund of 100.00) holds 100.00"]


def test_a_done_outbox_row_whose_payment_is_still_pending_is_reported(book):
    book.pay("k1", "100.00", status="pending")
    assert book.check() == [
        "order O-1 request AS-1 payment k1: outbox row 1 is done but ledger row 1 (pending "
        "refund of 100.00) is not settled"]


def test_a_balance_that_forgot_what_the_order_paid_is_reported(book, sessions):
    book.pay("k1", "100.00")
    with sessions.begin() as session:
        session.add(OrderBalance(order_id="O-1", paid=Decimal("400.00"),
                                 refunds_held=Decimal("100.00"), refunds_paid=Decimal("100.00"),
                                 clawbacks_held=Decimal("0"), clawbacks_paid=Decimal("0")))
    assert book.check() == [
        "order O-1: order_balance.paid is 400.00 but the order paid 300.00"]
