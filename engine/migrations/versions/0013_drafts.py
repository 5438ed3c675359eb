"""process owners' drafts: revisions with a note, shares with other owners

`draft`: one owner's work in progress on a bundle, with the deployed versions it started from
and the revision deployed from it, if any. `draft_revision`: every saved state (all files by
path, the note, who saved it), never changed. `draft_share`: the other owners who may open,
edit and deploy it (engine/definitions/drafts.py). A draft is never read by the runtime.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Time = engine.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "draft",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("head", sa.Integer(), nullable=False),
        sa.Column("base", sa.JSON(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("deployed_revision", sa.Integer(), nullable=True),
        sa.Column("deployed_at", Time, nullable=True))
    op.create_index("ix_draft_owner", "draft", ["owner"])
    op.create_table(
        "draft_revision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("draft_id", sa.Integer(), sa.ForeignKey("draft.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("saved_by", sa.String(100), nullable=False),
        sa.Column("saved_at", Time, nullable=False),
        sa.UniqueConstraint("draft_id", "number"))
    op.create_table(
        "draft_share",
        sa.Column("draft_id", sa.Integer(), sa.ForeignKey("draft.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("username", sa.String(100), primary_key=True),
        sa.Column("shared_by", sa.String(100), nullable=False),
        sa.Column("shared_at", Time, nullable=False))
    op.create_index("ix_draft_share_username", "draft_share", ["username"])


def downgrade() -> None:
    op.drop_table("draft_share")
    op.drop_table("draft_revision")
    op.drop_table("draft")
