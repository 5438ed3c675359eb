"""The global audit log and its signed checkpoints: every event and action gets a position, the
checkpoints verify with the public key alone, and an attacker with write access to the database
who knows the hash scheme (drops the triggers, recomputes every chain and every leaf hash) is
caught, with the first bad position named."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, text

from engine import clock
from engine.access import SYSTEM, Actor
from engine.errors import Conflict, NotFound
from engine.history import checkpoints, global_log, log_check, merkle, proofs
from engine.models import AuditAction, AuditEvent, AuditLeaf, AuditPending, Instance
from tests.conftest import DATA, allow_tampering, rechain

CS = Actor("cs_1", "staff", "customer_service")
FIN = Actor("fin_1", "staff", "finance")


@pytest.fixture
def audit_settings(settings, tmp_path):
    s = settings.with_(audit_dir=tmp_path / "audit", audit_key_file=tmp_path / "keys" / "signing")
    checkpoints.ensure_key(s)
    return s


@pytest.fixture
def history(sessions, deploy, run, task_of):
    """Three instances (AS-1 finished, AS-2 waiting for review, AS-3 timed out) and an action
    recorded between them."""
    deploy(DATA / "simple")

    def start(n):
        instance = run("start", "simple", {"request_no": f"AS-{n}", "amount": 9.0}, SYSTEM)
        run("claim", task_of(instance.id), CS)
        return instance.id
    ids = {1: start(1), 3: start(3)}
    with sessions.begin() as session:
        global_log.record(session, "export", actor="auditor", subject="AS-1")
    run("complete", task_of(ids[1]), {"approved": True}, CS)
    run("deliver_message", "refund_result", "AS-1", {"status": "paid", "reference": "R1"})
    clock.advance(timedelta(days=2))
    run("fire_due_timers")
    ids[2] = start(2)
    ids = [ids[1], ids[2], ids[3]]
    return ids


def sign(sessions, audit_settings, **kwargs):
    return checkpoints.sign_head(sessions, audit_settings, **kwargs)


def verify(sessions, audit_settings, keys=None):
    folder = audit_settings.audit_dir
    keys = keys if keys is not None else checkpoints.load_public_keys([folder / "keys"])
    with sessions() as session:
        return log_check.check(session, folder, keys)


def leaves(sessions) -> list[AuditLeaf]:
    with sessions() as session:
        return list(session.scalars(select(AuditLeaf).order_by(AuditLeaf.position)))


def position_of(sessions, instance_id, seq) -> int:
    return next(l.position for l in leaves(sessions) if (l.instance_id, l.seq) == (instance_id, seq))


def chain_of(session, instance_id):
    """The instance row and its events in order, to be altered by a forger."""
    return session.get(Instance, instance_id), list(session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id == instance_id).order_by(AuditEvent.seq)))


def forge_log(session, keep=lambda leaf: True, order=None) -> None:
    """Rewrite the whole log as a forger would: the leaves kept (in `order`, default as they
    were) renumbered from 0, each leaf hash recomputed from the rows' present content."""
    rows = list(session.scalars(select(AuditLeaf).order_by(AuditLeaf.position)))
    rows = [r for r in (order(rows) if order else rows) if keep(r)]
    events = {(e.instance_id, e.seq): e for e in session.scalars(select(AuditEvent))}
    actions = {a.id: a for a in session.scalars(select(AuditAction))}
    forged = []
    for n, r in enumerate(rows):
        content = (global_log.hash_of_action(actions[r.action_id]) if r.action_id is not None
                   else global_log.hash_of_event(events[(r.instance_id, r.seq)]))
        forged.append({"position": n, "instance_id": r.instance_id, "seq": r.seq,
                       "action_id": r.action_id, "leaf_hash": content,
                       "sequenced_at": r.sequenced_at})
    session.execute(delete(AuditLeaf))
    session.flush()
    if forged:
        session.execute(insert(AuditLeaf.__table__), forged)


def test_every_event_and_action_gets_the_next_position_in_the_order_written(
        sessions, history, audit_settings):
    with sessions() as session:
        written = [(e.instance_id, e.seq) for e in session.scalars(
            select(AuditEvent).order_by(AuditEvent.id))]
        actions = session.scalars(select(AuditAction.id).order_by(AuditAction.id)).all()
        assert len(actions) == 3           # the two deployments of tests/data/simple, the export
        assert global_log.pending_count(session) == len(written) + len(actions)
    checkpoint = sign(sessions, audit_settings)
    logged = leaves(sessions)
    assert [l.position for l in logged] == list(range(len(written) + len(actions)))
    events_in_log = [(l.instance_id, l.seq) for l in logged if l.action_id is None]
    assert events_in_log == written
    assert [l.position for l in logged if l.action_id is not None] == [0, 1, 6]
    # (the export after the start and claim of AS-1 and of AS-3)
    with sessions() as session:
        assert global_log.pending_count(session) == 0
    assert checkpoint.size == len(logged)
    assert checkpoint.root == merkle.root([bytes.fromhex(l.leaf_hash) for l in logged]).hex()
    assert checkpoints.Folder(audit_settings.audit_dir).leaf_count() == len(logged)


def test_a_clean_log_verifies_with_the_public_key_alone(sessions, history, audit_settings, run,
                                                        task_of):
    first = sign(sessions, audit_settings)
    assert sign(sessions, audit_settings) is None          # nothing new: no checkpoint
    run("complete", task_of(history[1]), {"approved": False}, CS)
    second = sign(sessions, audit_settings)
    assert second.size > first.size and second.prev == first.digest()
    result = verify(sessions, audit_settings)
    assert result.ok, result.problems
    assert (result.size, result.checkpoints, result.first_bad) == (second.size, 2, None)


def test_an_altered_event_with_recomputed_hashes_and_leaves_is_caught_at_its_position(
        sessions, history, audit_settings):
    sign(sessions, audit_settings)
    allow_tampering(sessions)
    with sessions.begin() as session:
        instance, events = chain_of(session, history[0])
        events[2].actor = "mallory"          # who completed the review
        rechain(session, instance, events)
        session.flush()
        forge_log(session)
    result = verify(sessions, audit_settings)
    assert not result.ok
    assert result.first_bad == position_of(sessions, history[0], 3)
    assert f"position {result.first_bad}: instance {history[0]} event 3" in result.problems[0]
    assert "differs from what was checkpointed" in result.problems[0]


def test_an_event_altered_after_it_was_logged_but_before_a_checkpoint_is_caught(
        sessions, history, audit_settings):
    with sessions.begin() as session:
        global_log.sequence(session)
    allow_tampering(sessions)
    with sessions.begin() as session:
        session.execute(text("UPDATE audit_event SET actor = 'mallory' "
                             f"WHERE instance_id = {history[2]} AND seq = 2"))
    result = verify(sessions, audit_settings)
    assert result.first_bad == position_of(sessions, history[2], 2)
    assert "was altered after it was logged" in result.problems[0]


def test_a_deleted_instance_is_caught_at_its_first_position(sessions, history, audit_settings):
    sign(sessions, audit_settings)
    first = position_of(sessions, history[1], 1)
    allow_tampering(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.instance_id == history[1]))
        session.execute(delete(Instance).where(Instance.id == history[1]))
        forge_log(session, keep=lambda leaf: leaf.instance_id != history[1])
    result = verify(sessions, audit_settings)
    assert result.first_bad == first
    assert not result.ok


def test_a_deleted_event_whose_leaf_stays_is_named(sessions, history, audit_settings):
    sign(sessions, audit_settings)
    allow_tampering(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.instance_id == history[1],
                                                 AuditEvent.seq == 2))
    result = verify(sessions, audit_settings)
    assert result.first_bad == position_of(sessions, history[1], 2)
    assert f"instance {history[1]} event 2 was deleted" in result.problems[0]


def test_a_truncated_tail_is_caught_where_it_was_cut(sessions, history, audit_settings):
    checkpoint = sign(sessions, audit_settings)
    allow_tampering(sessions)
    with sessions.begin() as session:       # the last two leaves and their events go
        last = list(session.scalars(select(AuditLeaf).order_by(AuditLeaf.position.desc())
                                    .limit(2)))
        for leaf in last:
            session.execute(delete(AuditEvent).where(AuditEvent.instance_id == leaf.instance_id,
                                                     AuditEvent.seq == leaf.seq))
            session.execute(delete(AuditLeaf).where(AuditLeaf.position == leaf.position))
    result = verify(sessions, audit_settings)
    assert result.first_bad == checkpoint.size - 2
    assert any("the tail was cut" in p for p in result.problems)
    with pytest.raises(Conflict, match="its tail was cut"):
        sign(sessions, audit_settings)                   # and no checkpoint signs the cut log


def test_an_inserted_event_is_caught(sessions, history, audit_settings):
    sign(sessions, audit_settings)
    allow_tampering(sessions)
    with sessions.begin() as session:
        instance, events = chain_of(session, history[0])
        for e in reversed(events[2:]):       # make room for a forged seq 3
            e.seq += 1
            session.flush()
        forged = AuditEvent(instance_id=history[0], seq=3, at=events[1].at, actor="mallory",
                            kind="task_claimed", element="review", task_id=events[1].task_id,
                            payload={}, state_hash=events[1].state_hash, prev_hash="", hash="")
        session.add(forged)
        chain = events[:2] + [forged] + events[2:]
        rechain(session, instance, chain)
        session.flush()
        plan = []                 # the log as the forger wants it: seq 3 forged, later ones moved
        for r in session.scalars(select(AuditLeaf).order_by(AuditLeaf.position)):
            moved = r.instance_id == history[0] and r.seq >= 3
            plan.append(AuditLeaf(instance_id=r.instance_id, seq=r.seq + 1 if moved else r.seq,
                                  action_id=r.action_id, sequenced_at=r.sequenced_at))
            if (r.instance_id, r.seq) == (history[0], 2):
                plan.append(AuditLeaf(instance_id=history[0], seq=3, action_id=None,
                                      sequenced_at=r.sequenced_at))
        forge_log(session, order=lambda rows: plan)
    result = verify(sessions, audit_settings)
    assert not result.ok
    # AS-1's start and claim are intact, then the forgery
    assert result.first_bad == position_of(sessions, history[0], 2) + 1


def test_reordered_events_are_caught_at_the_first_moved_position(sessions, history,
                                                                 audit_settings):
    sign(sessions, audit_settings)
    allow_tampering(sessions)
    with sessions.begin() as session:
        forge_log(session, order=lambda rows: rows[:3] + [rows[4], rows[3]] + rows[5:])
    result = verify(sessions, audit_settings)
    assert result.first_bad == 3
    assert "differs from what was checkpointed" in result.problems[0]


def test_without_the_leaf_file_the_span_between_checkpoints_is_named(
        sessions, history, audit_settings, run, task_of):
    first = sign(sessions, audit_settings)
    run("complete", task_of(history[1]), {"approved": True}, CS)
    second = sign(sessions, audit_settings)
    (audit_settings.audit_dir / checkpoints.LEAVES).unlink()
    allow_tampering(sessions)
    with sessions.begin() as session:
        session.execute(text(f"UPDATE audit_event SET actor = 'mallory' WHERE instance_id = "
                             f"{history[1]} AND seq = (SELECT max(seq) FROM audit_event WHERE "
                             f"instance_id = {history[1]})"))
        forge_log(session)
    result = verify(sessions, audit_settings)
    assert result.first_bad == first.size
    assert any(f"a position from {first.size} to {second.size - 1} was changed" in p
               for p in result.problems)


def test_a_replaced_or_removed_checkpoint_is_caught(sessions, history, audit_settings, run,
                                                    task_of, tmp_path):
    sign(sessions, audit_settings)
    run("complete", task_of(history[1]), {"approved": True}, CS)
    sign(sessions, audit_settings)
    path = audit_settings.audit_dir / checkpoints.CHECKPOINTS
    original = path.read_text()
    lines = original.splitlines()

    # A checkpoint of a forged root, signed with a key of the attacker's own.
    mine = checkpoints.Signer(checkpoints.Ed25519PrivateKey.generate())
    old = checkpoints.Checkpoint.parse(lines[0])
    forged = checkpoints.Checkpoint.signed(mine, old.size, "00" * 32, old.at, old.prev)
    path.write_text("\n".join([forged.line(), lines[1]]) + "\n")
    result = verify(sessions, audit_settings)
    assert any(p.startswith("checkpoint 1") and "unknown key" in p for p in result.problems)

    # The same checkpoint with its root changed and the right key id: the signature fails.
    changed = checkpoints.Checkpoint(old.size, "11" * 32, old.at, old.key_id, old.prev,
                                     old.signature)
    path.write_text("\n".join([changed.line(), lines[1]]) + "\n")
    assert any("signature" in p for p in verify(sessions, audit_settings).problems)

    # The first one taken out: the second no longer follows anything.
    path.write_text(lines[1] + "\n")
    assert any(p.startswith("checkpoint 1") and "does not follow" in p
               for p in verify(sessions, audit_settings).problems)
    path.write_text(original)
    assert verify(sessions, audit_settings).ok


def test_key_rotation_keeps_old_checkpoints_verifiable(sessions, history, audit_settings, run,
                                                       task_of):
    first = sign(sessions, audit_settings)
    old_id, new_id = checkpoints.rotate_key(audit_settings)
    assert old_id == first.key_id and new_id != old_id
    run("complete", task_of(history[1]), {"approved": True}, CS)
    second = sign(sessions, audit_settings)
    assert second.key_id == new_id
    keys_dir = audit_settings.audit_dir / "keys"
    assert sorted(p.stem for p in keys_dir.glob("*.pub")) == sorted([old_id, new_id])
    result = verify(sessions, audit_settings)
    assert result.ok and result.checkpoints == 2
    only_new = checkpoints.load_public_keys([keys_dir / f"{new_id}.pub"])
    problems = verify(sessions, audit_settings, keys=only_new).problems
    assert problems == [f"checkpoint 1 ({first.at}, size {first.size}): signed by unknown key "
                        f"{old_id}"]


def test_an_instance_proof_verifies_without_the_database_and_refuses_any_change(
        sessions, history, audit_settings):
    sign(sessions, audit_settings)
    with sessions() as session:
        document = proofs.export(session, audit_settings.audit_dir, "AS-1")
    document = json.loads(json.dumps(document))           # as written to a file and read back
    keys = checkpoints.load_public_keys([audit_settings.audit_dir / "keys"])
    assert proofs.check(document, keys) == []
    assert [e["kind"] for e in document["events"]] == [
        "started", "task_claimed", "task_completed", "message_delivered"]

    altered = json.loads(json.dumps(document))
    altered["events"][2]["actor"] = "mallory"
    problems = proofs.check(altered, keys)
    assert problems[0].startswith("event 3: not in the log under the signed checkpoint")
    dropped = json.loads(json.dumps(document))
    del dropped["events"][1]
    assert any("expected event 2" in p for p in proofs.check(dropped, keys))
    other = {checkpoints.key_id(k.public_key()): k.public_key()
             for k in [checkpoints.Ed25519PrivateKey.generate()]}
    assert "unknown key" in proofs.check(document, other)[0]


def test_an_instance_named_by_its_id_in_ascii_digits_only(sessions, history):
    """'¹' and '١' (Arabic-Indic one) are digits to str.isdigit: int() refused the first (a
    crash) and read the second as instance 1."""
    with sessions() as session:
        assert proofs.find_instance(session, "1").business_key == "AS-1"
        for ref in ("¹", "١", "99999999999999999999"):
            with pytest.raises(NotFound):
                proofs.find_instance(session, ref)


def test_a_proof_shows_the_newest_checkpoint_extends_the_first_that_held_the_instance(
        sessions, history, audit_settings, run, task_of):
    first = sign(sessions, audit_settings)
    run("complete", task_of(history[1]), {"approved": True}, CS)
    newest = sign(sessions, audit_settings)
    with sessions() as session:
        document = json.loads(json.dumps(proofs.export(session, audit_settings.audit_dir,
                                                       "AS-3")))
    keys = checkpoints.load_public_keys([audit_settings.audit_dir / "keys"])
    assert document["since"]["checkpoint"]["size"] == first.size
    assert document["checkpoint"]["size"] == newest.size
    assert proofs.check(document, keys) == []
    document["since"]["consistency"][0] = "00" * 32
    assert proofs.check(document, keys)[0].startswith(
        "the older checkpoint: the newest one does not extend it")


def test_the_proofs_paths_are_the_rfc_paths():
    hashes = [merkle.leaf_hash(str(i).encode()) for i in range(37)]
    for n in range(1, 38):
        paths = proofs.audit_paths(list(range(n)), hashes[:n])
        assert all(paths[i] == merkle.inclusion_proof(i, hashes[:n]) for i in range(n))


def test_a_proof_is_refused_for_events_not_under_a_checkpoint(sessions, history, audit_settings,
                                                              run, task_of):
    sign(sessions, audit_settings)
    run("complete", task_of(history[1]), {"approved": True}, CS)
    with sessions() as session, pytest.raises(Conflict, match="not under a checkpoint yet"):
        proofs.export(session, audit_settings.audit_dir, str(history[1]))


def test_an_event_inserted_outside_the_log_is_named(sessions, history, audit_settings):
    sign(sessions, audit_settings)
    with sessions.begin() as session:
        e = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == history[2])
                            .order_by(AuditEvent.seq.desc())).first()
        session.add(AuditEvent(instance_id=e.instance_id, seq=e.seq + 1, at=e.at, actor="x",
                               kind="comment", element=None, task_id=None, payload={},
                               state_hash=e.state_hash, prev_hash=e.hash, hash="f" * 64))
    result = verify(sessions, audit_settings)
    assert any(f"instance {history[2]} event {e.seq + 1}" in p and "outside the global log" in p
               for p in result.problems)


def test_a_queued_row_whose_writer_rolled_back_takes_no_position(sessions, history,
                                                                 audit_settings):
    with sessions.begin() as session:
        session.add(AuditPending(instance_id=999, seq=1))
    checkpoint = sign(sessions, audit_settings)
    assert all(l.instance_id != 999 for l in leaves(sessions))
    assert checkpoint.size == len(leaves(sessions))


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor = 'mallory'",
    "DELETE FROM audit_event",
    "UPDATE audit_leaf SET leaf_hash = 'x'",
    "DELETE FROM audit_leaf",
    "UPDATE audit_action SET actor = 'x'",
    "DELETE FROM audit_action",
    "DELETE FROM audit_checkpoint",
    "DELETE FROM audit_removal",
])
def test_the_database_refuses_to_change_audit_rows(sessions, history, audit_settings, statement):
    sign(sessions, audit_settings)
    with sessions.begin() as session:
        session.execute(text("INSERT INTO audit_removal (instance_id, archive, at) "
                             "VALUES (999, 'x', '2026-01-01')"))
    with pytest.raises(Exception, match="append-only"):
        with sessions.begin() as session:
            session.execute(text(statement))


def test_each_checkpoint_goes_to_the_witness_and_a_witness_down_stops_nothing(
        sessions, history, audit_settings):
    from tests.http_server import LocalServer
    witness = LocalServer(lambda received: (201, {"ok": True}))
    try:
        checkpoint = sign(sessions, audit_settings.with_(audit_witness_url=witness.url + "/cp"))
        [got] = witness.received
        assert (got.method, got.path) == ("POST", "/cp")
        assert checkpoints.Checkpoint.parse(got.raw.decode()) == checkpoint
    finally:
        witness.stop()
    forced = sign(sessions, audit_settings.with_(audit_witness_url=witness.url), force=True)
    assert forced is not None and forced.prev == checkpoint.digest()    # the file has it


def test_the_scheduler_job_signs_when_the_log_grew_and_without_a_key_signs_nothing(
        sessions, history, audit_settings, tmp_path, caplog):
    from engine.jobs.scheduler import PlatformScheduler
    from engine.runtime.verbs import Runtime
    job = PlatformScheduler(sessions, Runtime(audit_settings))
    assert job.run_checkpoint().size == len(leaves(sessions))
    assert job.run_checkpoint() is None
    keyless = PlatformScheduler(sessions, Runtime(audit_settings.with_(
        audit_key_file=tmp_path / "none")))
    assert keyless.run_checkpoint() is None
    assert "no audit signing key" in caplog.text


def archive_finished(sessions, runtime, folder, **kwargs):
    """Archive what finished a year ago: AS-3 (timed out); AS-1 and AS-2 still wait."""
    from engine.history import archive
    clock.advance(timedelta(days=400))
    with sessions.begin() as session:
        return archive.archive(session, timedelta(days=365), folder, "ops",
                               script_engine=runtime.script_engine, **kwargs)


def test_a_signed_archive_removes_exactly_what_verification_then_accepts(
        sessions, runtime, history, audit_settings):
    sign(sessions, audit_settings)
    finished = [history[2]]
    removed_positions = sorted(l.position for l in leaves(sessions) if l.instance_id in finished)
    archive_finished(sessions, runtime, audit_settings.archive_dir, settings=audit_settings)
    with sessions() as session:
        assert sorted(session.scalars(select(AuditEvent.instance_id).distinct())) == sorted(
            history[:2])
    [record] = checkpoints.Folder(audit_settings.audit_dir).removals()
    assert [l[0] for l in record["leaves"]] == removed_positions
    result = verify(sessions, audit_settings)
    assert result.ok, result.problems
    assert result.removed == len(removed_positions)
    [archived] = [a for a in actions_of(sessions) if a.kind == "archived"]
    assert archived.actor == "ops" and archived.payload["instances"] == finished
    assert sign(sessions, audit_settings).size == result.size + 1     # the archive's own action


def actions_of(sessions) -> list[AuditAction]:
    with sessions() as session:
        return list(session.scalars(select(AuditAction).order_by(AuditAction.id)))


def test_an_archive_without_a_signed_record_or_a_forged_one_is_reported(
        sessions, runtime, history, audit_settings):
    sign(sessions, audit_settings)
    first = position_of(sessions, history[2], 1)
    archive_finished(sessions, runtime, audit_settings.archive_dir)     # no settings: no record
    result = verify(sessions, audit_settings)
    assert result.first_bad == first
    assert f"position {first}: instance {history[2]} event 1 was deleted" in result.problems

    # A removal record the attacker signed with a key of their own is not taken.
    mine = checkpoints.Signer(checkpoints.Ed25519PrivateKey.generate())
    forged = {"format": checkpoints.REMOVAL_FORMAT, "at": "x", "archive": "a", "sha256": "0",
              "instances": [history[2]], "key_id": mine.key_id,
              "leaves": [[l.position, l.leaf_hash, l.instance_id, l.seq]
                         for l in leaves(sessions) if l.instance_id == history[2]]}
    forged["signature"] = mine.sign(checkpoints.removal_body(forged))
    checkpoints.Folder(audit_settings.audit_dir).append(
        checkpoints.REMOVALS, json.dumps(forged) + "\n")
    result = verify(sessions, audit_settings)
    assert result.first_bad == first
    assert any(p.startswith("removal record 1: signed by unknown key") for p in result.problems)


def test_the_database_lets_only_listed_instances_lose_their_events(sessions, history,
                                                                   audit_settings):
    with pytest.raises(Exception, match="append-only"):
        with sessions.begin() as session:
            session.execute(delete(AuditEvent).where(AuditEvent.instance_id == history[0]))
    with sessions.begin() as session:
        session.execute(text("INSERT INTO audit_removal (instance_id, archive, at) "
                             f"VALUES ({history[0]}, 'a.json', '2026-11-23')"))
        assert session.execute(delete(AuditEvent).where(
            AuditEvent.instance_id == history[0])).rowcount == 4
    with pytest.raises(Exception, match="append-only"):
        with sessions.begin() as session:
            session.execute(delete(AuditEvent).where(AuditEvent.instance_id == history[1]))


def test_the_newest_checkpoint_is_read_from_the_end_of_a_long_file(sessions, history,
                                                                    audit_settings):
    folder = checkpoints.Folder(audit_settings.audit_dir)
    assert folder.last_checkpoint() is None
    for _ in range(60):                       # lines longer together than one read from the end
        newest = sign(sessions, audit_settings, force=True)
    assert folder.last_checkpoint() == newest == folder.checkpoints()[-1]
    (folder.path / checkpoints.CHECKPOINTS).write_text(newest.line() + "\n")
    assert folder.last_checkpoint() == newest     # a file of one line
