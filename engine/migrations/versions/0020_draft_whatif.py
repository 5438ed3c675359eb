"""the last what-if report of each draft

`draft_whatif` (engine.models.DraftWhatif): one row per draft, replaced each time an owner runs
what-if on it, so that the supervisors of the departments it touches read what the proposed
change would have done to their requests (engine/whatif_results.py).

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

Time = engine.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "draft_whatif",
        sa.Column("draft_id", sa.Integer(), sa.ForeignKey("draft.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("since", Time, nullable=False),
        sa.Column("run_by", sa.String(100), nullable=False),
        sa.Column("run_at", Time, nullable=False),
        sa.Column("report", sa.JSON(), nullable=False))


def downgrade() -> None:
    op.drop_table("draft_whatif")
