"""outbox leases: several dispatchers share the due rows without taking the same one

`outbox.claimed_by`: the claim (dispatcher and pass) that holds the row; `outbox.lease_until`:
until when. A claimed row is skipped by other dispatchers until its lease runs out, so a
dispatcher that died between a provider's answer and its record leaves the row to be delivered
again (the provider deduplicates by the idempotency key). engine/jobs/outbox.py.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("claimed_by", sa.String(200), nullable=True))
    op.add_column("outbox", sa.Column("lease_until", engine.models.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.drop_column("lease_until")
        table.drop_column("claimed_by")
