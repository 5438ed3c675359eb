"""shop_order.filings: how many requests were filed from the order, a filing's version check

A filing reads the order and the open requests holding its items without locking anything,
starts the request's process, then counts itself on the order with its writes, if the count is
still the one it read (engine.service_requests): of two filings for one item at once, the
second finds the count moved, and run again it sees the first's request holding the item. No
row lock is held while the process starts.

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shop_order") as batch:
        batch.add_column(sa.Column("filings", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("shop_order") as batch:
        batch.drop_column("filings")
