"""Request numbers on PostgreSQL: filers at once, each with its own session and connection, all
get a request with a number of its own, 50 times over (the number is the day's highest plus
one; without the numbering lock two concurrent filers drew the same one and one failed on the
unique key, a 500)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from engine import orders, service_requests
from engine.access import Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from tests.engine.runtime.test_concurrency_postgres import RUNS, race
from tests.web.conftest import FIXTURE_BUNDLE

pytestmark = pytest.mark.postgres

FILERS = 4
CUSTOMER = Actor("c7", "customer", customer_id="C-7")
ORDER = {"customer_id": "C-7", "category": "apparel", "currency": "CNY", "paid_amount": "59.90",
         "paid_at": "2026-11-01T10:00:00+08:00", "shipping_address": "上海市",
         "items": [{"sku": "SCARF", "name": "围巾", "quantity": 1, "unit_price": "59.90"}]}


def test_filers_at_once_all_get_distinct_numbers(pg_sessions, runtime):
    with pg_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(FIXTURE_BUNDLE), "owner")
        for n in range(RUNS * FILERS):
            orders.upsert(session, f"O-C{n}", ORDER)

    def file(n):
        def call():
            with pg_sessions.begin() as session:
                return service_requests.file_request(
                    session, runtime, {"order_id": f"O-C{n}", "type": "return_refund",
                                       "reason": "too small"}, CUSTOMER).number
        return call

    numbers: list = []
    with ThreadPoolExecutor(FILERS) as pool:
        for run in range(RUNS):
            results = race(pool, [file(run * FILERS + k) for k in range(FILERS)])
            assert all(isinstance(r, str) for r in results), results
            numbers += results
    assert len(set(numbers)) == RUNS * FILERS
