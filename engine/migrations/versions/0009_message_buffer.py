"""message buffer: messages for known requests whose process does not wait for them yet

One row per message (engine/message_buffer.py): kept `pending` until the process subscribes and
it is delivered, or `expired` at `expires_at` (the message's time to live).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "buffered_message",
        sa.Column("id", engine.models.BigId, primary_key=True),
        sa.Column("business_key", sa.String(100), nullable=False),
        sa.Column("instance_id", engine.models.BigId, nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=True, unique=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_role", sa.String(40), nullable=False),
        sa.Column("received_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("settled_at", engine.models.UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_buffered_message_pending", "buffered_message", ["business_key", "status"])
    op.create_index("ix_buffered_message_expiry", "buffered_message", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("buffered_message")
