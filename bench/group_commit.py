"""Durable SQLite with many writers: SQLite's fsync in every COMMIT against group commit.

`clients` threads each run one-step instances (start -> script -> end) and two-step instances
through the engine verbs, every verb its own durable transaction, in three set-ups in the same
run: as before (synchronous=FULL: each COMMIT flushes the WAL while it holds the write lock, and
a writer that finds the lock taken sleeps in SQLite's busy handler), FULL with the writers
queued in a Python lock (engine.group_commit.WriterQueue), and queued with group commit (the
flush after the lock is released, shared by the commits that landed meanwhile). A commit is on
disk before its verb returns in all three. Prints instances/s and how many commits one flush
served.

Usage: python -m bench.group_commit --n 2000 --clients 16
"""
from __future__ import annotations

import argparse

from bench.common import BENCH_DATA, SIMPLE_DATA, concurrently, platform, rate
from bench.throughput import _one_step, _two_step
from engine import db

WORKLOADS = {"one_step": (SIMPLE_DATA, "one_step.bpmn", _one_step),
             "two_step": (BENCH_DATA, "two_step.bpmn", _two_step)}
VERBS = {"one_step": 1, "two_step": 3}


SETUPS = {"before": {"group_commit": False, "queue_writers": False},
          "queued": {"group_commit": False, "queue_writers": True},
          "group": {"group_commit": True, "queue_writers": True}}


def run(workload: str, n: int, clients: int, setup: str) -> dict:
    """{"rate": instances/s, "commits_per_flush"} for `n` instances over `clients` threads."""
    folder, file, run_one = WORKLOADS[workload]
    with platform(durable=True, **SETUPS[setup]) as p:
        p.deploy(folder, keep=(file,))
        run_one(p, -1)                    # warm the definition cache and compiled scripts
        sync = db.wal_sync(p.engine)
        before = sync.flushes if sync else 0
        seconds = concurrently(lambda i: run_one(p, i), range(n), clients)
        flushes = (sync.flushes - before) if sync else n * VERBS[workload]
    return {"rate": rate(n, seconds), "commits_per_flush": n * VERBS[workload] / max(flushes, 1)}


def measure(n: int, clients: int) -> dict:
    """workload -> setup -> run(...)."""
    return {w: {setup: run(w, n, clients, setup) for setup in SETUPS} for w in WORKLOADS}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="instances per workload and mode")
    parser.add_argument("--clients", type=int, default=16, help="writing threads")
    args = parser.parse_args(argv)
    for workload, runs in measure(args.n, args.clients).items():
        before, queued, group = runs["before"], runs["queued"], runs["group"]
        print(f"{workload}, {args.clients} clients: before {before['rate']:.0f}/s, writers queued "
              f"{queued['rate']:.0f}/s, queued + group commit {group['rate']:.0f}/s "
              f"({group['rate'] / before['rate']:.2f}x; "
              f"{group['commits_per_flush']:.1f} commits per flush)")


if __name__ == "__main__":
    main()
