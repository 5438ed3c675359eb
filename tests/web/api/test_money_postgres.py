"""Money on PostgreSQL when the shop changes an order while its first refund is decided: the
refund stays within what the order paid after the change."""
from __future__ import annotations

import threading

import pytest

from engine import orders
from tests.web.api.test_money import approval, approve, book_problems, file, shop  # noqa: F401
from tests.web.conftest import error_of, order_body

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url):
    return pg_url


def test_the_shop_lowering_an_order_during_its_first_refund_keeps_the_refund_within_it(
        shop, platform):  # noqa: F811
    filed = file(shop, "alice", "O-259")
    task = approval(shop, filed["number"])
    change = platform.sessions()
    change.begin()
    orders.upsert(change, "O-259", order_body("C001", "apparel",
                                              lines=(("SKU-O-259", 1, "100.00"),)))
    change.flush()                              # the shop's change, not committed yet
    answered = {}
    approving = threading.Thread(target=lambda: answered.setdefault(
        "approval", approve(shop, task, 259)))
    approving.start()
    approving.join(2)
    change.commit()
    change.close()
    approving.join(60)
    refused = answered["approval"]
    assert refused.status_code == 422, refused.get_json()
    assert error_of(refused)["details"]["field"] == "refund_amount"
    assert "at most 100.00" in error_of(refused)["message"]
    assert book_problems(platform) == []
