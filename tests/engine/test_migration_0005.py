"""Migration 0005 on a database with orders of the old shape: an order of one item gets its
unit price from the amount; one of several old items cannot be filed from until it is sent
again, and says so."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from engine import db, service_requests
from engine.access import Actor
from engine.errors import Conflict
from engine.models import ShopOrder


@pytest.fixture
def old_orders(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    command.upgrade(db.alembic_config(url), "0004")
    engine = create_engine(url)
    with engine.begin() as conn:
        for order_id, items, amount in (
                ("O-1", '[{"sku": "MUG", "qty": 2}]', "50.00"),
                ("O-2", '[{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}]', "30.00")):
            conn.execute(text("INSERT INTO shop_order (order_id, customer_id, category, amount, items, "
                              "address, paid_at) VALUES (:o, 'C1', 'other', :a, :i, 'Shanghai', "
                              "'2026-11-01 02:00:00')"), {"o": order_id, "a": amount, "i": items})
    engine.dispose()
    db.upgrade(url)
    engine = db.make_engine(url)
    yield db.make_session_factory(engine)
    engine.dispose()


def test_one_item_is_priced_from_the_amount(old_orders):
    with old_orders() as session:
        order = session.get(ShopOrder, "O-1")
        assert order.items == [{"sku": "MUG", "name": "MUG", "quantity": 2, "unit_price": "25.00"}]
        assert (order.shipping_address, order.currency, order.channel) == ("Shanghai", "CNY", "web")


def test_several_unpriced_items_refuse_a_filing_naming_the_order(old_orders, runtime):
    with old_orders() as session:
        with pytest.raises(Conflict, match="send it again") as refused:
            service_requests.file_request(session, runtime, {"order_id": "O-2", "type": "repair"},
                                          Actor("c1", "customer", customer_id="C1"))
    assert refused.value.field == "order_id"
