"""machine clients' signing secrets; contacts and staff emails for notifications

`client_secret`: each courier, payment and shop account's HMAC secrets (engine/client_secrets.py),
stored as issued because a signature is checked with the secret itself; two are active while
one is rotated. `shop_order.contact`: the customer's email, phone, WeChat id, channel and
language as the shop sends them with the order (engine/notifications.py reads it).
`user_account.email`: where a member of staff gets the department's digest. `staff_notice`: new
P1 tasks, tasks at risk and breaches waiting for the next digest (engine/staff_digest.py).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Time = engine.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "client_secret",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=True))
    op.create_table(
        "staff_notice",
        sa.Column("id", engine.models.BigId, primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("department", sa.String(50), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("task_id", sa.String(40), nullable=True),
        sa.Column("request_no", sa.String(100), nullable=True),
        sa.Column("task_name", sa.String(200), nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("sent_at", Time, nullable=True),
        sa.Column("delivery", sa.JSON(), nullable=True))
    op.create_index("ix_client_secret_user_id", "client_secret", ["user_id"])
    op.create_index("ix_staff_notice_department", "staff_notice", ["department"])
    op.create_index("ix_staff_notice_sent_at", "staff_notice", ["sent_at"])
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
    with op.batch_alter_table("shop_order") as batch:
        batch.add_column(sa.Column("contact", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shop_order") as batch:
        batch.drop_column("contact")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("email")
    op.drop_table("staff_notice")
    op.drop_table("client_secret")
