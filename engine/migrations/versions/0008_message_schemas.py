"""message schemas: each definition version keeps the JSON Schemas of the messages it waits for

`definition.messages` maps a message name to the JSON Schema of its payload, as deployed from
the bundle's messages/ folder (engine/definitions/messages.py); deliveries to an instance are
checked against its version's schemas. Versions deployed before get {} and take any payload.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("definition") as batch:
        batch.add_column(sa.Column("messages", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("definition") as batch:
        batch.drop_column("messages")
