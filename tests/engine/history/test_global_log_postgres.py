"""The global audit log on PostgreSQL, where writers really run at once: eight writers and a
sequencer running alongside them give every event and action exactly one position, densely,
each writer's own in the order it wrote them, and a rolled-back writer none; the database
refuses UPDATE, DELETE and TRUNCATE of audit rows; a forgery with the triggers disabled is
caught at its position."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.history import checkpoints, global_log, log_check
from engine.models import AuditAction, AuditEvent, AuditLeaf, Instance
from tests.conftest import DATA, rechain

pytestmark = pytest.mark.postgres

WRITERS = 8
EACH = 25
CS = Actor("cs_1", "staff", "customer_service")


@pytest.fixture
def audit_settings(settings, pg_url, tmp_path):
    s = settings.with_(database_url=pg_url, audit_dir=tmp_path / "audit",
                       audit_key_file=tmp_path / "keys" / "signing")
    checkpoints.ensure_key(s)
    return s


def test_writers_at_once_and_a_sequencer_beside_them_give_each_row_one_position(pg_sessions):
    start = threading.Barrier(WRITERS + 1)
    stop = threading.Event()
    errors: list = []

    def write(n):
        start.wait()
        try:
            for i in range(EACH):
                with pg_sessions.begin() as session:
                    global_log.record(session, "export", actor=f"w{n}", subject=str(i))
            with pg_sessions.begin() as session:      # a writer that rolls back
                global_log.record(session, "export", actor=f"w{n}", subject="gone")
                session.rollback()
        except Exception as err:
            errors.append(err)

    def sequencer():
        start.wait()
        while not stop.is_set():
            with pg_sessions.begin() as session:
                global_log.sequence(session)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    beside = threading.Thread(target=sequencer)
    for thread in threads + [beside]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    beside.join(timeout=60)
    assert errors == []
    with pg_sessions.begin() as session:
        global_log.sequence(session)
    with pg_sessions() as session:
        logged = list(session.execute(select(AuditLeaf.position, AuditAction.actor,
                                             AuditAction.subject)
                                      .join(AuditAction, AuditAction.id == AuditLeaf.action_id)
                                      .order_by(AuditLeaf.position)))
        assert global_log.pending_count(session) == 0
    assert [p for p, _, _ in logged] == list(range(WRITERS * EACH))
    for n in range(WRITERS):
        assert [s for _, a, s in logged if a == f"w{n}"] == [str(i) for i in range(EACH)]


def test_the_database_refuses_to_change_audit_rows(pg_sessions, runtime, audit_settings):
    with pg_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "simple"), "owner")
        instance = runtime.start(session, "simple", {"request_no": "R-1"})
        global_log.record(session, "export", actor="auditor")
    checkpoints.sign_head(pg_sessions, audit_settings)
    for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event",
                      "TRUNCATE audit_event", "UPDATE audit_leaf SET leaf_hash = 'x'",
                      "DELETE FROM audit_leaf", "DELETE FROM audit_action",
                      "UPDATE audit_checkpoint SET root = 'x'", "TRUNCATE audit_leaf"):
        with pytest.raises(Exception, match="append-only"):
            with pg_sessions.begin() as session:
                session.execute(text(statement))
    with pg_sessions.begin() as session:       # what an archive does: listed, then deleted
        session.execute(text("INSERT INTO audit_removal (instance_id, archive, at) "
                             f"VALUES ({instance.id}, 'a.json', now())"))
        assert session.execute(text("DELETE FROM audit_event")).rowcount == 1


def test_an_altered_event_with_recomputed_hashes_is_caught_on_postgres(pg_sessions, runtime,
                                                                       audit_settings):
    with pg_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "simple"), "owner")
        ids = [runtime.start(session, "simple", {"request_no": f"R-{n}"}, SYSTEM).id
               for n in range(3)]
    checkpoints.sign_head(pg_sessions, audit_settings)
    with pg_sessions.begin() as session:           # as the owner of the tables could
        for table in ("audit_event", "audit_leaf"):
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        instance = session.get(Instance, ids[1])
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == ids[1]))
        event.actor = "mallory"
        rechain(session, instance, [event])
        session.flush()
        leaf = session.scalars(select(AuditLeaf).where(AuditLeaf.instance_id == ids[1])).one()
        leaf.leaf_hash = global_log.hash_of_event(event)
        position = leaf.position
    keys = checkpoints.load_public_keys([audit_settings.audit_dir / "keys"])
    with pg_sessions() as session:
        result = log_check.check(session, audit_settings.audit_dir, keys)
    assert result.first_bad == position
    assert "differs from what was checkpointed" in result.problems[0]
