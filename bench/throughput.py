"""Instances per second, in one run on one machine, for the same BPMN:

(a) raw SpiffWorkflow in memory;
(b) raw SpiffWorkflow with a stock serialize + deserialize (BpmnWorkflowSerializer, SPIFF_CONFIG)
    after every step, as the peer figures were taken;
(c) the platform's engine verbs on SQLite with durable commits, one transaction per verb.

Workloads: `one_step` (start -> script -> end, tests/data/simple/one_step.bpmn), `two_step`
(start -> script -> user task -> XOR -> user task -> script -> end, bench/data/two_step.bpmn) and,
for (c) only, the after-sales refund-first happy path of bpmn/ (5 verbs after the start: a
finance approval, two messages, a warehouse inspection and the satisfaction survey).

Usage: python -m bench.throughput --n 2000
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import uuid
from datetime import datetime

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, event, select

from bench.common import BENCH_DATA, BPMN_DIR, SIMPLE_DATA, percentile, platform, rate
from engine.access import SYSTEM, Actor
from engine.models import HumanTask, Instance

WORKLOADS = {
    "one_step": (SIMPLE_DATA / "one_step.bpmn", "one_step"),
    "two_step": (BENCH_DATA / "two_step.bpmn", "two_step"),
}
# Form data of each user task, in the order the tasks become ready.
TWO_STEP_FORMS = [{"agreed": True, "note": "agreed on the phone"}, {"approved": True}]

CS = Actor("cs_1", "staff", "customer_service")
FINANCE = Actor("fin_1", "staff", "finance")
WAREHOUSE = Actor("wh_1", "staff", "warehouse")

REFUND_REQUEST = {
    "order_id": "O-7781", "customer_id": "C-42", "customer_tier": "normal",
    "type": "return_refund", "category": "apparel", "amount": 399.0, "reason": "too small",
    "items": [{"sku": "TSHIRT-M", "qty": 1}], "damage": False, "pickup": False,
}


# ------------------------------------------------------------------------- raw SpiffWorkflow

@contextlib.contextmanager
def unpatched():
    """Undo engine.runtime.determinism's patches for the raw runs (they would slow raw Spiff down)."""
    import SpiffWorkflow.task as spiff_task
    from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

    saved = spiff_task.uuid4, spiff_task.time, spiff_timer.datetime
    spiff_task.uuid4, spiff_task.time, spiff_timer.datetime = uuid.uuid4, time, datetime
    try:
        yield
    finally:
        spiff_task.uuid4, spiff_task.time, spiff_timer.datetime = saved


def raw_spec(workload: str):
    path, process_id = WORKLOADS[workload]
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(path))
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


def raw_rate(workload: str, n: int, roundtrip: bool) -> float:
    """Instances per second run start to end on raw SpiffWorkflow (stock script engine)."""
    spec, subs = raw_spec(workload)
    engine = PythonScriptEngine()
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    forms = TWO_STEP_FORMS if workload == "two_step" else []

    def settle(wf):
        wf.do_engine_steps()
        if roundtrip:
            wf = serializer.deserialize_json(serializer.serialize_json(wf))
            wf.script_engine = engine
        return wf

    with unpatched():
        t0 = time.perf_counter()
        for i in range(n):
            wf = BpmnWorkflow(spec, subs, script_engine=engine)
            for task in wf.get_tasks(state=TaskState.READY):
                task.data.update({"amount": 100.0 + i})
            wf = settle(wf)
            for form in forms:
                [task] = wf.get_tasks(state=TaskState.READY, manual=True)
                task.set_data(**form)
                task.run()
                wf = settle(wf)
            assert wf.is_completed()
        return rate(n, time.perf_counter() - t0)


# ------------------------------------------------------------------------- the engine verbs

# What a client does between verbs (find the next task), kept cheap so the verbs are measured.
_NEXT_TASK = select(HumanTask.task_id).where(HumanTask.instance_id == bindparam("instance_id"))


def _open_task(session, instance_id: int) -> str:
    return session.connection().execute(_NEXT_TASK, {"instance_id": instance_id}).scalar_one()


def engine_rate(workload: str, n: int, durable: bool = True,
                commit_ms: list | None = None) -> float:
    """Instances per second through Runtime verbs, each verb its own durable transaction.

    With `commit_ms`, the time of every COMMIT (the fsync, when durable) is appended to it."""
    with platform(durable=durable) as p:
        if workload == "one_step":
            p.deploy(SIMPLE_DATA, keep=("one_step.bpmn",))
        else:
            p.deploy(BENCH_DATA, keep=("two_step.bpmn",))
        run_one = _one_step if workload == "one_step" else _two_step
        run_one(p, -1)        # warm the definition cache and the compiled scripts
        if commit_ms is not None:
            _time_commits(p, commit_ms)
        t0 = time.perf_counter()
        for i in range(n):
            run_one(p, i)
        return rate(n, time.perf_counter() - t0)


def _time_commits(p, out: list) -> None:
    """Append the duration of each transaction's COMMIT (from the engine's commit event to the
    session's after_commit) to `out`, in milliseconds."""
    started: list = []
    event.listen(p.engine, "commit", lambda _conn: started.append(time.perf_counter()))
    event.listen(p.sessions, "after_commit",
                 lambda _s: out.append((time.perf_counter() - started.pop()) * 1000)
                 if started else None)


def _one_step(p, i: int) -> None:
    with p.sessions.begin() as session:
        instance = p.runtime.start(session, "one_step", {"amount": 100.0 + i}, SYSTEM,
                                   business_key=f"B-{i}")
        assert instance.status == "completed"


def _two_step(p, i: int) -> None:
    with p.sessions.begin() as session:
        instance = p.runtime.start(session, "two_step", {"amount": 100.0 + i}, SYSTEM,
                                   business_key=f"B-{i}")
        task_id = _open_task(session, instance.id)
    with p.sessions.begin() as session:
        instance = p.runtime.complete(session, task_id, TWO_STEP_FORMS[0], CS)
        task_id = _open_task(session, instance.id)
    with p.sessions.begin() as session:
        instance = p.runtime.complete(session, task_id, TWO_STEP_FORMS[1], FINANCE)
        assert instance.status == "completed"


def refund_first_rate(n: int, durable: bool = True) -> float:
    """After-sales requests per second on the refund-first happy path (6 verbs each)."""
    with platform(durable=durable) as p:
        p.deploy(BPMN_DIR)
        refund_first_one(p, -1)
        t0 = time.perf_counter()
        for i in range(n):
            refund_first_one(p, i)
        return rate(n, time.perf_counter() - t0)


def refund_first_one(p, i: int) -> int:
    """Drive one request along refund-first: approve, paid, shipped back, inspected, survey."""
    no = f"AS-BENCH-{i:07d}"
    with p.sessions.begin() as session:
        instance = p.runtime.start(session, "aftersales_request", {**REFUND_REQUEST, "request_no": no})
        instance_id = instance.id
        task_id = _open_task(session, instance_id)
    with p.sessions.begin() as session:
        p.runtime.complete(session, task_id, {"refund_approved": True, "refund_amount": 399.0,
                                              "refund_note": "ok"}, FINANCE)
    with p.sessions.begin() as session:
        p.runtime.deliver_message(session, "refund_result", no,
                                  {"status": "paid", "amount": 399.0, "reference": "RF-1"})
    with p.sessions.begin() as session:
        p.runtime.deliver_message(session, "return_shipped", no,
                                  {"tracking_no": "SF1234567890", "carrier": "SF"})
        task_id = _open_task(session, instance_id)
    with p.sessions.begin() as session:
        p.runtime.complete(session, task_id, {"inspection_passed": True, "goods_condition": "as_new",
                                              "inspection_note": ""}, WAREHOUSE)
    with p.sessions.begin() as session:
        p.runtime.deliver_message(session, "csat_submitted", no, {"score": 5, "comment": "ok"})
        instance = session.get(Instance, instance_id)
        assert instance.status == "completed", instance.status
    return instance_id


def measure(n: int, runs: int = 1, workloads=("one_step", "two_step"), refund_n: int | None = None
            ) -> dict:
    """{workload: {"raw": a, "raw_roundtrip": b, "engine": c, "engine_no_fsync": c'}} and
    "refund_first": c. c' is the engine on a non-durable database: a diagnostic of its CPU cost.

    Each figure is the median of `runs`; the runs are interleaved (a, b, c, c' of every
    workload, then again) so that a slow spell of a shared machine does not fall on one column.
    """
    samples: dict = {w: {"raw": [], "raw_roundtrip": [], "engine": [], "engine_no_fsync": []}
                     for w in workloads}
    samples["refund_first"], samples["commit_ms"] = [], []
    for _ in range(max(1, runs)):
        for w in workloads:
            k = n if w == "one_step" else max(1, n // 2)
            samples[w]["raw"].append(raw_rate(w, k, roundtrip=False))
            samples[w]["raw_roundtrip"].append(raw_rate(w, k, roundtrip=True))
            samples[w]["engine"].append(engine_rate(w, k, commit_ms=samples["commit_ms"]))
            samples[w]["engine_no_fsync"].append(engine_rate(w, k, durable=False))
        samples["refund_first"].append(refund_first_rate(refund_n or max(1, n // 10)))
    out: dict = {w: {col: statistics.median(v) for col, v in samples[w].items()} for w in workloads}
    out["refund_first"] = statistics.median(samples["refund_first"])
    commits = sorted(samples["commit_ms"])
    out["commit_ms"] = {"n": len(commits), "p50": percentile(commits, 50),
                        "p90": percentile(commits, 90), "p99": percentile(commits, 99)}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="one-step instances per run")
    parser.add_argument("--runs", type=int, default=3, help="median of this many runs")
    args = parser.parse_args(argv)
    result = measure(args.n, args.runs)
    for w in ("one_step", "two_step"):
        r = result[w]
        print(f"{w}: raw {r['raw']:.0f}/s, raw+roundtrip {r['raw_roundtrip']:.0f}/s, "
              f"engine durable {r['engine']:.0f}/s, (c)/(b) {r['engine'] / r['raw_roundtrip']:.2f}")
    print(f"refund_first engine durable: {result['refund_first']:.1f}/s")


if __name__ == "__main__":
    main()
