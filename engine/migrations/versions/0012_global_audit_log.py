"""the global audit log: actions, the queue, positions, checkpoints; no UPDATE or DELETE

`audit_action`: audited actions outside any instance (deployments, accounts, logins, exports).
`audit_pending`: events and actions waiting for the sequencer; every event already recorded is
queued here, in the order it was written, so that it gets a position in the global log.
`audit_leaf`: each position of the log and its RFC 6962 leaf hash. `audit_checkpoint`: copies of
the signed tree heads. `audit_removal`: instances whose history a retention archive removed.

The database refuses UPDATE of every audit table and DELETE of all but the queue, whoever issues
it, with one exception: the events of an instance listed in `audit_removal` may be deleted (the
archive lists an instance there, with the signed record of what it removed, before deleting).
PostgreSQL refuses TRUNCATE of them too. Someone with DDL rights can still drop the triggers:
the signed checkpoints outside the database are what make that visible
(engine/history/checkpoints.py); the triggers stop accidents and casual edits.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Time = engine.models.UTCDateTime(timezone=True)
Id = engine.models.BigId
MESSAGE = "audit records are append-only"
# Tables whose rows are never updated or deleted (audit_event: deleted only once archived).
APPEND_ONLY = ("audit_action", "audit_leaf", "audit_checkpoint", "audit_removal")
REMOVED = "EXISTS (SELECT 1 FROM audit_removal r WHERE r.instance_id = OLD.instance_id)"


def upgrade() -> None:
    op.create_table(
        "audit_action",
        sa.Column("id", Id, primary_key=True),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False))
    op.create_index("ix_audit_action_at", "audit_action", ["at"])
    op.create_table(
        "audit_pending",
        sa.Column("id", Id, primary_key=True),
        sa.Column("instance_id", Id, nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("action_id", Id, nullable=True))
    op.create_table(
        "audit_leaf",
        sa.Column("position", Id, primary_key=True, autoincrement=False),
        sa.Column("instance_id", Id, nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("action_id", Id, nullable=True),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
        sa.Column("sequenced_at", Time, nullable=False),
        sa.UniqueConstraint("instance_id", "seq"),
        sa.UniqueConstraint("action_id"))
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("line", sa.Text(), nullable=False))
    op.create_table(
        "audit_removal",
        sa.Column("instance_id", Id, primary_key=True, autoincrement=False),
        sa.Column("archive", sa.String(200), nullable=False),
        sa.Column("at", Time, nullable=False))
    op.execute("INSERT INTO audit_pending (instance_id, seq) "
               "SELECT instance_id, seq FROM audit_event ORDER BY id")

    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_refuse() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql""")
        op.execute(f"""
            CREATE FUNCTION audit_event_refuse_delete() RETURNS trigger AS $$
            BEGIN
                IF {REMOVED} THEN RETURN OLD; END IF;
                RAISE EXCEPTION '{MESSAGE}';
            END; $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
            FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_delete()""")
        for table in ("audit_event",) + APPEND_ONLY:
            op.execute(f"""
                CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse()""")
        for table in APPEND_ONLY:
            op.execute(f"""
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION audit_refuse()""")
    else:
        op.execute(f"""
            CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
            WHEN NOT {REMOVED}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
                    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    triggers = [("audit_event_no_delete", "audit_event")]
    if postgres:
        triggers += [(f"{t}_no_truncate", t) for t in ("audit_event",) + APPEND_ONLY]
        triggers += [(f"{t}_append_only", t) for t in APPEND_ONLY]
    else:
        triggers += [(f"{t}_no_{v}", t) for t in APPEND_ONLY for v in ("update", "delete")]
    for name, table in triggers:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS audit_event_refuse_delete()")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse()")
    for table in ("audit_removal", "audit_checkpoint", "audit_leaf", "audit_pending",
                  "audit_action"):
        op.drop_table(table)
