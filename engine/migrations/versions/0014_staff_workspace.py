"""the staff workspace: presence on tasks, department settings, saved filters, search indexes

`task_presence`: who has a task's pane open (engine/presence.py). `department_setting`: a
department's rules for its work, such as a claim before completing (engine/department_settings.py).
`saved_filter`: named task-list filters, one person's or shared with a department
(engine/saved_filters.py).
Search (engine/search.py): an index on customers' display names, and an expression index on the
phone of each shop order's contact without spaces and dashes, written exactly as
engine.search.PHONE_SQL queries it (SQLite uses an expression index only for the same text).

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Time = engine.models.UTCDateTime(timezone=True)
PHONE_SQL = {
    "sqlite": "replace(replace(json_extract(contact, '$.phone'), ' ', ''), '-', '')",
    "postgresql": "replace(replace(contact ->> 'phone', ' ', ''), '-', '')",
}


def upgrade() -> None:
    op.create_table(
        "task_presence",
        sa.Column("task_id", sa.String(40), primary_key=True),
        sa.Column("username", sa.String(100), primary_key=True),
        sa.Column("seen_at", Time, nullable=False))
    op.create_table(
        "department_setting",
        sa.Column("department", sa.String(50), primary_key=True),
        sa.Column("claim_required", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_by", sa.String(100), nullable=True),
        sa.Column("updated_at", Time, nullable=True))
    op.create_table(
        "saved_filter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.String(1000), nullable=False),
        sa.Column("department", sa.String(50), nullable=True),
        sa.Column("created_at", Time, nullable=False))
    op.create_index("ix_saved_filter_owner", "saved_filter", ["owner"])
    op.create_index("ix_saved_filter_department", "saved_filter", ["department"])
    op.create_index("ix_user_account_display_name", "user_account", ["display_name"])
    expression = PHONE_SQL[op.get_bind().dialect.name]
    op.execute(f"CREATE INDEX ix_shop_order_phone ON shop_order (({expression}))"
               if op.get_bind().dialect.name == "postgresql" else
               f"CREATE INDEX ix_shop_order_phone ON shop_order ({expression})")


def downgrade() -> None:
    op.execute("DROP INDEX ix_shop_order_phone")
    op.drop_index("ix_user_account_display_name", "user_account")
    op.drop_table("saved_filter")
    op.drop_table("department_setting")
    op.drop_table("task_presence")
