"""The engine verbs, each through its own transaction, as the API and the scheduler use them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.models import AuditEvent, HumanTask, Instance, MessageSubscription, Outbox, Timer
from engine.runtime.verbs import Runtime
from tests.conftest import DATA, bundle_variant

SIMPLE = DATA / "simple"


@pytest.fixture(params=["warm", "restored"])
def flow(request, sessions, settings, deploy):
    """Runs verbs one transaction each; 'restored' also forgets every in-process cache between
    steps, as if each step ran in a freshly started process."""
    deploy(SIMPLE)

    class Flow:
        runtime = Runtime(settings)

        def __call__(self, verb, *args, **kwargs):
            if request.param == "restored":
                catalog._cache.clear()
                self.runtime = Runtime(settings)
            with sessions.begin() as session:
                return getattr(self.runtime, verb)(session, *args, **kwargs)

        def tasks(self, instance_id):
            with sessions() as session:
                return list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)))

        def instance(self, instance_id):
            with sessions() as session:
                return session.get(Instance, instance_id)

        def rows(self, model):
            with sessions() as session:
                return list(session.scalars(select(model).order_by(model.id)))

        def count(self, model, **where):
            with sessions() as session:
                query = select(func.count()).select_from(model)
                for key, value in where.items():
                    query = query.where(getattr(model, key) == value)
                return session.scalar(query)

    return Flow()


def start_simple(flow, no="AS-1"):
    return flow("start", "simple", {"request_no": no, "amount": 120.5}, SYSTEM)


def test_start_creates_instance_task_timer_and_audit(flow):
    instance = start_simple(flow)
    assert instance.status == "running"
    [task] = flow.tasks(instance.id)
    assert (task.bpmn_id, task.department, task.form_key) == ("review", "customer_service", "review.json")
    # SLA PT4H in business time from Monday 10:00 Shanghai -> 14:00 Shanghai = 06:00 UTC.
    assert task.due_at == clock.now() + timedelta(hours=4)
    assert flow.count(Timer, instance_id=instance.id) == 1
    assert flow.count(AuditEvent, instance_id=instance.id) == 1
    assert '"spec"' not in flow.instance(instance.id).state   # spec stored by reference


def test_complete_runs_gateway_service_and_waits_for_message(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    flow("complete", task.task_id, {"approved": True, "note": "ok"}, staff["customer_service"])
    inst = flow.instance(instance.id)
    assert inst.status == "waiting"
    assert flow.tasks(instance.id) == []
    assert flow.count(Timer, instance_id=instance.id) == 0           # boundary timer cancelled
    assert flow.count(MessageSubscription, instance_id=instance.id, name="refund_result") == 1
    [outbox] = flow.rows(Outbox)
    assert outbox.operation == "payment.refund"
    assert outbox.payload == {"request_no": "AS-1", "amount": 120.5}
    assert outbox.idempotency_key.startswith("AS-1:payment.refund:")


def test_message_then_finance_completes(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    flow("complete", task.task_id, {"approved": True}, staff["customer_service"])
    flow("deliver_message", "refund_result", "AS-1", {"status": "paid"}, message_id="m-1")
    [confirm] = flow.tasks(instance.id)
    assert (confirm.bpmn_id, confirm.department) == ("confirm", "finance")
    flow("complete", confirm.task_id, {"confirmed": True}, staff["finance"])
    inst = flow.instance(instance.id)
    assert inst.status == "completed" and inst.completed_at is not None
    kinds = [e.kind for e in flow.rows(AuditEvent)]
    assert kinds == ["started", "task_completed", "message_delivered", "task_completed"]


def test_rejected_path_completes(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    flow("complete", task.task_id, {"approved": False}, staff["customer_service"])
    assert flow.instance(instance.id).status == "completed"
    assert flow.count(Outbox) == 0


def test_timer_fires_only_when_due(flow):
    instance = start_simple(flow)
    assert flow("fire_due_timers") == 0
    clock.advance(timedelta(days=1, seconds=1))
    assert flow("fire_due_timers") == 1
    inst = flow.instance(instance.id)
    assert inst.status == "completed"
    assert flow.tasks(instance.id) == []
    [event] = [e for e in flow.rows(AuditEvent) if e.kind == "timer_fired"]
    assert event.payload == {"timers": ["review_timeout"]}


def test_claim_release_and_claimed_by_other(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    alice, bob = staff["customer_service"], Actor("bob", "staff", "customer_service")
    flow("claim", task.task_id, alice)
    assert flow.tasks(instance.id)[0].claimed_by == alice.name
    with pytest.raises(Conflict, match="already claimed"):
        flow("claim", task.task_id, bob)
    with pytest.raises(Conflict, match="claimed by"):
        flow("complete", task.task_id, {"approved": True}, bob)
    with pytest.raises(Forbidden):
        flow("release", task.task_id, bob)
    flow("release", task.task_id, alice)
    assert flow.tasks(instance.id)[0].claimed_by is None
    with pytest.raises(Conflict, match="not claimed"):
        flow("release", task.task_id, alice)


def test_reassign_needs_a_supervisor(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    with pytest.raises(Forbidden):
        flow("reassign", task.task_id, "bob", staff["customer_service"])
    flow("reassign", task.task_id, "bob", Actor("sup", "supervisor", "cs_supervisor"))
    assert flow.tasks(instance.id)[0].claimed_by == "bob"


def test_complete_refusals_change_nothing(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    before = flow.instance(instance.id).version
    with pytest.raises(Forbidden):
        flow("complete", task.task_id, {"approved": True}, staff["finance"])
    with pytest.raises(InvalidInput) as bad_type:
        flow("complete", task.task_id, {"approved": "yes"}, staff["customer_service"])
    assert bad_type.value.field == "approved"
    with pytest.raises(InvalidInput) as missing:
        flow("complete", task.task_id, {}, staff["customer_service"])
    assert missing.value.field == "approved"
    with pytest.raises(InvalidInput) as unknown:
        flow("complete", task.task_id, {"approved": True, "amount": 1}, staff["customer_service"])
    assert unknown.value.field == "amount"
    with pytest.raises(NotFound):
        flow("complete", "no-such-task", {"approved": True}, staff["customer_service"])
    with pytest.raises(Conflict, match="changed since"):
        flow("complete", task.task_id, {"approved": True}, staff["customer_service"],
             expected_version=before - 1)
    assert flow.instance(instance.id).version == before
    assert flow.count(AuditEvent) == 1


def test_completing_twice_is_a_conflict(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    flow("complete", task.task_id, {"approved": False}, staff["customer_service"])
    with pytest.raises(Conflict, match="already completed"):
        flow("complete", task.task_id, {"approved": False}, staff["customer_service"])


def test_message_refusals(flow, staff):
    start_simple(flow)
    with pytest.raises(NotFound, match="refund_result"):
        flow("deliver_message", "refund_result", "AS-1", {"status": "paid"})
    with pytest.raises(InvalidInput):
        flow("deliver_message", "refund_result", "AS-1", ["not", "a", "dict"])


def test_duplicate_message_id_is_applied_once(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    flow("complete", task.task_id, {"approved": True}, staff["customer_service"])
    flow("deliver_message", "refund_result", "AS-1", {"status": "paid"}, message_id="m-7")
    again = flow("deliver_message", "refund_result", "AS-1", {"status": "paid"}, message_id="m-7")
    assert [i.id for i in again] == [instance.id]
    assert flow.count(AuditEvent, kind="message_delivered") == 1


def test_suspend_resume_cancel(flow, staff):
    instance = start_simple(flow)
    [task] = flow.tasks(instance.id)
    flow("suspend", instance.id, SYSTEM, "customer on holiday")
    with pytest.raises(Conflict, match="suspended"):
        flow("complete", task.task_id, {"approved": True}, staff["customer_service"])
    clock.advance(timedelta(days=2))
    assert flow("fire_due_timers") == 0                      # suspended instances wait
    flow("resume", instance.id, SYSTEM)
    assert flow.instance(instance.id).status == "running"
    with pytest.raises(Conflict):
        flow("resume", instance.id, SYSTEM)
    flow("cancel", instance.id, SYSTEM, "duplicate request")
    inst = flow.instance(instance.id)
    assert inst.status == "cancelled"
    assert flow.tasks(instance.id) == [] and flow.count(Timer) == 0
    with pytest.raises(Conflict):
        flow("cancel", instance.id, SYSTEM)


def test_unknown_process_and_bad_start_data(flow):
    with pytest.raises(NotFound, match="ghost"):
        flow("start", "ghost", {}, SYSTEM)
    with pytest.raises(InvalidInput):
        flow("start", "simple", "not a dict", SYSTEM)


def test_instance_stays_on_its_version(flow, deploy, staff, tmp_path):
    old = start_simple(flow, "AS-OLD")
    changed = bundle_variant(SIMPLE, tmp_path / "v2", [('name="Review request"', 'name="Review (v2)"')])
    result = {d.process_key: d for d in deploy(changed)}
    assert result["simple"].version == 2 and result["simple"].created
    new = start_simple(flow, "AS-NEW")
    assert flow.tasks(old.id)[0].name == "Review request"
    assert flow.tasks(new.id)[0].name == "Review (v2)"
    [task] = flow.tasks(old.id)
    flow("complete", task.task_id, {"approved": False}, staff["customer_service"])
    assert flow.instance(old.id).status == "completed"
