"""Cost with age: one verb on an instance that has looped 0, 50, 200 and 500 times.

bench/data/growth.bpmn is a loop (customer service handles a request, a script counts the pass,
the request comes back), so each completion ages the instance by one pass and three tasks.
At each age, in one run:

- platform: a completion through the engine verb, one durable SQLite transaction (commit and
  fsync included), median over `--verbs` completions at that age, in wall-clock time and in
  this process's CPU time (the fsync's wait is the disk's, shared with whatever else runs);
- raw: the same completion on raw SpiffWorkflow in memory (find the READY task, set its data,
  run it, do_engine_steps), on a workflow of the same age, median likewise, each timed just
  before a platform completion;
- the stored state's size (the instance row's state and its chunk rows, in bytes);
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
from engine.runtime import state_store, task_depth

AGES = (0, 50, 200, 500)
BPMN = BENCH_DATA / "growth.bpmn"
FORM = {"settled": False, "note": "reopened by the customer"}


def raw_workflow() -> BpmnWorkflow:
    """The loop started on raw SpiffWorkflow (stock script engine, spec parsed once).

    The library runs with the platform's depth patch (engine/runtime/task_depth.py): without it
    the loop's READY task vanishes from the task iterator past ~330 passes."""
    task_depth.install()
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(BPMN))
    with unpatched():
        workflow = BpmnWorkflow(parser.get_spec("growth"), script_engine=PythonScriptEngine())
        workflow.task_tree.data.update(passes=0)
        workflow.do_engine_steps()
    return workflow


def raw_complete(workflow) -> None:
    """One completion on raw SpiffWorkflow in memory: find the READY task, set its data, run
    it, advance (without the platform's determinism patches)."""
    with unpatched():
        [task] = workflow.get_tasks(state=TaskState.READY, manual=True)
        task.set_data(**FORM)
        task.run()
        workflow.do_engine_steps()


def platform_complete(p, instance_id: int) -> None:
    """One completion as a client makes it: the open task looked up, then the verb."""
    with p.sessions() as session:
        task_id = _open_task(session, instance_id)
    p.run("complete", task_id, FORM, CS)


def measure(ages=AGES, verbs: int = 20) -> dict[int, dict]:
    """{age: {"verb_ms", "verb_cpu_ms", "raw_ms", "raw_cpu_ms", "ratio", "cpu_ratio",
    "state_bytes", "replay_s", "events"}}: one platform instance and one raw workflow aged pass by pass side
    by side (the timed completions count as passes too), their timed completions interleaved so
    that a slow spell of a shared machine falls on both."""
    out = {}
    workflow = raw_workflow()
    with platform(durable=True) as p:
        p.deploy(BENCH_DATA, keep=("growth.bpmn",))
        instance_id = p.run("start", "growth", {"passes": 0}, CS, business_key="GROWTH-1").id
        passes = 0
        for age in sorted(ages):
            for _ in range(age - passes):
                raw_complete(workflow)
                platform_complete(p, instance_id)
            raw, raw_cpu, wall, cpu = [], [], [], []
            for _ in range(verbs):
                t0, c0 = time.perf_counter(), time.process_time()
                raw_complete(workflow)
                raw.append(time.perf_counter() - t0)
                raw_cpu.append(time.process_time() - c0)
                t0, c0 = time.perf_counter(), time.process_time()
                platform_complete(p, instance_id)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            passes = max(passes, age) + verbs
            with p.sessions() as session:
                instance = session.get(Instance, instance_id)
                size = state_store.stored_size(session, instance)
                t0 = time.perf_counter()
                result = replay.verify(session, instance_id, p.runtime.script_engine)
                replay_s = time.perf_counter() - t0
                assert result.ok, result.divergence
            row = {"verb_ms": statistics.median(wall) * 1000,
                   "verb_cpu_ms": statistics.median(cpu) * 1000,
                   "raw_ms": statistics.median(raw) * 1000,
                   "raw_cpu_ms": statistics.median(raw_cpu) * 1000, "state_bytes": size,
                   "replay_s": replay_s, "events": result.events}
            row["ratio"] = row["verb_ms"] / row["raw_ms"]
            row["cpu_ratio"] = row["verb_cpu_ms"] / row["raw_cpu_ms"]
            out[age] = row
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ages", type=int, nargs="+", default=list(AGES),
                        help="passes of the loop before the timed completions")
    parser.add_argument("--verbs", type=int, default=20, help="timed completions per age")
    args = parser.parse_args(argv)
    figures = measure(args.ages, args.verbs)
    print("| passes | platform verb ms (CPU ms) | raw SpiffWorkflow ms (CPU ms) | ratio (CPU) "
          "| state KB | events | replay s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for age, r in sorted(figures.items()):
        print(f"| {age} | {r['verb_ms']:.2f} ({r['verb_cpu_ms']:.2f}) | {r['raw_ms']:.2f} "
              f"({r['raw_cpu_ms']:.2f}) | {r['ratio']:.2f} ({r['cpu_ratio']:.2f}) "
              f"| {r['state_bytes'] / 1024:.1f} | {r['events']} | {r['replay_s']:.2f} |")


if __name__ == "__main__":
    main()
