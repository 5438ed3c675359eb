"""orders as the shop sends them: paid amount, currency, channel, shipping address

The order's `amount` becomes `paid_amount` and `address` becomes `shipping_address` (the names
the shop's API uses); `currency` (ISO 4217, CNY for the rows already there) and `channel` (web
for them) are new. Items take the shape {sku, name, quantity, unit_price}: an order of one item
in the old shape ({sku, qty}) gets its unit price from the order's amount; an order of several
old items keeps them (their prices are unknown) and cannot be filed from until the shop sends it
again (engine.request_items says so).

Revision ID: 0005
Revises: 0004
"""
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shop_order") as batch:
        batch.alter_column("amount", new_column_name="paid_amount",
                           existing_type=sa.Numeric(12, 2), existing_nullable=False)
        batch.alter_column("address", new_column_name="shipping_address",
                           existing_type=sa.String(300), existing_nullable=True)
        batch.add_column(sa.Column("currency", sa.String(3), nullable=False, server_default="CNY"))
        batch.add_column(sa.Column("channel", sa.String(50), nullable=False, server_default="web"))
    order = sa.table("shop_order", sa.column("order_id", sa.String), sa.column("items", sa.JSON),
                     sa.column("paid_amount", sa.Numeric(12, 2)))
    conn = op.get_bind()
    for order_id, items, paid in conn.execute(
            sa.select(order.c.order_id, order.c["items"], order.c.paid_amount)).all():
        priced = _priced(items, Decimal(paid))
        if priced is not None:
            conn.execute(order.update().where(order.c.order_id == order_id).values(items=priced))


def _priced(items, paid: Decimal):
    """One old-shape item, priced from what was paid (None: nothing to change or to know)."""
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict) \
            or "unit_price" in items[0]:
        return None
    item = items[0]
    quantity = item.get("quantity", item.get("qty", 1))
    if not isinstance(quantity, int) or quantity < 1:
        return None
    unit = paid / quantity
    if unit != unit.quantize(Decimal("0.01")):
        return None
    sku = str(item.get("sku") or "ITEM")
    return [{"sku": sku, "name": str(item.get("name") or sku), "quantity": quantity,
             "unit_price": str(unit.quantize(Decimal("0.01")))}]


def downgrade() -> None:
    with op.batch_alter_table("shop_order") as batch:
        batch.drop_column("channel")
        batch.drop_column("currency")
        batch.alter_column("shipping_address", new_column_name="address",
                           existing_type=sa.String(300), existing_nullable=True)
        batch.alter_column("paid_amount", new_column_name="amount",
                           existing_type=sa.Numeric(12, 2), existing_nullable=False)
