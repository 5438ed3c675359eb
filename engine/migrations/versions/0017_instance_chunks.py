"""instance states in chunks

`instance_chunk`: the chunks of a CHUNKED instance state (engine/runtime/state_store.py), each
under its sha256; the instance row's `state` is then the manifest naming them. Instances stored
before keep their whole state in the row (serializer_version '1.5'), as their events' hashes
were made from it.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_chunk",
        sa.Column("instance_id", engine.models.BigId,
                  sa.ForeignKey("instance.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("body", sa.Text(), nullable=False))


def downgrade() -> None:
    op.drop_table("instance_chunk")
