"""A payment provider's callback on PostgreSQL: the request's process hears the result before
the payment's ledger row is locked and settled, so no transaction is open while it runs; the
row is settled before anything of the unit is written, so the payment guards and the book see
it settled as before."""
from __future__ import annotations

import pytest
from psycopg.pq import TransactionStatus

from engine import payments
from engine.runtime import steps
from tests.web.api.test_money import approval, approve, file, shop  # noqa: F401  (fixture)
from tests.web.conftest import pay

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url):
    return pg_url


def test_the_process_runs_before_the_payment_row_is_locked(shop, monkeypatch):  # noqa: F811
    filed = file(shop, "alice", "O-259")
    assert approve(shop, approval(shop, filed["number"]), 259).status_code == 200
    order = []
    real_settle, real_message = payments.settle, steps.message

    def settle(session, *args, **kwargs):
        driver = session.connection().connection.driver_connection
        order.append(("settled", driver.info.transaction_status))
        return real_settle(session, *args, **kwargs)

    def message(name, payload):
        apply = real_message(name, payload)

        def heard(workflow):
            order.append("process ran")
            return apply(workflow)
        return heard

    monkeypatch.setattr(payments, "settle", settle)
    monkeypatch.setattr(steps, "message", message)
    answer = pay(shop, filed["number"], reference="RF-259")
    assert answer.status_code == 200, answer.get_json()
    assert order == ["process ran", ("settled", TransactionStatus.IDLE)]
    [paid] = shop.as_("finance_1").get(f"/api/requests/{filed['number']}/payments") \
        .get_json()["items"]
    assert (paid["status"], paid["amount"], paid["reference"]) == ("paid", "259.00", "RF-259")
    again = pay_again(shop, filed["number"], paid["idempotency_key"])
    assert again.status_code == 200 and order.count("process ran") == 1     # heard once


def pay_again(auth, number, key):
    return auth.as_("payment").post("/api/messages", json={
        "name": "refund_result", "correlation": number,
        "payload": {"status": "paid", "reference": "RF-259", "idempotency_key": key}})
