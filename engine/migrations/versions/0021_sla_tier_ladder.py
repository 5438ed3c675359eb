"""the SLA ladder of a task: handed up the service tiers before it escalates

`human_task.tier`: the service tier the SLA watch handed a breached task to (engine/jobs/sla.py;
NULL while it needs its request's tier), `sla_level`: how many levels it went up since its
breach, `next_level_at`: when it goes up the next one (NULL before its breach and at the top).

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("human_task", sa.Column("tier", sa.String(10), nullable=True))
    op.add_column("human_task", sa.Column("sla_level", sa.Integer(), nullable=False,
                                          server_default="0"))
    op.add_column("human_task", sa.Column("next_level_at",
                                          engine.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("human_task") as table:
        table.drop_column("next_level_at")
        table.drop_column("sla_level")
        table.drop_column("tier")
