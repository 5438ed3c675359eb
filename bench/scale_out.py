"""Scale-out on PostgreSQL: refund-first journeys per second and server CPU per journey for 1, 2
and 4 gunicorn workers beside 2 scheduler processes, 16 clients at once.

Each run has a fresh PostgreSQL database (bench.common.pg_platform) with bpmn/ deployed and the
benchmark's people and orders (bench.http_api.prepare). `gunicorn "web:create_app()"` runs with
`workers` workers of 8 threads (or `--threads`), and two `aftersales scheduler` processes run
beside it, as a multi-process installation runs (timers, outbox, SLA watch). The payment adapter
is `off`: the clients themselves are the provider that calls back refund_result
(bench.http_api.refund_first), so the schedulers' outbox must not pay first. After 8 journeys
per worker to warm them (each worker compiles the definitions once), `clients` threads each
drive journeys end to end (9 API calls each). CPU is the user+system time of the gunicorn
processes (and, separately, the schedulers), read from /proc before and after: what one journey
costs the server, whatever the machine's other load. On PostgreSQL, pg_stat_activity is sampled
meanwhile: how long backends (gunicorn's and the schedulers') sit idle in a transaction per
journey (a transaction held while the process computes), that as a share of the busy backends,
and the share waiting on a lock. The same run on durable SQLite with one worker is printed
beside it.

Usage: python -m bench.scale_out --pg-url postgresql://postgres@127.0.0.1:5432/postgres --n 400
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import text

from bench.common import ROOT, concurrently, pg_platform, platform, rate
from bench.http_api import prepare, refund_first, served, server_env, stop

CLIENTS = 16
SCHEDULERS = 2
WARM_PER_WORKER = 8
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` and of its children still running."""
    total = 0.0
    for proc in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


class BackendStates:
    """On PostgreSQL, what the platform's backends do while the journeys run: pg_stat_activity
    read every 20 ms from a thread, each backend's state counted (active, idle in
    transaction, idle) and whether an active one waits for a lock."""

    def __init__(self, engine):
        self.engine, self.counts = engine, Counter()
        self.rounds, self.seconds = 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        query = text("SELECT state, wait_event_type FROM pg_stat_activity WHERE datname = "
                     "current_database() AND pid <> pg_backend_pid() AND backend_type = "
                     "'client backend'")
        started = time.monotonic()
        with self.engine.connect() as conn:
            while not self._stop.wait(0.02):
                for state, waiting in conn.execute(query):
                    self.counts[state] += 1
                    self.counts["waiting on a lock"] += waiting == "Lock"
                conn.rollback()
                self.rounds += 1
        self.seconds = time.monotonic() - started

    def shares(self, journeys: int) -> dict:
        """{"idle_in_transaction", "lock_waits"}: shares of the backends that were not idle;
        "idle_in_transaction_ms": the time backends spent idle in a transaction (holding it
        while the process computed) per journey, summed over the backends."""
        busy = self.counts["active"] + self.counts["idle in transaction"]
        interval = self.seconds / self.rounds if self.rounds else 0.0
        return {"idle_in_transaction": self.counts["idle in transaction"] / busy if busy else 0.0,
                "lock_waits": self.counts["waiting on a lock"] / busy if busy else 0.0,
                "idle_in_transaction_ms": self.counts["idle in transaction"] * interval
                / journeys * 1000}


def run(p, n: int, workers: int, clients: int, schedulers: int, threads: int = 8) -> dict:
    """{"journeys_per_s", "server_ms", "scheduler_ms"} for `n` journeys on platform `p`, with
    "backends" (BackendStates.shares) on PostgreSQL."""
    env = server_env(p, AFTERSALES_ADAPTERS="payment=off")
    warm = WARM_PER_WORKER * workers
    secret = prepare(p, n + warm)
    background = [subprocess.Popen([sys.executable, "-m", "web.cli", "scheduler"], cwd=ROOT,
                                   env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                  for _ in range(schedulers)]
    try:
        with served(p, secret, workers=workers, env=env, threads=threads) as c:
            # Every worker compiles the definitions on its first journeys: not what is measured.
            concurrently(lambda i: refund_first(c, i), range(n, n + warm), warm)
            cpu = {}

            def read_cpu():
                cpu.update(server=cpu_seconds(c.server.pid),
                           schedulers=sum(cpu_seconds(s.pid) for s in background))
            postgres = p.url.startswith("postgresql")
            with BackendStates(p.engine) if postgres else contextlib.nullcontext() as states:
                seconds = concurrently(lambda i: refund_first(c, i), range(n), clients, read_cpu)
            server_cpu = cpu_seconds(c.server.pid) - cpu["server"]
            scheduler_cpu = sum(cpu_seconds(s.pid) for s in background) - cpu["schedulers"]
    finally:
        for process in background:
            stop(process)
    figures = {"journeys_per_s": rate(n, seconds), "server_ms": server_cpu / n * 1000,
               "scheduler_ms": scheduler_cpu / n * 1000}
    if states is not None:
        figures["backends"] = states.shares(n)
    return figures


def measure(pg_url: str, n: int, workers=(1, 2, 4), clients: int = CLIENTS,
            schedulers: int = SCHEDULERS, threads: int = 8) -> dict:
    """{"postgres": {workers: run(...)}, "sqlite": run(...) with one worker}."""
    figures = {"postgres": {}}
    for count in workers:
        with pg_platform(pg_url) as p:
            figures["postgres"][count] = run(p, n, count, clients, schedulers, threads)
    with platform(durable=True) as p:
        figures["sqlite"] = run(p, n, 1, clients, schedulers, threads)
    return figures


def report(figures: dict, clients: int, threads: int = 8) -> str:
    def line(label, r):
        backends = r.get("backends")
        return (f"  {label}: {r['journeys_per_s']:.1f} journeys/s, server CPU "
                f"{r['server_ms']:.0f} ms per journey, schedulers {r['scheduler_ms']:.0f} ms"
                + (f"; backends idle in a transaction {backends['idle_in_transaction_ms']:.0f} "
                   f"ms per journey ({backends['idle_in_transaction']:.0%} of the busy ones), "
                   f"{backends['lock_waits']:.0%} waiting on a lock"
                   if backends else ""))
    lines = [f"refund-first journeys over HTTP, {clients} clients, gunicorn workers of "
             f"{threads} thread(s), with schedulers beside:"]
    lines += [line(f"PostgreSQL, {w} worker(s)", r) for w, r in figures["postgres"].items()]
    lines.append(line("durable SQLite, 1 worker", figures["sqlite"]))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", required=True, help="a PostgreSQL server to make databases on")
    parser.add_argument("--n", type=int, default=400, help="journeys per run")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    args = parser.parse_args(argv)
    print(report(measure(args.pg_url, args.n, clients=args.clients, threads=args.threads),
                 args.clients, args.threads))


if __name__ == "__main__":
    main()
