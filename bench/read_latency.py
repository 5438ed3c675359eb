"""Reads under writes over HTTP: the task list's latency while other clients write.

The server is bench/http_api's (gunicorn, one worker, 8 threads, durable SQLite). One reader
asks finance's task list (GET /api/tasks?department=finance) again and again, first with the
server otherwise idle, then while `writers` clients each drive refund-first requests end to end
(bench/http_api.refund_first: filings, completions, a provider's message...). On SQLite a read
that began IMMEDIATE waited for every writer's transaction; reads now begin DEFERRED on a WAL
snapshot (engine.db.reading), so the ratio of the two p95s is the figure (target: at most 3).

Usage: python -m bench.read_latency --reads 300 --writers 4
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time

from bench.common import percentile, platform
from bench.http_api import prepare, refund_first, served

TASK_LIST = "/api/tasks?department=finance&per_page=50"


def latencies(c, reads: int) -> list[float]:
    """Milliseconds of each of `reads` task-list calls, one after another."""
    out = []
    for _ in range(reads):
        t0 = time.perf_counter()
        c.call("GET", TASK_LIST, as_="finance_1")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(reads: int, writers: int, per_writer: int) -> dict:
    """{"idle_p50", "idle_p95", "loaded_p50", "loaded_p95", "ratio_p95", "writes"}."""
    with platform(durable=True) as p, served(p, prepare(p, writers * per_writer)) as c:
        refund_first(c, -1)                           # warm caches; one finance task less
        idle = latencies(c, reads)
        stop = threading.Event()
        done = [0] * writers

        def write(w: int) -> None:
            for i in range(w * per_writer, (w + 1) * per_writer):
                if stop.is_set():
                    return
                refund_first(c, i)
                done[w] += 1

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        time.sleep(0.5)                               # let the writers get going
        loaded = latencies(c, reads)
        stop.set()
        for t in threads:
            t.join()
    return {"idle_p50": statistics.median(idle), "idle_p95": percentile(idle, 95),
            "loaded_p50": statistics.median(loaded), "loaded_p95": percentile(loaded, 95),
            "ratio_p95": percentile(loaded, 95) / percentile(idle, 95), "writes": sum(done)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=300, help="task-list calls per phase")
    parser.add_argument("--writers", type=int, default=4, help="clients writing meanwhile")
    parser.add_argument("--per-writer", type=int, default=200,
                        help="refund-first requests each writer may drive")
    args = parser.parse_args(argv)
    r = measure(args.reads, args.writers, args.per_writer)
    print(f"task list, idle: p50 {r['idle_p50']:.1f} ms, p95 {r['idle_p95']:.1f} ms")
    print(f"task list, {args.writers} writing clients: p50 {r['loaded_p50']:.1f} ms, "
          f"p95 {r['loaded_p95']:.1f} ms ({r['writes']} requests written meanwhile)")
    print(f"p95 loaded / idle: {r['ratio_p95']:.1f} (target <= 3)")


if __name__ == "__main__":
    main()
