"""The audit trust commands as an operator and an auditor run them: init writes the signing
key, audit checkpoint signs, audit verify names the first bad position after a forgery with
recomputed hashes, audit proof exports an instance's inclusion proofs and audit check-proof
verifies them with the public key alone, rotate-key keeps old checkpoints verifiable."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import db
from engine.history import audit, global_log
from engine.models import AuditEvent, AuditLeaf, Instance
from tests.conftest import ROOT
from web.cli import main


@pytest.fixture
def cli(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    monkeypatch.setenv("AFTERSALES_AUDIT_DIR", str(tmp_path / "audit"))
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)
    return run


def forge_actor(db_url, instance_id, seq, actor):
    """Rewrite who did event `seq` of an instance, recompute its chain and its leaf, as an
    attacker with DDL rights who knows both schemes would."""
    engine = db.make_engine(db_url)
    with engine.begin() as conn:
        for (name,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = "
                                            "'trigger' AND tbl_name LIKE 'audit%'").all():
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    sessions = db.make_session_factory(engine)
    with sessions.begin() as session:
        events = list(session.scalars(select(AuditEvent).where(
            AuditEvent.instance_id == instance_id).order_by(AuditEvent.seq)))
        events[seq - 1].actor = actor
        prev = audit.GENESIS
        for event in events:
            event.prev_hash = prev
            event.hash = prev = audit.hash_of(event)
        session.get(Instance, instance_id).audit_head = prev
        session.flush()
        for event in events:
            leaf = session.scalars(select(AuditLeaf).where(
                AuditLeaf.instance_id == instance_id, AuditLeaf.seq == event.seq)).one()
            leaf.leaf_hash = global_log.hash_of_event(event)
        position = session.scalars(select(AuditLeaf.position).where(
            AuditLeaf.instance_id == instance_id, AuditLeaf.seq == seq)).one()
    engine.dispose()
    return position


def test_sign_verify_prove_and_catch_a_forgery(cli, db_url, tmp_path):
    init = cli("demo")
    assert "audit signing key written" in init.output
    signed = cli("audit", "checkpoint")
    assert signed.exit_code == 0 and signed.output.startswith("checkpoint: ")
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "log ok: " in verified.output

    proof = tmp_path / "proof.json"
    assert cli("audit", "proof", "2", "--output", proof).exit_code == 0
    keys = tmp_path / "audit" / "keys"
    checked = cli("audit", "check-proof", proof, "--public-key", keys)
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("ok: ")
    document = json.loads(proof.read_text())
    document["events"][0]["actor"] = "mallory"
    proof.write_text(json.dumps(document))
    refused = cli("audit", "check-proof", proof, "--public-key", keys)
    assert refused.exit_code == 1
    assert refused.output.startswith("event 1: not in the log under the signed checkpoint")

    position = forge_actor(db_url, 2, 2, "mallory")
    caught = cli("audit", "verify")
    assert caught.exit_code == 1
    assert f"log: FIRST BAD POSITION {position}\n" in caught.output
    assert f"log: position {position}: instance 2 event 2" in caught.output


def test_check_proof_runs_on_another_machine_without_the_database(cli, tmp_path):
    cli("demo")
    cli("audit", "checkpoint")
    proof = tmp_path / "proof.json"
    cli("audit", "proof", "1", "--output", proof)
    public = tmp_path / "auditor.pub"
    [key] = (tmp_path / "audit" / "keys").glob("*.pub")
    public.write_bytes(key.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    env["AFTERSALES_DATABASE_URL"] = f"sqlite:///{tmp_path / 'absent' / 'none.sqlite'}"
    done = subprocess.run([sys.executable, "-m", "web.cli", "audit", "check-proof", str(proof),
                           "--public-key", str(public)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")
    assert not (tmp_path / "absent" / "none.sqlite").exists()


def test_rotate_key_keeps_old_checkpoints_verifiable(cli, tmp_path):
    cli("demo")
    first = cli("audit", "checkpoint").output
    rotated = cli("audit", "rotate-key")
    assert rotated.exit_code == 0 and "whose public key is kept" in rotated.output
    second = cli("audit", "checkpoint").output
    assert first.split("by key ")[1][:16] != second.split("by key ")[1][:16]
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "2 checkpoint(s)" in verified.output
    assert len(list((tmp_path / "audit" / "keys").glob("*.pub"))) == 2
