"""Replay and verification: clean histories verify; every kind of tampering is caught."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from engine import clock
from engine.access import SYSTEM, Actor
from engine.history import replay
from engine.models import AuditEvent, Instance
from engine.runtime.verbs import Runtime
from tests.conftest import DATA, allow_tampering, rechain

CS = Actor("cs_1", "staff", "customer_service")
FIN = Actor("fin_1", "staff", "finance")


@pytest.fixture
def history(sessions, deploy, run, task_of):
    """A finished refund: start, claim, complete, message, complete; and a timed-out one."""
    deploy(DATA / "simple")

    done = run("start", "simple", {"request_no": "AS-1", "amount": 99.0}, SYSTEM)
    run("claim", task_of(done.id), CS)
    clock.advance(timedelta(minutes=5))
    run("complete", task_of(done.id), {"approved": True}, CS)
    clock.advance(timedelta(hours=1))
    run("deliver_message", "refund_result", "AS-1", {"status": "paid", "reference": "R1"})
    run("complete", task_of(done.id), {"confirmed": True}, FIN)
    timed = run("start", "simple", {"request_no": "AS-2", "amount": 5.0}, SYSTEM)
    clock.advance(timedelta(days=2))
    run("fire_due_timers")
    return done.id, timed.id


def verify(sessions, runtime, instance_id, **kwargs):
    with sessions() as session:
        return replay.verify(session, instance_id, runtime.script_engine, **kwargs)


def test_clean_histories_verify(sessions, runtime, history):
    for instance_id in history:
        result = verify(sessions, runtime, instance_id)
        assert result.ok, result.divergence
    assert verify(sessions, runtime, history[0]).events == 5


def test_replay_in_a_fresh_runtime_reproduces_the_state(sessions, settings, history):
    from engine.definitions import catalog
    catalog._cache.clear()
    result = verify(sessions, Runtime(settings), history[0], keep_steps=True)
    assert result.ok
    assert [s.kind for s in result.steps] == ["started", "task_claimed", "task_completed",
                                              "message_delivered", "task_completed"]
    assert result.steps[0].ready == ["review"]
    assert result.steps[2].waiting == ["wait_refund"]
    assert result.steps[3].ready == ["confirm"]
    assert result.steps[3].data["refund"] == {"status": "paid", "reference": "R1"}


def _tamper(sessions, sql):
    allow_tampering(sessions)
    with sessions.begin() as session:
        session.execute(text(sql))


def test_the_database_refuses_to_update_an_event(sessions, history):
    with pytest.raises(Exception, match="append-only"):
        with sessions.begin() as session:
            session.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 1"))


def test_altered_payload_is_detected_at_its_event(sessions, runtime, history):
    _tamper(sessions, "UPDATE audit_event SET payload = '{\"data\": {\"approved\": false}}' "
                      f"WHERE instance_id = {history[0]} AND seq = 3")
    result = verify(sessions, runtime, history[0])
    assert not result.ok
    assert result.divergence["seq"] == 3
    assert "altered" in result.divergence["problem"]


def test_altered_payload_with_recomputed_hashes_fails_replay(sessions, runtime, history):
    """A forger who rewrites the chain consistently is still caught by the replay."""
    allow_tampering(sessions)
    with sessions.begin() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.instance_id == history[0])
                                      .order_by(AuditEvent.seq)))
        events[3].payload = {"name": "refund_result", "payload": {"status": "paid", "reference": "FORGED"},
                             "message_id": None}
        rechain(session, session.get(Instance, history[0]), events)
    result = verify(sessions, runtime, history[0])
    assert not result.ok
    assert result.divergence["seq"] == 4
    assert "different state" in result.divergence["problem"]


def test_deleted_event_is_detected(sessions, runtime, history):
    _tamper(sessions, f"DELETE FROM audit_event WHERE instance_id = {history[0]} AND seq = 2")
    result = verify(sessions, runtime, history[0])
    assert not result.ok and result.divergence["seq"] == 3
    assert "missing" in result.divergence["problem"]


def test_inserted_event_is_detected(sessions, runtime, history):
    # Shift events 3.. up by one (via a detour: (instance_id, seq) is unique).
    _tamper(sessions, f"UPDATE audit_event SET seq = seq + 1000 WHERE instance_id = {history[0]} AND seq >= 3")
    _tamper(sessions, f"UPDATE audit_event SET seq = seq - 999 WHERE instance_id = {history[0]} AND seq > 1000")
    with sessions.begin() as session:
        first = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == history[0],
                                                         AuditEvent.seq == 2)).one()
        session.add(AuditEvent(instance_id=history[0], seq=3, at=first.at, actor="mallory",
                               kind="task_claimed", element="review", task_id=first.task_id,
                               payload={}, state_hash=first.state_hash, prev_hash=first.hash,
                               hash="f" * 64))
    result = verify(sessions, runtime, history[0])
    assert not result.ok and result.divergence["seq"] == 3


def test_reordered_events_are_detected(sessions, runtime, history):
    _tamper(sessions, f"UPDATE audit_event SET seq = 100 WHERE instance_id = {history[0]} AND seq = 4")
    _tamper(sessions, f"UPDATE audit_event SET seq = 4 WHERE instance_id = {history[0]} AND seq = 5")
    _tamper(sessions, f"UPDATE audit_event SET seq = 5 WHERE instance_id = {history[0]} AND seq = 100")
    result = verify(sessions, runtime, history[0])
    assert not result.ok and result.divergence["seq"] == 4


def test_altered_instance_state_is_detected(sessions, runtime, history):
    with sessions.begin() as session:
        instance = session.get(Instance, history[1])
        instance.state = instance.state.replace('"outcome":"timed_out"', '"outcome":"refunded"')
    result = verify(sessions, runtime, history[1])
    assert not result.ok
    assert "stored instance state" in result.divergence["problem"]
