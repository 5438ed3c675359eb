"""customer feedback on the record, its classes and the taxonomy's versions

`feedback`: what customers said about a request in their words (filing reason, complaint,
rating comment, reopen reason), one row per text of an audit event (engine/feedback.py).
`feedback_class`: the classes the classifier gave each row. `feedback_taxonomy`: the deployed
versions of the taxonomy and its keyword rules (engine/feedback_taxonomy.py).

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

Time = engine.models.UTCDateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("request_id", BigId, nullable=False),
        sa.Column("request_no", sa.String(40), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("taxonomy_version", sa.Integer(), nullable=False),
        sa.Column("instance_id", BigId, nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.UniqueConstraint("instance_id", "event_seq", "kind", name="uq_feedback_event"))
    op.create_index("ix_feedback_request", "feedback", ["request_id"])
    op.create_index("ix_feedback_at", "feedback", ["at"])
    op.create_table(
        "feedback_class",
        sa.Column("feedback_id", BigId, sa.ForeignKey("feedback.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("name", sa.String(40), primary_key=True))
    op.create_index("ix_feedback_class_name", "feedback_class", ["name", "feedback_id"])
    op.create_table(
        "feedback_taxonomy",
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("deployed_by", sa.String(100), nullable=False),
        sa.Column("deployed_at", Time, nullable=False))


def downgrade() -> None:
    op.drop_table("feedback_taxonomy")
    op.drop_index("ix_feedback_class_name", "feedback_class")
    op.drop_table("feedback_class")
    op.drop_index("ix_feedback_at", "feedback")
    op.drop_index("ix_feedback_request", "feedback")
    op.drop_table("feedback")
