"""Request numbers, on durable SQLite and on PostgreSQL: filers at once, each with its own
session and connection, all get a request with a number of its own, 50 times over (drawn from
the day's request_number row by a statement that commits by itself; max() plus one under no
lock let two concurrent filers draw the same number and one failed on the unique key, a 500),
and no filer holds a transaction while its process starts."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import delete

from engine import orders, service_requests
from engine.access import Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.models import RequestNumber
from engine.runtime import steps
from tests.engine.runtime.test_concurrency import RUNS, race
from tests.web.conftest import FIXTURE_BUNDLE


FILERS = 4
CUSTOMER = Actor("c7", "customer", customer_id="C-7")
ORDER = {"customer_id": "C-7", "category": "apparel", "currency": "CNY", "paid_amount": "59.90",
         "paid_at": "2026-11-01T10:00:00+08:00", "shipping_address": "上海市",
         "items": [{"sku": "SCARF", "name": "围巾", "quantity": 1, "unit_price": "59.90"}]}


def test_filers_at_once_all_get_distinct_numbers(race_sessions, runtime):
    with race_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(FIXTURE_BUNDLE), "owner")
        for n in range(RUNS * FILERS):
            orders.upsert(session, f"O-C{n}", ORDER)

    def file(n):
        def call():
            with race_sessions.begin() as session:
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


@pytest.fixture
def filing(race_sessions, runtime):
    """file(n): customer C-7 files a return from order O-N{n} in a transaction of its own;
    returns the request number."""
    with race_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(FIXTURE_BUNDLE), "owner")
        for n in range(3):
            orders.upsert(session, f"O-N{n}", ORDER)

    def file(n):
        with race_sessions.begin() as session:
            return service_requests.file_request(
                session, runtime, {"order_id": f"O-N{n}", "type": "return_refund"},
                CUSTOMER).number
    return file


def test_the_days_first_draw_goes_on_from_its_highest_number(race_sessions, filing):
    first = filing(0)
    assert first.endswith("-0001")
    with race_sessions.begin() as session:       # as a database filed before the table existed
        session.execute(delete(RequestNumber))
    assert filing(1) == first[:-4] + "0002"
    assert filing(2) == first[:-4] + "0003"


def test_only_the_days_first_draw_reads_its_highest_number(race_sessions, filing, monkeypatch):
    """The highest number is a LIKE over every request's number, which no index serves."""
    reads, real_read = [], service_requests.prebuilt.read

    def read(session, statement, *args, **kwargs):
        reads.append(statement)
        return real_read(session, statement, *args, **kwargs)
    monkeypatch.setattr(service_requests.prebuilt, "read", read)
    first = filing(0)
    assert reads.count(service_requests._HIGHEST_NUMBER) == 1
    reads.clear()
    assert filing(1) == first[:-4] + "0002"
    assert service_requests._HIGHEST_NUMBER not in reads


def test_a_filing_starts_its_process_outside_any_transaction(filing, monkeypatch):
    order = []
    real_start, real_count = steps.start, service_requests._count_filing

    def start(*args, **kwargs):
        apply = real_start(*args, **kwargs)

        def started(workflow):
            order.append("process ran")
            return apply(workflow)
        return started

    def count_filing(session, *args):
        order.append(("request written", "in a transaction" if _in_transaction(session)
                      else "outside any transaction"))
        return real_count(session, *args)

    monkeypatch.setattr(steps, "start", start)
    monkeypatch.setattr(service_requests, "_count_filing", count_filing)
    filing(0)
    assert order == ["process ran", ("request written", "outside any transaction")]


def _in_transaction(session) -> bool:
    driver = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "sqlite":
        return driver.in_transaction
    return driver.info.transaction_status != TransactionStatus.IDLE
