"""Cost with age: one verb on an instance that has looped 0, 50, 200 and 500 times.

bench/data/growth.bpmn is a loop (customer service handles a request, a script counts the pass,
the request comes back), so each completion ages the instance by one pass and three tasks.
At each age, in one run:

- platform: a completion through the engine verb, one durable SQLite transaction (commit and
  fsync included), median over `--verbs` completions at that age, in wall-clock time and in
  this process's CPU time (the fsync's wait is the disk's, shared with whatever else runs);
- raw: the same completion on raw SpiffWorkflow in memory (find the READY task, set its data,
  run it, do_engine_steps), on a workflow of the same age, median likewise;
- the stored state's size (the instance row's state and its stored task rows, in bytes);
- replay: `verify` of the instance's whole history (hash chain, replay of every event, the
  state hash after each), in seconds.

Usage: python -m bench.growth --ages 0 50 200 500 --verbs 20
"""
from __future__ import annotations

import argparse
import statistics
import time

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from bench.common import BENCH_DATA, platform
from bench.throughput import CS, _open_task, unpatched
from engine.history import replay
from engine.models import Instance
from engine.runtime import serialization

AGES = (0, 50, 200, 500)
BPMN = BENCH_DATA / "growth.bpmn"
FORM = {"settled": False, "note": "reopened by the customer"}


def raw_verb_ms(ages, verbs: int) -> dict[int, float]:
    """{age: median ms of one completion on raw SpiffWorkflow in memory at that age}."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec("growth")
    out = {}
    with unpatched():
        workflow = BpmnWorkflow(spec, script_engine=PythonScriptEngine())
        workflow.task_tree.data.update(passes=0)
        workflow.do_engine_steps()
        passes = 0
        for age in sorted(ages):
            while passes < age:
                _raw_complete(workflow)
                passes += 1
            times = []
            for _ in range(verbs):
                t0 = time.perf_counter()
                _raw_complete(workflow)
                times.append(time.perf_counter() - t0)
            passes += verbs
            out[age] = statistics.median(times) * 1000
    return out


def _raw_complete(workflow) -> None:
    [task] = workflow.get_tasks(state=TaskState.READY, manual=True)
    task.set_data(**FORM)
    task.run()
    workflow.do_engine_steps()


def platform_figures(ages, verbs: int) -> dict[int, dict]:
    """{age: {"verb_ms", "verb_cpu_ms", "state_bytes", "replay_s", "events"}} through the engine
    verbs, on one
    instance aged pass by pass (the timed completions count as passes too)."""
    out = {}
    with platform(durable=True) as p:
        p.deploy(BENCH_DATA, keep=("growth.bpmn",))
        instance = p.run("start", "growth", {"passes": 0}, CS, business_key="GROWTH-1")
        instance_id, passes = instance.id, 0
        for age in sorted(ages):
            while passes < age:
                _complete(p, instance_id)
                passes += 1
            times, cpu = [], []
            for _ in range(verbs):
                t0, c0 = time.perf_counter(), time.process_time()
                _complete(p, instance_id)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            passes += verbs
            with p.sessions() as session:
                instance = session.get(Instance, instance_id)
                size = serialization.stored_size(session, instance)
                t0 = time.perf_counter()
                result = replay.verify(session, instance_id, p.runtime.script_engine)
                replay_s = time.perf_counter() - t0
                assert result.ok, result.divergence
            out[age] = {"verb_ms": statistics.median(times) * 1000,
                        "verb_cpu_ms": statistics.median(cpu) * 1000, "state_bytes": size,
                        "replay_s": replay_s, "events": result.events}
    return out


def _complete(p, instance_id: int) -> None:
    """One completion as a client makes it: the open task looked up, then the verb."""
    with p.sessions() as session:
        task_id = _open_task(session, instance_id)
    p.run("complete", task_id, FORM, CS)


def measure(ages=AGES, verbs: int = 20) -> dict[int, dict]:
    """{age: {"verb_ms", "verb_cpu_ms", "raw_ms", "ratio", "cpu_ratio", "state_bytes",
    "replay_s", "events"}}: the platform and raw SpiffWorkflow in the same run."""
    raw = raw_verb_ms(ages, verbs)
    figures = platform_figures(ages, verbs)
    for age, row in figures.items():
        row["raw_ms"] = raw[age]
        row["ratio"] = row["verb_ms"] / raw[age]
        row["cpu_ratio"] = row["verb_cpu_ms"] / raw[age]
    return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ages", type=int, nargs="+", default=list(AGES),
                        help="passes of the loop before the timed completions")
    parser.add_argument("--verbs", type=int, default=20, help="timed completions per age")
    args = parser.parse_args(argv)
    figures = measure(args.ages, args.verbs)
    print("| passes | platform verb ms (CPU ms) | raw SpiffWorkflow ms | ratio (CPU) | state KB "
          "| events | replay s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for age, r in sorted(figures.items()):
        print(f"| {age} | {r['verb_ms']:.2f} ({r['verb_cpu_ms']:.2f}) | {r['raw_ms']:.2f} "
              f"| {r['ratio']:.2f} ({r['cpu_ratio']:.2f}) | {r['state_bytes'] / 1024:.1f} "
              f"| {r['events']} | {r['replay_s']:.2f} |")


if __name__ == "__main__":
    main()
