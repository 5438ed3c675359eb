"""stored after-sales reports

`report`: the weekly, monthly and quarterly reports the scheduler generates once their period
is over, one per period, with their figures as built (engine/reports.py).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("period", sa.String(10), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("generated_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(100), nullable=False))


def downgrade() -> None:
    op.drop_table("report")
