"""Orders and filings at once, on durable SQLite and on PostgreSQL: two filings at once for one
order item open one request, not two, and one new order sent twice at once is one order; and
on PostgreSQL amounts and times come back as they were sent."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from engine import orders, service_requests
from engine.access import Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.errors import Conflict
from engine.runtime import incidents
from tests.conftest import ROOT

CUSTOMER = Actor("c7", "customer", customer_id="C-7")
ORDER = {"customer_id": "C-7", "category": "apparel", "currency": "CNY", "paid_amount": "259.90",
         "paid_at": "2026-11-01T10:00:00+08:00", "shipping_address": "上海市",
         "items": [{"sku": "COAT", "name": "大衣", "quantity": 1, "unit_price": "259.90"}]}



@pytest.mark.postgres
def test_an_order_round_trips_and_a_second_upsert_changes_nothing(pg_sessions):
    with pg_sessions.begin() as session:
        assert orders.upsert(session, "O-PG1", ORDER)[1] == "created"
    with pg_sessions.begin() as session:
        stored, what = orders.upsert(session, "O-PG1", ORDER)
    assert what == "unchanged"
    assert stored["paid_amount"] == "259.90" and stored["paid_at"].isoformat() == "2026-11-01T02:00:00+00:00"
    with pg_sessions() as session:
        assert orders.visible(session, CUSTOMER, "O-PG1").paid_amount == Decimal("259.90")


def test_two_filings_at_once_for_one_item_open_one_request(race_sessions, runtime,
                                                           monkeypatch):
    """Both check the item free before either writes (held there on their first attempt): the
    second to write finds the order's count of filings moved, and run again is refused."""
    with race_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
        orders.upsert(session, "O-PG2", ORDER)
    checked, first = threading.Barrier(2), threading.local()
    real_count = service_requests._count_filing

    def count_filing(*args):
        if not getattr(first, "passed", False):
            first.passed = True
            checked.wait(timeout=30)
        return real_count(*args)
    monkeypatch.setattr(service_requests, "_count_filing", count_filing)
    results: list = []

    def file():
        def filed():        # a unit of work, run again when it lost its race, as the API does
            with race_sessions.begin() as session:
                return service_requests.file_request(
                    session, runtime, {"order_id": "O-PG2", "type": "return_refund"},
                    CUSTOMER).number
        try:
            results.append(incidents.again_if_lost(filed))
        except Conflict as err:
            results.append(err)

    threads = [threading.Thread(target=file) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    numbers = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(numbers) == 1 and len(refused) == 1, results
    assert refused[0].details["open_request"] == numbers[0]


def test_the_same_new_order_sent_twice_at_once_is_one_order(race_sessions):
    start = threading.Barrier(2)
    results: list = []

    def put():
        start.wait()
        with race_sessions.begin() as session:
            results.append(orders.upsert(session, "O-PG3", ORDER)[1])

    threads = [threading.Thread(target=put) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["created", "unchanged"]
