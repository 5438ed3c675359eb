"""service tiers: the tier a request needs, and the tier of each staff member

`service_request.service_tier`: L1, L2 or expert, as the routing table sets it (bpmn/routing.dmn,
output service_tier; engine/service_requests.sync copies it); NULL for requests routed before.
`staff_tier`: the tier of a staff member (engine/service_tiers.py), L1 when none is set.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("service_request", sa.Column("service_tier", sa.String(10), nullable=True))
    op.create_table(
        "staff_tier",
        sa.Column("username", sa.String(100), primary_key=True),
        sa.Column("tier", sa.String(10), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", engine.models.UTCDateTime(timezone=True), nullable=False))


def downgrade() -> None:
    op.drop_table("staff_tier")
    with op.batch_alter_table("service_request") as table:
        table.drop_column("service_tier")
