"""element spans: when each element of an instance held a token

`element_span` (engine.models.ElementSpan) is written by the write-back with the rest of the
projection, so the dashboard's heatmap sums stretches instead of replaying up to 40 histories
per view. Instances from before keep none; the heatmap replays those (engine/history/heatmap.py).

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "element_span",
        sa.Column("id", engine.models.BigId, primary_key=True),
        sa.Column("instance_id", engine.models.BigId,
                  sa.ForeignKey("instance.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("bpmn_id", sa.String(200), nullable=False),
        sa.Column("started_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", engine.models.UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_element_span_open", "element_span", ["instance_id", "task_id", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_element_span_open", "element_span")
    op.drop_table("element_span")
