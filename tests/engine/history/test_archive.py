"""Retention: instance export, CSV of audit events, archives that verify on their own."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from engine import clock
from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.errors import Conflict, InvalidInput, NotFound
from engine.history import archive, exports
from engine.models import AuditEvent, HumanTask, Instance, MessageSubscription, Outbox, Timer
from engine.runtime import instance_migration
from tests.conftest import DATA, T0

CS = Actor("cs_1", "staff", "customer_service")
FIN = Actor("fin_1", "staff", "finance")
YEAR = timedelta(days=365)


@pytest.fixture
def history(sessions, runtime, deploy, run, task_of):
    """AS-PAID (refund paid), AS-LATE (timed out), AS-GONE (cancelled), AS-MOVED (moved to v2
    and finished there), all finished on day one; AS-OPEN still waits for review."""
    deploy(DATA / "simple")

    ids = {}
    ids["AS-PAID"] = run("start", "simple", {"request_no": "AS-PAID", "amount": 99.0}, SYSTEM).id
    run("claim", task_of(ids["AS-PAID"]), CS)
    run("complete", task_of(ids["AS-PAID"]), {"approved": True}, CS)
    run("deliver_message", "refund_result", "AS-PAID", {"status": "paid"})
    run("complete", task_of(ids["AS-PAID"]), {"confirmed": True}, FIN)
    ids["AS-LATE"] = run("start", "simple", {"request_no": "AS-LATE", "amount": 5.0}, SYSTEM).id
    ids["AS-GONE"] = run("start", "simple", {"request_no": "AS-GONE", "amount": 5.0}, SYSTEM).id
    run("cancel", ids["AS-GONE"], SYSTEM, "duplicate")
    ids["AS-MOVED"] = run("start", "simple", {"request_no": "AS-MOVED", "amount": 5.0}, SYSTEM).id
    [v2] = [d.definition_id for d in deploy(DATA / "versions" / "v2") if d.process_key == "simple"]
    with sessions.begin() as session:
        instance_migration.migrate(session, runtime, [ids["AS-MOVED"]], v2, {"review": "assess"},
                          Actor("owner", "admin"))
    run("complete", task_of(ids["AS-MOVED"]), {"approved": False}, CS)
    clock.advance(timedelta(days=2))
    run("fire_due_timers")
    ids["AS-OPEN"] = run("start", "simple", {"request_no": "AS-OPEN", "amount": 1.0}, SYSTEM).id
    with sessions.begin() as session:        # the dispatcher delivered the refund
        session.execute(update(Outbox).values(status="done"))
    return ids


def count(sessions, model, **where):
    with sessions() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return session.scalar(query)


def test_export_instance_carries_definition_row_and_events(sessions, history):
    with sessions() as session:
        record = exports.instance_record(session, history["AS-PAID"])
        moved = exports.instance_record(session, history["AS-MOVED"])
        with pytest.raises(NotFound):
            exports.instance_record(session, 999)
    assert record["definition"]["process_key"] == "simple" and record["definition"]["version"] == 1
    assert len(record["definition"]["sha256"]) == 64
    assert record["instance"]["status"] == "completed"
    assert [e["kind"] for e in record["events"]] == ["started", "task_claimed", "task_completed",
                                                     "message_delivered", "task_completed"]
    assert record["events"][-1]["hash"] == record["instance"]["audit_head"]
    assert [d["version"] for d in moved["definitions"]] == [1, 2]
    assert moved["definition"]["version"] == 2
    json.dumps(record)                                  # plain JSON all the way down


def test_events_csv_for_an_instance_and_a_time_range(sessions, runtime, history):
    with sessions.begin() as session:
        runtime.record(session, history["AS-OPEN"], "comment", Actor('=HYPERLINK("x")'), {"n": 1})
    with sessions() as session:
        one = list(csv.DictReader(io.StringIO(
            exports.events_csv(session, [history["AS-PAID"]]))))
        later = list(csv.DictReader(io.StringIO(
            exports.events_csv(session, start=T0 + timedelta(days=1)))))
        with pytest.raises(InvalidInput):
            exports.events_csv(session)
    assert [r["kind"] for r in one] == ["started", "task_claimed", "task_completed",
                                        "message_delivered", "task_completed"]
    assert one[3]["business_key"] == "AS-PAID"
    assert json.loads(one[3]["payload"])["payload"] == {"status": "paid"}
    assert [(r["business_key"], r["kind"]) for r in later] == [
        ("AS-LATE", "timer_fired"), ("AS-OPEN", "started"), ("AS-OPEN", "comment")]
    assert later[-1]["actor"] == "'=HYPERLINK(\"x\")"       # not a formula in a spreadsheet


def test_archive_moves_old_finished_instances_into_a_verified_file(sessions, runtime, history,
                                                                   settings):
    clock.advance(timedelta(days=400))
    folder = settings.archive_dir
    with sessions.begin() as session:
        path = archive.archive(session, YEAR, folder, "ops", script_engine=runtime.script_engine)
    document = json.loads(path.read_text())
    assert sorted(i["instance"]["business_key"] for i in document["instances"]) == [
        "AS-GONE", "AS-LATE", "AS-MOVED", "AS-PAID"]
    assert sorted(d["version"] for d in document["definitions"].values()) == [1, 2]
    open_id = history["AS-OPEN"]
    with sessions() as session:
        assert list(session.scalars(select(Instance.id))) == [open_id]
        assert set(session.scalars(select(AuditEvent.instance_id))) == {open_id}
        assert set(session.scalars(select(HumanTask.instance_id))) == {open_id}
    assert count(sessions, Outbox) == 0 and count(sessions, MessageSubscription) == 0
    assert count(sessions, Timer) == 1                              # AS-OPEN's
    manifest = json.loads(path.with_name(path.stem + ".manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["instances"] == 4 and manifest["actor"] == "ops"
    [line] = (folder / "archive_log.jsonl").read_text().splitlines()
    assert json.loads(line)["file"] == path.name

    # The file verifies alone: no rows, no cached definitions.
    catalog._cache.clear()
    check = archive.verify_archive(path, runtime.script_engine)
    assert check.ok, check.problems
    assert (check.instances, check.events) == (4, sum(len(i["events"]) for i in document["instances"]))


def test_nothing_is_archived_before_the_cutoff_or_with_undelivered_side_effects(
        sessions, runtime, history, settings):
    with sessions.begin() as session:
        assert archive.archive(session, YEAR, settings.archive_dir, "ops",
                               script_engine=runtime.script_engine) is None
    with sessions.begin() as session:
        session.execute(update(Outbox).values(status="incident"))
    clock.advance(timedelta(days=400))
    with sessions.begin() as session:
        path = archive.archive(session, YEAR, settings.archive_dir, "ops",
                               script_engine=runtime.script_engine)
    kept = json.loads(path.read_text())["instances"]
    assert "AS-PAID" not in [i["instance"]["business_key"] for i in kept]
    assert count(sessions, Instance, business_key="AS-PAID") == 1


def test_tampered_archive_fails_verification(sessions, runtime, history, settings):
    clock.advance(timedelta(days=400))
    with sessions.begin() as session:
        path = archive.archive(session, YEAR, settings.archive_dir, "ops",
                               script_engine=runtime.script_engine)
    document = json.loads(path.read_text())
    entry = next(i for i in document["instances"] if i["instance"]["business_key"] == "AS-PAID")
    entry["events"][3]["payload"]["payload"]["status"] = "refused"
    path.write_text(json.dumps(document))
    check = archive.verify_archive(path, runtime.script_engine)
    assert "the file does not match the sha256 in its manifest" in check.problems
    assert any(p.startswith(f"instance {history['AS-PAID']} (AS-PAID) diverges at event 4")
               for p in check.problems)

    key = next(iter(document["definitions"]))
    source = next(iter(document["definitions"][key]["sources"]))
    document["definitions"][key]["sources"][source] += "<!-- edited -->"
    path.write_text(json.dumps(document))
    check = archive.verify_archive(path, runtime.script_engine)
    assert any("does not match its sha256" in p for p in check.problems)
    assert any(p.startswith(f"instance {history['AS-PAID']} (AS-PAID) cannot be replayed")
               for p in check.problems)


def test_an_archive_that_does_not_verify_deletes_nothing(sessions, runtime, history, settings):
    with sessions.begin() as session:
        row = session.get(Instance, history["AS-LATE"])
        row.state = row.state.replace('"outcome":"timed_out"', '"outcome":"refunded"')
    clock.advance(timedelta(days=400))
    with sessions.begin() as session, pytest.raises(Conflict, match="does not verify"):
        archive.archive(session, YEAR, settings.archive_dir, "ops",
                        script_engine=runtime.script_engine)
    assert count(sessions, Instance) == 5
    assert [p.name.endswith(".failed.json") for p in settings.archive_dir.iterdir()] == [True]
