"""engine/tasklist.py: what each actor sees, filters, sort orders and paging, checked against a
plain Python reading of the same rows."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import insert

from engine import access, clock, config, tasklist
from engine.access import Actor
from engine.errors import Forbidden, InvalidInput
from engine.models import Definition, HumanTask, Instance

STAFF = Actor("li", "staff", "finance")
LEAD = Actor("lead", "supervisor", "cs_supervisor")
HEAD = Actor("head", "supervisor", "management")
AUDITOR = Actor("audit", "auditor")


@pytest.fixture
def tasks(sessions):
    """300 open tasks in every department (and none), some without a due time, some claimed."""
    rng = random.Random(7)
    now = clock.now()
    rows = []
    with sessions.begin() as session:
        session.add(Definition(id=1, process_key="p", version=1, sha256="0" * 64, sources={},
                               forms={}, deployed_at=now))
        session.flush()
        session.execute(insert(Instance), [dict(
            id=i, definition_id=1, process_key="p", business_key=f"AS-{i}", status="running",
            state="", serializer_version="1", version=1, created_at=now, updated_at=now)
            for i in range(1, 301)])
        for i in range(1, 301):
            created = now - timedelta(minutes=rng.randint(0, 5000))
            due = None if rng.random() < 0.15 else created + timedelta(minutes=rng.randint(10, 6000))
            rows.append(dict(
                instance_id=i, task_id=f"t{i:04d}", bpmn_id="b", name="Task", process_key=rng.choice(["p", "q"]),
                business_key=f"AS-{i}", department=rng.choice(config.DEPARTMENTS + (None,)),
                priority=rng.randint(1, 5), created_at=created, due_at=due,
                at_risk_at=(due - timedelta(minutes=30)) if due else None,
                claimed_by=rng.choice([None, None, "li", "lead", "wu"])))
        session.execute(insert(HumanTask), rows)
    ids = {row["task_id"]: n + 1 for n, row in enumerate(rows)}
    return [dict(row, id=ids[row["task_id"]]) for row in rows]


def expected(rows, actor, sort="due", **f):
    now = clock.now()
    depts = access.visible_departments(actor)
    keep = [r for r in rows if depts is None or r["department"] in depts or r["claimed_by"] == actor.name]
    if f.get("department"):
        keep = [r for r in keep if r["department"] == f["department"]]
    assignee = f.get("assignee")
    if assignee == "me":
        keep = [r for r in keep if r["claimed_by"] == actor.name]
    elif assignee == "unassigned":
        keep = [r for r in keep if r["claimed_by"] is None]
    elif assignee:
        keep = [r for r in keep if r["claimed_by"] == assignee]
    if f.get("overdue"):
        keep = [r for r in keep if r["due_at"] is not None and r["due_at"] <= now]
    if f.get("priority"):
        keep = [r for r in keep if r["priority"] == f["priority"]]
    far = now + timedelta(days=999)
    key = {"due": lambda r: (r["due_at"] is None, r["due_at"] or far, r["id"]),
           "priority": lambda r: (r["priority"], r["due_at"] is None, r["due_at"] or far, r["id"]),
           "age": lambda r: (r["created_at"], r["id"])}[sort]
    return [r["task_id"] for r in sorted(keep, key=key)]


CASES = [(STAFF, {}), (STAFF, {"assignee": "me"}), (STAFF, {"assignee": "unassigned"}),
         (STAFF, {"department": "finance", "overdue": True}), (LEAD, {}),
         (LEAD, {"assignee": "wu"}), (HEAD, {}), (AUDITOR, {}), (AUDITOR, {"priority": 2}),
         (AUDITOR, {"department": "qa"}), (AUDITOR, {"overdue": True})]


@pytest.mark.parametrize("actor, filters", CASES)
@pytest.mark.parametrize("sort", tasklist.SORTS)
def test_every_page_matches_a_plain_sort(sessions, tasks, actor, filters, sort):
    want = expected(tasks, actor, sort, **filters)
    got = []
    with sessions() as session:
        for page in range(1, 100):
            rows, total = tasklist.list_tasks(session, actor, tasklist.Filters(**filters), sort,
                                              page, 7)
            assert total == len(want)
            got += [r["task_id"] for r in rows]
            if len(rows) < 7:
                break
    assert got == want


def test_nulls_come_last_and_sla_status_follows_the_columns(sessions, tasks):
    with sessions() as session:
        rows, total = tasklist.list_tasks(session, AUDITOR, per_page=100, page=3)
    assert rows[-1]["due_at"] is None
    now = clock.now()
    for row, source in ((r, next(t for t in tasks if t["task_id"] == r["task_id"])) for r in rows):
        due, risk = source["due_at"], source["at_risk_at"]
        want = ("breached" if due and now >= due else "at_risk" if risk and now >= risk else "on_time")
        assert row["sla_status"] == want


def test_refusals(sessions, tasks):
    with sessions() as session:
        with pytest.raises(Forbidden):
            tasklist.list_tasks(session, STAFF, tasklist.Filters(department="qa"))
        with pytest.raises(Forbidden):
            tasklist.list_tasks(session, Actor("c", "customer", customer_id="C1"))
        with pytest.raises(InvalidInput):
            tasklist.list_tasks(session, STAFF, per_page=101)


def test_totals_are_counted_up_to_the_limit(sessions, tasks):
    with sessions() as session:
        capped = tasklist.list_tasks(session, AUDITOR, tasklist.Filters(overdue=True), count_limit=20)[1]
        assert capped == 20
        staff = tasklist.list_tasks(session, STAFF, count_limit=5)[1]
        assert staff == 5
        exact = tasklist.list_tasks(session, STAFF, count_limit=1000)[1]
        assert 5 < exact < 1000 and exact == len(expected(tasks, STAFF))
