"""Migration 0012 on a database that already has history: every event recorded before it is
queued for the global log in the order it was written, and the first checkpoint covers them."""
from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, select, text

from engine import config, db
from engine.history import checkpoints, log_check
from engine.models import AuditLeaf


def test_events_recorded_before_the_global_log_get_positions_in_the_order_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    command.upgrade(db.alembic_config(url), "0011")
    engine = create_engine(url)
    with engine.begin() as conn:
        for instance_id, seq in ((7, 1), (8, 1), (7, 2)):
            conn.execute(text(
                "INSERT INTO audit_event (instance_id, seq, at, actor, kind, payload, state_hash, "
                "prev_hash, hash) VALUES (:i, :s, '2026-11-01 02:00:00.000000', 'cs_1', 'started', "
                "'{}', 'x', 'y', 'z')"), {"i": instance_id, "s": seq})
    engine.dispose()
    db.upgrade(url)
    settings = config.Settings(database_url=url, audit_dir=tmp_path / "audit",
                               audit_key_file=tmp_path / "key")
    checkpoints.ensure_key(settings)
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    checkpoint = checkpoints.sign_head(sessions, settings)
    with sessions() as session:
        logged = [(l.position, l.instance_id, l.seq) for l in session.scalars(
            select(AuditLeaf).order_by(AuditLeaf.position))]
        result = log_check.check(session, settings.audit_dir,
                                 checkpoints.load_public_keys([settings.audit_dir / "keys"]))
    engine.dispose()
    assert logged == [(0, 7, 1), (1, 8, 1), (2, 7, 2)]
    assert checkpoint.size == 3 and result.ok, result.problems
