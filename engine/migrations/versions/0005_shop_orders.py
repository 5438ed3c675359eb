"""orders as the shop sends them: paid amount, currency, channel, shipping address

The order's `amount` becomes `paid_amount` and `address` becomes `shipping_address` (the names
the shop's API uses); `currency` (ISO 4217, CNY for the rows already there) and `channel` (web
for them) are new. Item rows already stored keep their shape: orders sent again by the shop get
the new one ({sku, name, quantity, unit_price}).

Revision ID: 0005
Revises: 0004
"""
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


def downgrade() -> None:
    with op.batch_alter_table("shop_order") as batch:
        batch.drop_column("channel")
        batch.drop_column("currency")
        batch.alter_column("shipping_address", new_column_name="address",
                           existing_type=sa.String(300), existing_nullable=True)
        batch.alter_column("paid_amount", new_column_name="amount",
                           existing_type=sa.Numeric(12, 2), existing_nullable=False)
