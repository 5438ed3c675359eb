"""Replay/verify speed: events per second of engine.history.replay.verify over many finished instances.

The instances are made through the engine verbs (on a non-durable database: filling is not what
is measured): refund-first after-sales requests (6 events each, a call activity, DMN routing and
service tasks) and two-user-task instances (3 events each). Verify checks each instance's hash
chain, replays every event in memory and compares the state hashes. It runs in one process, then
the same recorded inputs are re-run without storing or hashing any state (replay.rerun: raw
SpiffWorkflow's share, the figure verify is held against), and verify runs again split over
`--workers` processes (verifying is independent per instance).

Usage: python -m bench.replay_speed --n 300 --workers 2 [--rounds 5]
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from collections import defaultdict

from sqlalchemy import func, select

from bench.common import BENCH_DATA, BPMN_DIR, platform, rate
from bench.throughput import _two_step, refund_first_one
from engine import db
from engine.definitions import catalog
from engine.history import audit, replay
from engine.models import AuditEvent, Instance
from engine.runtime.verbs import Runtime


ROUNDS = 5


def _verify(url: str, ids: list[int], settings, raw: bool = False) -> dict[str, float]:
    """Verify `ids` (with `raw`, only re-run their recorded inputs: replay.rerun, the work of
    SpiffWorkflow alone); returns seconds spent per process key.

    Each instance's row and events are read in one short transaction, and the replay runs after
    it: every platform transaction on SQLite takes the write lock (BEGIN IMMEDIATE), so a replay
    inside one would keep any other process, verifier or not, waiting."""
    engine = db.make_engine(url, durable=False)
    sessions = db.make_session_factory(engine)
    runtime = Runtime(settings)
    spent: dict[str, float] = defaultdict(float)

    def definition_for(definition_id):
        with sessions() as session:
            return catalog.compiled(session, definition_id)
    try:
        for instance_id in ids:
            t0 = time.perf_counter()
            with sessions() as session:
                instance = session.get(Instance, instance_id)
                events = audit.events(session, instance_id)
            if raw:
                replay.rerun(definition_for, instance, events, runtime.script_engine)
            else:
                result = replay.verify(None, instance_id, runtime.script_engine, events=events,
                                       instance=instance, definition_for=definition_for)
                assert result.ok, result.divergence
            spent[instance.process_key] += time.perf_counter() - t0
    finally:
        engine.dispose()
    return dict(spent)


def _worker(args) -> float:
    """Seconds one worker process spends on its share, after warming its caches untimed."""
    url, ids, warm, settings = args
    catalog._cache.clear()
    _verify(url, warm, settings)
    t0 = time.perf_counter()
    _verify(url, ids, settings)
    return time.perf_counter() - t0


def measure(n: int, workers: int = 2, rounds: int = ROUNDS) -> dict:
    """n instances, half refund-first and half two-step. Returns events, instances and events/s
    in one process (overall and per process key, medians of `rounds`) and over `workers`
    processes."""
    with platform(durable=False) as p:
        p.deploy(BPMN_DIR)
        p.deploy(BENCH_DATA, keep=("two_step.bpmn",))
        for i in range(n):
            if i % 2:
                _two_step(p, i)
            else:
                refund_first_one(p, i)
        with p.sessions() as session:
            ids = list(session.scalars(select(Instance.id).order_by(Instance.id)))
            per_key = dict(session.execute(
                select(Instance.process_key, func.count(AuditEvent.id))
                .join(AuditEvent, AuditEvent.instance_id == Instance.id)
                .group_by(Instance.process_key)).all())
        events = sum(per_key.values())
        # Verify and the raw re-run alternate, `rounds` times, each going first every other
        # round; the median of each is taken (the machine's load moves between runs, so one
        # after the other would compare two loads, and the one going first would be favoured).
        timed = {False: [], True: []}
        for k in range(rounds):
            for raw in ((False, True) if k % 2 == 0 else (True, False)):
                t0 = time.perf_counter()
                result = _verify(p.url, ids, p.settings, raw=raw)
                timed[raw].append(time.perf_counter() - t0)
                spent = result if not raw else spent
        seconds, raw_seconds = statistics.median(timed[False]), statistics.median(timed[True])
        parallel = None
        if workers > 1:     # steady state: each worker warmed up, the slowest one sets the pace
            # Instances alternate refund-first / two-step: deal them out in pairs, so that every
            # worker gets the same mix.
            shares = [[i for j, i in enumerate(ids) if (j // 2) % workers == k]
                      for k in range(workers)]
            chunks = [(p.url, share, ids[:2], p.settings) for share in shares]
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                parallel = rate(events, max(pool.map(_worker, chunks, chunksize=1)))
    return {"instances": len(ids), "events": events, "seconds": seconds,
            "events_per_s": rate(events, seconds), "raw_events_per_s": rate(events, raw_seconds),
            "rounds": rounds, "workers": workers,
            "events_per_s_parallel": parallel,
            "by_process": {k: rate(per_key[k], spent[k]) for k in per_key}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="instances to make and verify")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="alternated rounds of verify and the raw re-run")
    args = parser.parse_args(argv)
    r = measure(args.n, args.workers, args.rounds)
    by = ", ".join(f"{k} {v:.0f}/s" for k, v in sorted(r["by_process"].items()))
    print(f"verified {r['instances']} instances, {r['events']} events in {r['seconds']:.2f} s: "
          f"{r['events_per_s']:.0f} events/s in one process ({by}); raw SpiffWorkflow "
          f"re-running the same inputs {r['raw_events_per_s']:.0f} events/s "
          f"(verify at {r['events_per_s'] / r['raw_events_per_s']:.0%} of it, medians of "
          f"{r['rounds']} rounds)"
          + (f"; {r['events_per_s_parallel']:.0f} events/s over {r['workers']} processes"
             if r["events_per_s_parallel"] else ""))


if __name__ == "__main__":
    main()
