"""order_balance: the CHECK on refunds less claw-backs compares them to what was paid to the cent

SQLite keeps NUMERIC money as floats and subtracts them as floats: 128.02 refunded less 8.02
clawed back is 120.00000000000001 there, above the 120.00 the order paid, so the CHECK refused
a refund of exactly what was left (a claw-back then a refund again) that the book itself had
allowed. The difference is rounded to the cent before it is compared; on PostgreSQL, whose
numerics are exact, rounding changes nothing.

Revision ID: 0024
Revises: 0023
"""
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

NAME = "balance_refunds_within_paid"


def upgrade() -> None:
    _check("round(refunds_held - clawbacks_paid, 2) <= paid")


def downgrade() -> None:
    _check("refunds_held - clawbacks_paid <= paid")


def _check(condition: str) -> None:
    with op.batch_alter_table("order_balance") as batch:
        batch.drop_constraint(NAME, type_="check")
        batch.create_check_constraint(NAME, condition)
