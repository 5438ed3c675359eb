"""login throttling: failed logins per account and per client address, and lockouts

One row per key (`account:<username>` or `address:<ip>`): the failures counted since
`first_failed_at` and, after too many, `locked_until` (engine/login_throttle.py). Kept in the
database so that every worker and process of an installation counts together.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(150), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", engine.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_table("login_throttle")
