"""A refund-first journey through the API on PostgreSQL: every call's writes go out together at
its commit, so no backend is idle in a transaction while Python computes. The filing, the
finance approval that reserves the refund, the provider's callback that settles it, the
customer's return shipment, the warehouse's inspection and the rating each reach their commit
with the transaction not yet begun (nothing was locked, and nothing the call wrote was read
back), then send BEGIN, the writes and COMMIT in one round trip, and it all lands."""
from __future__ import annotations

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.web.api.test_money import approval, approve, file, payments, shop  # noqa: F401
from tests.web.conftest import open_tasks, pay

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url):
    return pg_url


@pytest.fixture
def at_commit():
    """For each commit, the transaction status of its connection before the queued writes are
    sent and after (with them the COMMIT, in the same round trip)."""
    seen: list = []

    def status(session):
        return session.connection().connection.driver_connection.info.transaction_status

    def before(session):
        seen.append(status(session))

    def after(session):
        seen[-1] = (seen[-1], status(session))
    event.listen(Session, "before_commit", before, insert=True)
    event.listen(Session, "before_commit", after)      # after engine.prebuilt's
    yield seen
    event.remove(Session, "before_commit", before)
    event.remove(Session, "before_commit", after)


def test_each_call_of_a_journey_begins_its_transaction_at_its_commit(shop, at_commit):  # noqa: F811
    def call(response):
        assert response.status_code in (200, 201), response.get_json()
        idle = TransactionStatus.IDLE
        assert at_commit and set(at_commit) == {(idle, idle)}, at_commit
        at_commit.clear()
        return response.get_json()

    file(shop, "bob", "O-399")        # the first filing deploys the feedback taxonomy
    for user in ("alice", "finance_1", "payment", "warehouse_1"):
        shop.as_(user).get("/api/tasks")    # signed in (the test client's sign-in writes)
    at_commit.clear()
    alice = shop.as_("alice")
    number = call(alice.post("/api/requests", json={
        "order_id": "O-259", "type": "return_refund", "reason": "does not fit"}))["number"]
    task = approval(shop, number)
    at_commit.clear()
    call(approve(shop, task, 259))
    call(pay(shop, number, reference="RF-259"))
    call(alice.post(f"/api/requests/{number}/shipped",
                    json={"tracking_no": "SF0000000259", "carrier": "SF"}))
    [inspection] = [t for t in open_tasks(shop, "warehouse_1", per_page=100)
                    if t["request_number"] == number]
    at_commit.clear()
    call(shop.as_("warehouse_1").post(f"/api/tasks/{inspection['task_id']}/complete", json={
        "data": {"inspection_passed": True, "goods_condition": "as_new",
                 "inspection_note": ""}}))
    call(alice.post(f"/api/requests/{number}/rating", json={"score": 5}))
    [paid] = payments(shop, number).get_json()["items"]
    assert (paid["status"], paid["amount"]) == ("paid", "259.00")
    assert shop.as_("alice").get(f"/api/requests/{number}").get_json()["status"] == "closed"
