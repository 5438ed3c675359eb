"""Resident memory of an engine process while it completes many instances.

One process runs one-step instances through `Runtime.start` (one transaction each, as a server
would) and prints its resident set size (VmRSS) at 10 %, 50 % and 100 % of `--n`. A process
that keeps something per completed instance (a cache, the identity map, a log) grows between
the marks; a healthy one stays flat after warming up. The database is not fsync'd here
(`durable=False`): durability changes the time, not what stays in memory.

Usage: python -m bench.memory --n 100000
"""
from __future__ import annotations

import argparse
import gc
import time

from bench.common import SIMPLE_DATA, platform, rss_mib
from engine.access import SYSTEM


def measure(n: int, marks=(0.1, 0.5, 1.0)) -> dict:
    """{"n", "rss": [(completed, MiB)], "start_mib", "per_s"}."""
    at = sorted({max(1, int(n * m)) for m in marks})
    out = []
    with platform(durable=False) as p:
        p.deploy(SIMPLE_DATA, keep=("one_step.bpmn",))
        for i in range(200):      # warm up caches (definition, compiled scripts, SQL statements)
            p.run("start", "one_step", {"amount": float(i)}, SYSTEM, business_key=f"W-{i}")
        gc.collect()
        start_mib = rss_mib()
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            with p.sessions.begin() as session:
                p.runtime.start(session, "one_step", {"amount": float(i)}, SYSTEM,
                                business_key=f"M-{i}")
            if i in at:
                out.append((i, rss_mib()))
        seconds = time.perf_counter() - t0
    return {"n": n, "start_mib": start_mib, "rss": out, "per_s": n / seconds}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="instances to complete")
    args = parser.parse_args(argv)
    r = measure(args.n)
    marks = ", ".join(f"{k:,}: {mib:.1f} MiB" for k, mib in r["rss"])
    print(f"RSS after warm-up {r['start_mib']:.1f} MiB; after completed instances {marks} "
          f"({r['per_s']:.0f} instances/s)")


if __name__ == "__main__":
    main()
