"""Task list latency with many open tasks: p50/p95 of one page (50 rows, sorted by due time).

The database is filled directly with bulk inserts of plausible `instance` and `human_task` rows
(departments weighted like an after-sales floor, due times spread over two weeks, a share of
claimed tasks and of tasks without an SLA); the instances carry no workflow state, which the task
list never reads. Each query is one read transaction on a durable SQLite file, as an API request
makes it, through engine.tasklist.list_tasks (or, where that module is missing, the equivalent
query on human_task).

Usage: python -m bench.task_list --n 100000
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta

from sqlalchemy import insert, select

from bench.common import SIMPLE_DATA, percentile, platform
from engine import clock
from engine.access import Actor
from engine.models import HumanTask, Instance

# Share of open tasks per department (sums to 1).
WEIGHTS = {"customer_service": 0.40, "finance": 0.15, "warehouse": 0.15, "logistics": 0.08,
           "repair": 0.08, "qa": 0.05, "cs_supervisor": 0.04, "management": 0.02,
           "operations": 0.03}
TASKS = {"customer_service": ("callback_customer", "Call the customer back"),
         "finance": ("approve_refund", "Approve refund"),
         "warehouse": ("inspect_goods", "Inspect returned goods"),
         "logistics": ("confirm_pickup_address", "Confirm pickup address"),
         "repair": ("diagnose", "Diagnose the item"),
         "qa": ("qa_check", "QA check"),
         "cs_supervisor": ("handle_sla_breach", "Handle SLA breach"),
         "management": ("handle_sla_breach_management", "Handle SLA breach (management)"),
         "operations": ("investigate_complaint_surge", "Investigate complaint surge")}


def populate(p, n: int, seed: int = 7) -> None:
    """n instances with one open task each, in chunks of 5,000 rows per statement batch."""
    rng = random.Random(seed)
    now = clock.now()
    definition_id = p.deployed["one_step"]
    departments, weights = zip(*WEIGHTS.items())
    chunk = 5000
    with p.engine.begin() as conn:
        for start in range(0, n, chunk):
            ids = range(start + 1, min(n, start + chunk) + 1)
            instances, tasks = [], []
            for i in ids:
                created = now - timedelta(minutes=rng.randint(0, 14 * 24 * 60))
                key = f"AS-{created:%Y%m%d}-{i:07d}"
                instances.append(dict(id=i, definition_id=definition_id,
                                      process_key="aftersales_request", business_key=key,
                                      status="running", state="{}", serializer_version="1.5",
                                      version=1, audit_seq=1, audit_head="0" * 64,
                                      created_at=created, updated_at=created))
                dept = rng.choices(departments, weights)[0]
                bpmn_id, name = TASKS[dept]
                sla = rng.random() < 0.92
                due = created + timedelta(hours=rng.choice((1, 2, 4, 8, 24, 48))) if sla else None
                claimed = f"{dept}_{rng.randint(1, 20)}" if rng.random() < 0.3 else None
                tasks.append(dict(instance_id=i, task_id=f"00000000-0000-4000-8000-{i:012d}",
                                  bpmn_id=bpmn_id, name=name, process_key="aftersales_request",
                                  business_key=key, department=dept, form_key=f"{bpmn_id}.json",
                                  priority=rng.choice((1, 2, 3, 3, 3, 4)), created_at=created,
                                  due_at=due, at_risk_at=(due - (due - created) / 5) if due else None,
                                  claimed_by=claimed, claimed_at=created if claimed else None))
            conn.execute(insert(Instance.__table__), instances)
            conn.execute(insert(HumanTask.__table__), tasks)
    # No ANALYZE: the platform never runs it, so the planner works without statistics here too.


def _query():
    """list_tasks(session, actor, department, page) -> rows: engine.tasklist, else a stand-in."""
    try:
        from engine import tasklist
    except ImportError:          # the task list module is not there yet: same filters, same page
        def fallback(session, actor, department, page, per_page=50):
            return list(session.execute(
                select(HumanTask).where(HumanTask.department == department)
                .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
                .limit(per_page).offset((page - 1) * per_page)))
        return fallback, "human_task query (engine/tasklist.py missing)"

    def listed(session, actor, department, page, per_page=50):
        rows, _total = tasklist.list_tasks(session, actor, tasklist.Filters(department=department),
                                           sort="due", page=page, per_page=per_page)
        return rows
    return listed, "engine.tasklist.list_tasks"


def measure(n: int, queries: int = 300, seed: int = 11) -> dict:
    """{"n", "p50_ms", "p95_ms", "max_ms", "queries", "via"} for department pages of 50."""
    query, via = _query()
    rng = random.Random(seed)
    with platform(durable=True) as p:
        p.deploy(SIMPLE_DATA, keep=("one_step.bpmn",))
        t0 = time.perf_counter()
        populate(p, n)
        fill_s = time.perf_counter() - t0
        departments = list(WEIGHTS)
        for d in departments:            # warm the connection and statement caches
            with p.sessions() as session:
                query(session, Actor(f"{d}_1", "staff", d), d, 1)
        latencies, listed = [], 0
        for _ in range(queries):
            d = rng.choice(departments)
            page = rng.choice((1, 1, 1, 2, 3, 5, 10))
            actor = Actor(f"{d}_{rng.randint(1, 20)}", "staff", d)
            t = time.perf_counter()
            with p.sessions() as session:
                rows = query(session, actor, d, page)
            latencies.append((time.perf_counter() - t) * 1000)
            listed += len(rows)
        assert listed > 0, "the task list returned nothing"
    return {"n": n, "queries": queries, "via": via, "fill_s": fill_s, "rows": listed,
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "max_ms": max(latencies)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="open tasks")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args(argv)
    r = measure(args.n, args.queries)
    print(f"{r['n']:,} open tasks (filled in {r['fill_s']:.1f} s), {r['queries']} pages of 50 via "
          f"{r['via']}: p50 {r['p50_ms']:.2f} ms, p95 {r['p95_ms']:.2f} ms, max {r['max_ms']:.2f} ms")


if __name__ == "__main__":
    main()
