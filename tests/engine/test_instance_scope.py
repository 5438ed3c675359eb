"""Who may read an instance and who may operate on it (engine.access.may_read_instance and
may_operate_instance), judged on scopes and through the verbs and reads that use them: staff
read an instance only through a task of it in their department, supervisors act on it only
while its open work is in departments they supervise, admins and the system always."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import access, instances
from engine.access import SYSTEM, Actor, InstanceScope
from engine.errors import Forbidden
from engine.models import HumanTask
from tests.conftest import DATA

CS_LEAD = Actor("cs_lead", "supervisor", "cs_supervisor")
FINANCE_LEAD = Actor("fin_lead", "supervisor", "finance")
HEAD = Actor("ops_head", "supervisor", "management")
ADMIN = Actor("root", "admin")


def scope(open=(), done=(), lanes=()):
    return InstanceScope(1, tuple(open), tuple(done), frozenset(lanes))


def test_open_work_is_the_open_tasks_else_the_last_completed_else_the_lanes():
    lanes = {"customer_service", "finance"}
    assert scope([("finance", None)], [("customer_service", "a")], lanes).work_departments() \
        == {"finance"}
    assert scope([], [("customer_service", "a"), ("finance", "b")], lanes).work_departments() \
        == {"finance"}
    assert scope([], [], lanes).work_departments() == lanes


@pytest.mark.parametrize("actor, allowed", [
    (CS_LEAD, False), (FINANCE_LEAD, False), (HEAD, True), (ADMIN, True), (SYSTEM, True),
    (Actor("cs_1", "staff", "customer_service"), False), (Actor("o", "process_owner"), False)])
def test_work_in_two_departments_needs_a_supervisor_of_both(actor, allowed):
    both = scope([("customer_service", None), ("finance", None)])
    assert access.may_operate_instance(actor, both) is allowed


def test_an_instance_with_no_work_anywhere_is_for_supervisors_of_every_department():
    assert not access.may_operate_instance(CS_LEAD, scope())
    assert access.may_operate_instance(HEAD, scope())


def test_staff_read_through_a_task_open_or_completed_or_held():
    work = scope([("finance", None)], [("customer_service", "cs_9")])
    assert access.may_read_instance(Actor("cs_1", "staff", "customer_service"), work)
    assert access.may_read_instance(Actor("fin_1", "staff", "finance"), work)
    assert not access.may_read_instance(Actor("wh_1", "staff", "warehouse"), work)
    # A task handed to someone of another department is seen by them, so is its instance.
    assert access.may_read_instance(Actor("wh_1", "staff", "warehouse"),
                                    scope([("finance", "wh_1")]))
    for reader in (Actor("o", "process_owner"), Actor("a", "auditor"), ADMIN):
        assert access.may_read_instance(reader, work)
    for stranger in (Actor("c", "customer", customer_id="C1"), Actor("k", "courier")):
        assert not access.may_read_instance(stranger, work)


def test_a_supervisor_reads_what_they_may_operate_on():
    nothing_done = scope(lanes={"customer_service"})
    assert access.may_read_instance(CS_LEAD, nothing_done)
    assert not access.may_read_instance(Actor("cs_1", "staff", "customer_service"), nothing_done)


# ------------------------------------------------------------------ through the engine

@pytest.fixture
def at_finance(deploy, run, sessions, staff):
    """An instance of the simple process whose review (customer service) is done and whose
    confirmation (finance) is open."""
    deploy(DATA / "simple")
    instance = run("start", "simple", {"request_no": "AS-1", "amount": 120.5}, SYSTEM)
    run("complete", _open_task(sessions, instance.id), {"approved": True},
        staff["customer_service"])
    run("deliver_message", "refund_result", "AS-1", {"status": "paid"})
    return instance.id


def _open_task(sessions, instance_id):
    with sessions() as session:
        return session.scalars(select(HumanTask.task_id)
                               .where(HumanTask.instance_id == instance_id)).one()


def test_staff_of_another_department_may_not_read_it(sessions, at_finance, staff):
    with sessions() as session:
        for reader in (staff["finance"], staff["customer_service"], CS_LEAD, FINANCE_LEAD):
            assert instances.get(session, reader, at_finance)["id"] == at_finance
        for stranger in (staff["warehouse"], Actor("wh_lead", "supervisor", "warehouse")):
            with pytest.raises(Forbidden):
                instances.get(session, stranger, at_finance)
            with pytest.raises(Forbidden):
                instances.history(session, stranger, at_finance)


@pytest.mark.parametrize("verb", ["suspend", "cancel", "retry", "skip"])
def test_a_supervisor_of_another_department_may_not_operate_on_it(run, at_finance, verb):
    with pytest.raises(Forbidden, match="not in a department you supervise"):
        run(verb, at_finance, CS_LEAD)


def test_the_supervisor_of_its_open_work_suspends_and_resumes_it(run, at_finance):
    assert run("suspend", at_finance, FINANCE_LEAD, "hold").status == "suspended"
    with pytest.raises(Forbidden):
        run("resume", at_finance, CS_LEAD)
    assert run("resume", at_finance, FINANCE_LEAD).status == "running"
    assert run("cancel", at_finance, ADMIN, "duplicate").status == "cancelled"
