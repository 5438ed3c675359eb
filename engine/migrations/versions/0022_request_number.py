"""request numbers drawn per day outside the filing's transaction (PostgreSQL)

`request_number`: the last number drawn for each day (engine.service_requests._next_number);
filers on PostgreSQL draw from it in a statement that commits by itself, instead of holding a
numbering lock until their filing commits. SQLite filings keep taking the day's highest plus
one under the write lock and leave the table empty.

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("request_number",
                    sa.Column("day", sa.String(8), primary_key=True),
                    sa.Column("last", sa.Integer(), nullable=False))


def downgrade() -> None:
    op.drop_table("request_number")
