"""the ledger as the book of money: pending/paid/failed rows per order, and order balances

Ledger rows gain the order they pay against, a status (rows already there were paid), who
approved them, the provider's reference and status and when they settled; amounts must be above
0. `order_balance` keeps per order what was paid and what was refunded and clawed back, with
CHECKs that refuse a refund above what was paid and a claw-back above what was refunded. An
order's balance is made from its ledger rows the first time money moves on it
(engine/payments.py), so none is written here.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(12, 2)


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("order_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="paid"))
        batch.add_column(sa.Column("actor", sa.String(100), nullable=True))
        batch.add_column(sa.Column("provider_status", sa.String(40), nullable=True))
        batch.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column("reference", existing_type=sa.String(60), type_=sa.String(100),
                           nullable=True)
        batch.create_index("ix_ledger_order_id", ["order_id"])
        batch.create_check_constraint("ledger_amount_positive", "amount > 0")
        batch.create_check_constraint("ledger_status_known",
                                      "status IN ('pending', 'paid', 'failed')")
        batch.create_check_constraint("ledger_kind_known", "kind IN ('refund', 'clawback')")
    op.execute("UPDATE ledger SET settled_at = created_at, order_id = (SELECT order_id FROM "
               "service_request WHERE service_request.number = ledger.request_no)")
    op.create_table(
        "order_balance",
        sa.Column("order_id", sa.String(100), primary_key=True),
        sa.Column("paid", MONEY, nullable=False),
        sa.Column("refunds_held", MONEY, nullable=False),
        sa.Column("refunds_paid", MONEY, nullable=False),
        sa.Column("clawbacks_held", MONEY, nullable=False),
        sa.Column("clawbacks_paid", MONEY, nullable=False),
        sa.CheckConstraint("refunds_paid >= 0 AND clawbacks_paid >= 0", name="balance_nonnegative"),
        sa.CheckConstraint("refunds_paid <= refunds_held", name="balance_refunds_paid_held"),
        sa.CheckConstraint("clawbacks_paid <= clawbacks_held", name="balance_clawbacks_paid_held"),
        sa.CheckConstraint("refunds_held - clawbacks_paid <= paid",
                           name="balance_refunds_within_paid"),
        sa.CheckConstraint("clawbacks_held <= refunds_paid",
                           name="balance_clawbacks_within_refunds"),
    )


def downgrade() -> None:
    op.drop_table("order_balance")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_constraint("ledger_kind_known", type_="check")
        batch.drop_constraint("ledger_status_known", type_="check")
        batch.drop_constraint("ledger_amount_positive", type_="check")
        batch.drop_index("ix_ledger_order_id")
        batch.alter_column("reference", existing_type=sa.String(100), type_=sa.String(60),
                           nullable=False)
        for name in ("settled_at", "provider_status", "actor", "status", "order_id"):
            batch.drop_column(name)
