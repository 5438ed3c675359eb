"""task comments lose their `internal` flag

Every comment was written with internal = true and nothing ever read it: comments are staff
notes by definition (customers never see them), so the column said nothing.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_comment") as batch:
        batch.drop_column("internal")


def downgrade() -> None:
    with op.batch_alter_table("task_comment") as batch:
        batch.add_column(sa.Column("internal", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
