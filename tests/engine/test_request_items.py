"""What an order item allows now (engine.request_items.actions) and what filing refuses by it:
return and exchange windows from delivery, repairs once delivered, complaints always, and
nothing of the first three while an open request holds the item."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock, orders, request_items
from engine.errors import Conflict
from engine.models import ServiceRequest, ShopOrder


def _order(session, *, delivered_days_ago, warranty_days=300, order_id="O-1"):
    now = clock.now()
    orders.upsert(session, order_id, {
        "customer_id": "C001", "category": "3c", "currency": "CNY", "paid_amount": "100.00",
        "paid_at": (now - timedelta(days=40)).isoformat(),
        "delivered_at": (None if delivered_days_ago is None else
                         (now - timedelta(days=delivered_days_ago)).isoformat()),
        "warranty_until": (now + timedelta(days=warranty_days)).isoformat(),
        "items": [{"sku": "A", "name": "A", "quantity": 1, "unit_price": "60.00"},
                  {"sku": "B", "name": "B", "quantity": 1, "unit_price": "40.00"}]})
    session.flush()
    return session.get(ShopOrder, order_id)


def _why(session, order) -> dict:
    return {kind: (v["allowed"], v["why"])
            for kind, v in request_items.actions(session, order, clock.now())["A"].items()}


@pytest.mark.parametrize("days, expected", [
    (None, {"return_refund": (True, "not_delivered"), "exchange": (False, "not_delivered"),
            "repair": (False, "not_delivered"), "complaint": (True, "always")}),
    (3, {"return_refund": (True, "in_window"), "exchange": (True, "in_window"),
         "repair": (True, "in_warranty"), "complaint": (True, "always")}),
    (20, {"return_refund": (False, "window_closed"), "exchange": (True, "in_window"),
          "repair": (True, "in_warranty"), "complaint": (True, "always")}),
    (31, {"return_refund": (False, "window_closed"), "exchange": (False, "window_closed"),
          "repair": (True, "in_warranty"), "complaint": (True, "always")}),
    (-2, {"return_refund": (True, "not_delivered"), "exchange": (False, "not_delivered"),
          "repair": (False, "not_delivered"), "complaint": (True, "always")}),
])
def test_the_windows_count_from_delivery(sessions, days, expected):
    with sessions.begin() as session:
        assert _why(session, _order(session, delivered_days_ago=days)) == expected


def test_the_return_window_closes_fifteen_days_after_delivery(sessions):
    with sessions.begin() as session:
        order = _order(session, delivered_days_ago=5)
        verdict = request_items.actions(session, order, clock.now())["A"]["return_refund"]
        assert verdict["until"] == order.delivered_at + timedelta(days=15)


def test_out_of_warranty_a_repair_is_quoted(sessions):
    with sessions.begin() as session:
        order = _order(session, delivered_days_ago=400, warranty_days=-35)
        assert _why(session, order)["repair"] == (True, "paid_repair")


def test_an_open_request_holds_its_items_but_not_the_others(sessions):
    with sessions.begin() as session:
        order = _order(session, delivered_days_ago=3)
        session.add(ServiceRequest(number="AS-1", order_id="O-1", customer_id="C001",
                                   type="exchange", category="3c", amount=60, items=[
                                       {"sku": "A", "quantity": 1}], status="in_progress",
                                   opened_at=clock.now()))
        session.flush()
        allowed = request_items.actions(session, order, clock.now())
        assert allowed["A"]["return_refund"] == {"allowed": False, "why": "held", "until": None,
                                                  "request": "AS-1"}
        assert allowed["A"]["complaint"]["allowed"] and allowed["B"]["return_refund"]["allowed"]


def test_filing_refuses_what_the_item_does_not_allow(sessions):
    with sessions.begin() as session:
        order = _order(session, delivered_days_ago=20)
        lines = request_items.choose(order, [{"sku": "B", "quantity": 1}])
        with pytest.raises(Conflict) as refused:
            request_items.refuse_disallowed(session, order, "return_refund", lines, clock.now())
        assert refused.value.details == {"field": "type", "sku": "B", "why": "window_closed"}
        request_items.refuse_disallowed(session, order, "exchange", lines, clock.now())
