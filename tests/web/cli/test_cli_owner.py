"""The process-owner commands, run the way an owner runs them."""
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import clock
from engine.access import SYSTEM, Actor
from engine.models import HumanTask, Instance
from tests.conftest import DATA
from web.cli import main

V2 = DATA / "versions" / "v2"
CS = Actor("cs_1", "staff", "customer_service")


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
    return run


@pytest.fixture
def world(sessions, runtime, deploy):
    """simple v1 with a refused request (finished) and one waiting for review; then v2."""
    deploy(DATA / "simple", actor="alice")

    def run(verb, *args, **kwargs):
        with sessions.begin() as session:
            return getattr(runtime, verb)(session, *args, **kwargs)

    done = run("start", "simple", {"request_no": "AS-1", "amount": 10.0}, SYSTEM).id
    with sessions() as session:
        task_id = session.scalars(select(HumanTask.task_id)).one()
    run("complete", task_id, {"approved": False}, CS)
    waiting = run("start", "simple", {"request_no": "AS-2", "amount": 10.0}, SYSTEM).id
    deploy(V2, actor="bob")
    return {"done": done, "waiting": waiting, "sessions": sessions}


def test_versions_and_diff(cli, world):
    listed = cli("versions", "simple")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert [line.split()[0] for line in lines] == ["v1", "v2"]
    assert "by alice" in lines[0] and "by bob" in lines[1]
    result = cli("diff", "simple", 1, 2)
    assert result.exit_code == 0
    assert "+ assess (userTask) Assess request" in result.output
    assert "- review (userTask) Review request" in result.output
    assert "    sla: \"P2D\" -> \"P1D\"" in result.output
    assert (f"instance {world['waiting']} AS-2 [running]: review (READY, removed)"
            in result.output)
    as_json = json.loads(cli("diff", "simple", 1, 2, "--json").output)
    assert [i["instance_id"] for i in as_json["impact"]] == [world["waiting"]]
    unknown = cli("versions", "ghost")
    assert unknown.exit_code == 1 and "ghost" in unknown.output


def test_migrate_dry_run_then_move_and_back(cli, world):
    refused = cli("migrate", "simple", "--from", 1, "--to", 2, "--dry-run")
    assert refused.exit_code == 1
    assert "'review' is READY but does not exist in version 2" in refused.output
    dry = cli("migrate", "simple", "--from", 1, "--to", 2, "--map", "review=assess", "--dry-run")
    assert dry.exit_code == 0
    assert f"instance {world['waiting']}: can move (review -> assess" in dry.output
    with world["sessions"]() as session:
        v1_id = session.get(Instance, world["done"]).definition_id
        assert session.get(Instance, world["waiting"]).definition_id == v1_id   # dry run
    moved = cli("migrate", "simple", "--from", 1, "--to", 2, "--map", "review=assess",
                "--by", "olga")
    assert moved.exit_code == 0, moved.output
    assert "moved 1 of 1 instance(s) to simple v2" in moved.output
    with world["sessions"]() as session:
        assert session.get(Instance, world["waiting"]).definition_id != v1_id
        assert session.scalars(select(HumanTask.bpmn_id)).one() == "assess"
    back = cli("migrate", "simple", "--from", 2, "--to", 1, "--map", "assess=review",
               "--instance", world["waiting"])
    assert back.exit_code == 0, back.output
    with world["sessions"]() as session:
        assert session.get(Instance, world["waiting"]).definition_id == v1_id
    verified = cli("audit", "verify", world["waiting"])
    assert verified.exit_code == 0 and verified.output.startswith("ok:")
    bad = cli("migrate", "simple", "--from", 1, "--to", 2, "--map", "review")
    assert bad.exit_code == 2 and "is not old=new" in bad.output


def test_migrate_refuses_an_instance_that_is_not_on_the_from_version(cli, world):
    with world["sessions"]() as session:
        before = session.get(Instance, world["waiting"]).version
    refused = cli("migrate", "simple", "--from", 2, "--to", 1, "--instance", world["waiting"])
    assert refused.exit_code == 1
    assert f"instance {world['waiting']} does not run on the 'from' version" in refused.output
    with world["sessions"]() as session:
        assert session.get(Instance, world["waiting"]).version == before
    unknown = cli("migrate", "simple", "--from", 1, "--to", 2, "--instance", 999999)
    assert unknown.exit_code == 1 and "instance 999999 does not exist" in unknown.output


def test_whatif_reports_divergence_per_instance(cli, world):
    same = cli("whatif", DATA / "simple")
    assert same.exit_code == 0
    assert same.output.splitlines() == [
        f"AS-1 (instance {world['done']}): same (2 recorded input(s))",
        "0 of 1 instance(s) diverge"]
    changed = cli("whatif", V2, "--instance", world["done"], "--fail-on-divergence")
    assert changed.exit_code == 1
    assert "DIVERGES at event 1 (started)" in changed.output
    mapped = json.loads(cli("whatif", V2, "--map", "review=assess", "--json").output)
    assert mapped[0]["diverges"] is False


def test_audit_export_json_and_csv(cli, world, tmp_path):
    record = json.loads(cli("audit", "export", world["done"], "--format", "json").output)
    assert record["instance"]["business_key"] == "AS-1"
    assert [e["kind"] for e in record["events"]] == ["started", "task_completed"]
    rows = list(csv.DictReader(io.StringIO(cli("audit", "export", world["done"],
                                               "--format", "csv").output)))
    assert [r["kind"] for r in rows] == ["started", "task_completed"]
    out = tmp_path / "events.csv"
    ranged = cli("audit", "export", "--format", "csv", "--from", clock.now().isoformat(),
                 "--output", out)
    assert ranged.exit_code == 0
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == 3   # AS-1: 2, AS-2: 1
    assert cli("audit", "export").exit_code == 2
    beyond = cli("audit", "export", "--format", "csv", "--from", "9999-12-31T23:59:59-14:00")
    assert beyond.exit_code == 2 and "--from/--to" in beyond.output     # was an OverflowError


def test_archive_then_verify_the_file(cli, world, tmp_path):
    cli("init")                     # the audit signing key signs the record of what is removed
    folder = tmp_path / "archive"
    nothing = cli("archive", "--older-than", 30, "--dir", folder)
    assert nothing.exit_code == 0 and nothing.output.startswith("nothing to archive")
    clock.advance(timedelta(days=31))
    done = cli("archive", "--older-than", 30, "--dir", folder, "--by", "ops")
    assert done.exit_code == 0, done.output
    assert done.output.startswith("archived 1 instance(s), 2 event(s) to ")
    with world["sessions"]() as session:
        assert session.get(Instance, world["done"]) is None
        assert session.get(Instance, world["waiting"]) is not None
    [path] = folder.glob("archive-*[0-9Z].json")
    checked = cli("archive", "--verify", path)
    assert checked.exit_code == 0
    assert checked.output.strip() == "ok: 1 instance(s), 2 event(s) verified"
    # The global log accepts exactly the two removed events, on the signed record's word.
    verified = cli("audit", "verify")
    assert "log: no signed checkpoint" in verified.output
    cli("audit", "checkpoint")
    verified = cli("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "2 removed by signed archives" in verified.output
