"""Moving running instances between versions: plan, move, the way back, replay of moved history."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from engine import clock
from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.errors import Conflict, InvalidInput
from engine.history import audit, replay
from engine.models import AuditEvent, HumanTask, Instance, MessageSubscription, Outbox, Timer
from engine.runtime import instance_migration
from engine.runtime.verbs import Runtime
from tests.conftest import DATA, allow_tampering, rechain

SIMPLE = DATA / "simple"
V2 = DATA / "versions" / "v2"          # review renamed to assess, stricter condition, new form
CS = Actor("cs_1", "staff", "customer_service")
FIN = Actor("fin_1", "staff", "finance")
OWNER = Actor("owner", "admin")
RENAME = {"review": "assess"}


@pytest.fixture(params=["warm", "restored"])
def flow(request, sessions, settings, deploy):
    """v1 of `simple` deployed (`deploy_v2()` adds v2 once instances run on v1); verbs and
    migrations one transaction each ('restored' also drops every in-process cache between steps)."""
    v1 = {d.process_key: d.definition_id for d in deploy(SIMPLE)}["simple"]

    class Flow:
        runtime = Runtime(settings)

        def _fresh(self):
            if request.param == "restored":
                catalog._cache.clear()
                self.runtime = Runtime(settings)

        def __call__(self, verb, *args, **kwargs):
            self._fresh()
            with sessions.begin() as session:
                return getattr(self.runtime, verb)(session, *args, **kwargs)

        def migrate(self, ids, to, mapping=None, **kwargs):
            self._fresh()
            with sessions.begin() as session:
                return instance_migration.migrate(session, self.runtime, ids, to, mapping, OWNER, **kwargs)

        def plan(self, ids, to, mapping=None):
            with sessions() as session:
                return instance_migration.plan(session, self.runtime, ids, to, mapping)

        def task(self, instance_id):
            with sessions() as session:
                return session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()

        def instance(self, instance_id):
            with sessions() as session:
                return session.get(Instance, instance_id)

        def events(self, instance_id):
            with sessions() as session:
                return audit.events(session, instance_id)

        def count(self, model, **where):
            with sessions() as session:
                query = select(func.count()).select_from(model)
                for key, value in where.items():
                    query = query.where(getattr(model, key) == value)
                return session.scalar(query)

        def deploy_v2(self):
            self.v2 = {d.process_key: d.definition_id for d in deploy(V2)}["simple"]
            return self.v2

        def verify(self, instance_id):
            catalog._cache.clear()
            with sessions() as session:
                return replay.verify(session, instance_id, Runtime(settings).script_engine)

    flow = Flow()
    flow.v1 = v1
    return flow


def start(flow, no="AS-1", amount=99.0):
    return flow("start", "simple", {"request_no": no, "amount": amount}, SYSTEM).id


def test_plan_asks_for_a_mapping_of_the_renamed_task_and_writes_nothing(flow):
    instance_id = start(flow)
    flow.deploy_v2()
    [check] = flow.plan([instance_id], flow.v2).values()
    assert not check["can_move"]
    assert check["reasons"] == ["'review' is READY but does not exist in version 2 "
                                "('assess' looks like its successor: map review=assess)"]
    [check] = flow.plan([instance_id], flow.v2, RENAME).values()
    assert check == {"can_move": True, "reasons": [],
                     "moves": {"review": "assess", "review_timeout": "review_timeout"}}
    assert flow.instance(instance_id).definition_id == flow.v1
    assert flow.count(AuditEvent, instance_id=instance_id) == 1


def test_plan_refuses_bad_mappings(flow):
    instance_id = start(flow)
    flow.deploy_v2()
    [check] = flow.plan([instance_id], flow.v2, {"review": "ghost"}).values()
    assert "mapping target 'ghost' does not exist in version 2" in check["reasons"]
    [check] = flow.plan([instance_id], flow.v2, {"review": "init"}).values()
    assert check["reasons"] == ["'review' has boundary events, 'init' in version 2 has none",
                                "'review' (READY) would change from UserTask to ScriptTask"]
    with pytest.raises(InvalidInput):
        flow.plan([instance_id], flow.v2, {"review": 3})


def test_open_task_moves_with_its_id_claim_and_timer_and_follows_the_new_rules(flow):
    instance_id = start(flow, amount=5000.0)
    flow.deploy_v2()
    task = flow.task(instance_id)
    flow("claim", task.task_id, CS)
    due_before = flow.count(Timer, instance_id=instance_id, due_at=clock.now() + timedelta(days=1))
    clock.advance(timedelta(minutes=10))
    [result] = flow.migrate([instance_id], flow.v2, RENAME).values()
    assert result["moved"]
    moved = flow.task(instance_id)
    assert (moved.task_id, moved.bpmn_id, moved.name, moved.claimed_by) == (
        task.task_id, "assess", "Assess request", "cs_1")
    assert moved.due_at == task.due_at                  # the SLA still runs from when it opened
    assert due_before == 1 and flow.count(Timer, instance_id=instance_id,
                                          due_at=task.created_at + timedelta(days=1)) == 1
    instance = flow.instance(instance_id)
    assert (instance.definition_id, instance.status) == (flow.v2, "running")
    last = flow.events(instance_id)[-1]
    assert (last.kind, last.actor) == ("migrated", "owner")
    assert last.payload == {"from_definition_id": flow.v1, "to_definition_id": flow.v2,
                            "mapping": {"review": "assess"}}
    # v2 rejects refunds over 1000 (v1 would have paid this one).
    flow("complete", task.task_id, {"approved": True}, CS)
    assert flow.instance(instance_id).status == "completed"
    assert flow.count(Outbox) == 0
    assert flow.verify(instance_id).ok


def test_waiting_instance_moves_and_meets_the_new_form_and_sla(flow):
    instance_id = start(flow)
    flow.deploy_v2()
    flow("complete", flow.task(instance_id).task_id, {"approved": True}, CS)
    [check] = flow.plan([instance_id], flow.v2).values()
    assert check["reasons"] == ["'review' was COMPLETED and does not exist in version 2 "
                                "('assess' looks like its successor: map review=assess)"]
    [result] = flow.migrate([instance_id], flow.v2, RENAME).values()
    assert result["moved"] and result["moves"] == {"wait_refund": "wait_refund"}
    assert flow.count(MessageSubscription, instance_id=instance_id, name="refund_result") == 1
    flow("deliver_message", "refund_result", "AS-1", {"status": "paid"})
    confirm = flow.task(instance_id)
    assert confirm.due_at == clock.now() + timedelta(days=1)        # v2's SLA: P1D, not P2D
    with pytest.raises(InvalidInput) as missing:
        flow("complete", confirm.task_id, {"confirmed": True}, FIN)
    assert missing.value.field == "reference"
    flow("complete", confirm.task_id, {"confirmed": True, "reference": "R-1"}, FIN)
    assert flow.instance(instance_id).status == "completed"
    assert flow.verify(instance_id).ok


def test_the_way_back_restores_the_old_version(flow):
    instance_id = start(flow)
    flow.deploy_v2()
    task_id = flow.task(instance_id).task_id
    assert flow.migrate([instance_id], flow.v2, RENAME)[instance_id]["moved"]
    assert flow.task(instance_id).bpmn_id == "assess"
    clock.advance(timedelta(minutes=1))
    back = flow.migrate([instance_id], flow.v1, {"assess": "review"})[instance_id]
    assert back["moved"], back["reasons"]
    task = flow.task(instance_id)
    assert (task.task_id, task.bpmn_id, task.name) == (task_id, "review", "Review request")
    assert flow.instance(instance_id).definition_id == flow.v1
    # v1's rules again: approved refunds are paid and confirmed with the v1 form.
    flow("complete", task_id, {"approved": True}, CS)
    flow("deliver_message", "refund_result", "AS-1", {"status": "paid"})
    flow("complete", flow.task(instance_id).task_id, {"confirmed": True}, FIN)
    assert flow.instance(instance_id).status == "completed"
    assert [e.kind for e in flow.events(instance_id)].count("migrated") == 2
    result = flow.verify(instance_id)
    assert result.ok, result.divergence


def test_timer_keeps_its_due_time_across_the_move(flow):
    instance_id = start(flow)
    flow.deploy_v2()
    flow.migrate([instance_id], flow.v2, RENAME)
    clock.advance(timedelta(hours=23))
    assert flow("fire_due_timers") == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert flow("fire_due_timers") == 1
    instance = flow.instance(instance_id)
    assert instance.status == "completed"
    assert '"outcome":"timed_out"' not in instance.state         # v2 has no "Mark timeout"
    assert flow.verify(instance_id).ok


def test_bulk_move_reports_each_instance_and_moves_only_those_that_can(flow):
    waiting = start(flow, "AS-1")
    done = start(flow, "AS-2")
    flow("complete", flow.task(done).task_id, {"approved": False}, CS)
    held = start(flow, "AS-3")
    flow("suspend", held, SYSTEM, "customer on holiday")
    events_before = len(flow.events(done))
    flow.deploy_v2()

    dry = flow.migrate([waiting, done, held], flow.v2, RENAME, dry_run=True)
    assert [dry[i]["can_move"] for i in (waiting, done, held)] == [True, False, True]
    assert flow.instance(waiting).definition_id == flow.v1

    results = flow.migrate([waiting, done, held], flow.v2, RENAME)
    assert [results[i]["moved"] for i in (waiting, done, held)] == [True, False, True]
    assert results[done]["reasons"] == ["instance is completed"]
    assert flow.instance(done).definition_id == flow.v1
    assert len(flow.events(done)) == events_before
    assert flow.instance(held).status == "suspended"
    assert flow.task(held).bpmn_id == "assess"
    assert flow.migrate([waiting], flow.v2, RENAME)[waiting]["reasons"] == [
        "instance is already on version 2"]


def test_failed_instance_is_fixed_by_a_new_version_and_retried(flow, deploy):
    """one_step's script fails without an amount; v2 of it no longer needs one."""
    instance = flow("start", "one_step", {"request_no": "AS-9"}, SYSTEM)
    assert instance.status == "error"
    fixed = {d.process_key: d.definition_id for d in deploy(DATA / "versions" / "one_step_v2")}
    [result] = flow.migrate([instance.id], fixed["one_step"]).values()
    assert result["moved"] and result["moves"] == {"compute": "compute"}
    assert flow.instance(instance.id).status == "error"               # still waits for a retry
    flow("retry", instance.id, SYSTEM)
    retried = flow.instance(instance.id)
    assert retried.status == "completed" and '"total":0' in retried.state
    assert flow.verify(instance.id).ok


def test_migrate_instance_refuses_with_reasons(flow, sessions):
    instance_id = start(flow)
    flow.deploy_v2()
    with sessions.begin() as session, pytest.raises(Conflict) as refused:
        instance_migration.migrate_instance(session, flow.runtime, instance_id, flow.v2, {}, OWNER)
    assert refused.value.details["reasons"][0].startswith("'review' is READY")


def test_replay_catches_a_forged_migration(flow, sessions):
    instance_id = start(flow)
    flow.deploy_v2()
    flow.migrate([instance_id], flow.v2, RENAME)
    allow_tampering(sessions)
    with sessions.begin() as session:
        events = audit.events(session, instance_id)
        events[1].payload = dict(events[1].payload, mapping={})
        rechain(session, session.get(Instance, instance_id), events)
    result = flow.verify(instance_id)
    assert not result.ok
    assert result.divergence["seq"] == 2
    assert "recorded migration cannot be applied" in result.divergence["problem"]


def _lose_the_race(session, instance_id):
    """Load the instance, then move its row on behind the session's back (as a concurrent
    writer's commit would); returns the stale instance object."""
    instance = session.get(Instance, instance_id)
    session.execute(update(Instance).where(Instance.id == instance_id)
                    .values(version=Instance.version + 1)
                    .execution_options(synchronize_session=False))
    return instance


def test_a_lost_race_is_a_conflict_and_leaves_the_instance_as_it_was(flow, sessions):
    instance_id = start(flow)
    flow.deploy_v2()
    state = flow.instance(instance_id).state
    with pytest.raises(Conflict) as lost:       # raised when the move's writes are sent
        with sessions.begin() as session:
            stale = _lose_the_race(session, instance_id)
            moved = instance_migration.migrate_instance(session, flow.runtime, instance_id,
                                                        flow.v2, RENAME, OWNER)
            assert moved is stale
    assert lost.value.message == Conflict.lost_race(instance_id).message
    with sessions.begin() as session:                  # the bulk move reports it and goes on
        stale = _lose_the_race(session, instance_id)
        result = instance_migration.migrate(session, flow.runtime, [instance_id], flow.v2,
                                            RENAME, OWNER)[instance_id]
        assert not result["moved"]
        assert result["reasons"] == [Conflict.lost_race(instance_id).message]
    instance = flow.instance(instance_id)
    assert (instance.definition_id, instance.state, instance.audit_seq) == (flow.v1, state, 1)
    assert [e.kind for e in flow.events(instance_id)] == ["started"]
    assert flow.task(instance_id).bpmn_id == "review"


def _deployed(session, folder) -> int:
    deployed = catalog.deploy(session, Bundle.from_folder(folder), "owner")
    return {d.process_key: d.definition_id for d in deployed}["simple"]


@pytest.mark.postgres
def test_migration_that_loses_a_race_on_postgresql_changes_nothing(pg_sessions, settings):
    with pg_sessions.begin() as session:
        v1 = _deployed(session, SIMPLE)
    runtime = Runtime(settings)
    with pg_sessions.begin() as session:
        instance_id = runtime.start(session, "simple", {"request_no": "AS-1", "amount": 9.0}).id
    with pg_sessions.begin() as session:
        v2 = _deployed(session, V2)
    first = pg_sessions()
    first.begin()
    stale = first.get(Instance, instance_id)           # loaded, no lock held
    assert stale.status == "running"
    with pg_sessions.begin() as other:                 # meanwhile someone else changes it
        runtime.suspend(other, instance_id, SYSTEM, "hold")
    results = instance_migration.migrate(first, runtime, [instance_id], v2, RENAME, OWNER)
    assert not results[instance_id]["moved"]
    assert results[instance_id]["reasons"] == [Conflict.lost_race(instance_id).message]
    first.commit()
    first.close()
    with pg_sessions() as session:
        instance = session.get(Instance, instance_id)
        assert (instance.definition_id, instance.status) == (v1, "suspended")
        assert [e.kind for e in audit.events(session, instance_id)] == ["started", "suspended"]
