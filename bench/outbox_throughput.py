"""Outbox delivery throughput: intents delivered per second to a provider that answers in 50 ms.

`--n` shipping.ship intents (outbox rows with the http adapter, no instance to reply to) are
delivered by `engine.jobs.outbox.dispatch_due` to an HTTP server on 127.0.0.1 that answers each
call after `--latency-ms`, until none is due. The rate is intents recorded done per second of
wall time, first call to last record:

- serial: AFTERSALES_OUTBOX_CONCURRENCY=1, one call after the other as the dispatcher did before
  (then inside the row's transaction; it also took only 50 rows per 2-second tick);
- concurrent: the default concurrency (16), and 32;
- with replies: courier.book_pickup intents of waiting instances (bench/data/courier_booking.bpmn),
  whose provider answers the booking at once: each record also delivers pickup_booked to its
  instance, which runs to its end (an engine verb per intent, in the record transaction);
- PostgreSQL (with `--pg-url`): 1 and 3 scheduler processes, each its own dispatcher, on one
  fresh database.

SQLite runs are durable (WAL, every record transaction fsync'd: group commit) and share
the process with the provider's server; the PostgreSQL processes are separate from it.

Usage: python -m bench.outbox_throughput --n 2000 [--pg-url postgresql://postgres@127.0.0.1/postgres]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

from sqlalchemy import func, insert, select

from bench.common import BENCH_DATA, BPMN_DIR, ROOT, pg_database, platform, rate
from engine import clock, config, db
from engine.access import SYSTEM
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.jobs import outbox
from engine.models import Instance, Outbox
from engine.runtime.verbs import Runtime
from tests.http_server import LocalServer

SECRET = "bench-outbox-outgoing-secret-0123456789"


SLOT = {"slot_start": "2026-12-03T01:00:00+00:00", "slot_end": "2026-12-03T04:00:00+00:00"}


@contextmanager
def provider(latency_ms: float):
    """A shipping and courier provider on 127.0.0.1 that answers every call after
    `latency_ms`: a tracking number, or a courier's booked slot."""
    def answer(got):
        time.sleep(latency_ms / 1000)
        if got.json["operation"] == "courier.book_pickup":
            return 200, {**SLOT, "booking": "PK-" + got.json["idempotency_key"][-12:]}
        return 200, {"tracking_no": "SF-" + got.json["idempotency_key"]}
    server = LocalServer(answer)
    try:
        yield server
    finally:
        server.stop()


def http_settings(settings: config.Settings, url: str, **changes) -> config.Settings:
    return settings.with_(adapters={"shipping.ship": "http", "courier.book_pickup": "http"},
                          http_urls={"shipping": url, "courier": url}, outgoing_secret=SECRET,
                          **changes)


def add_intents(sessions, n: int) -> None:
    now = clock.now()
    with sessions.begin() as session:
        session.execute(insert(Outbox), [
            {"idempotency_key": f"bench-{uuid.uuid4().hex}", "operation": "shipping.ship",
             "payload": {"address": f"{i} Nanjing Road"}, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now} for i in range(n)])


def done(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Outbox)
                              .where(Outbox.status == "done"))


def sqlite_rate(n: int, latency_ms: float, concurrency: int) -> float:
    """Intents per second through one dispatcher on durable SQLite."""
    clock.freeze(None)
    with platform(durable=True) as p, provider(latency_ms) as server:
        add_intents(p.sessions, n)
        runtime = Runtime(http_settings(p.settings, server.url,
                                            outbox_concurrency=concurrency))
        t0 = time.perf_counter()
        outbox.dispatch_due(p.sessions, runtime)
        elapsed = time.perf_counter() - t0
        assert done(p.sessions) == n, "not every intent was delivered"
    return rate(n, elapsed)


def reply_rate(n: int, latency_ms: float, concurrency: int) -> float:
    """Intents per second through one dispatcher on durable SQLite when each answer is
    delivered to a waiting instance (`n` courier_booking instances started beforehand)."""
    clock.freeze(None)
    with platform(durable=True) as p, provider(latency_ms) as server:
        bundle = Bundle(files={"courier_booking.bpmn":
                               (BENCH_DATA / "courier_booking.bpmn").read_bytes()},
                        messages={"pickup_booked.json":
                                  (BPMN_DIR / "messages" / "pickup_booked.json").read_bytes()})
        with p.sessions.begin() as session:
            catalog.deploy(session, bundle, "bench")
        for start in range(0, n, 100):             # set-up: many starts per transaction
            with p.sessions.begin() as session:
                for i in range(start, min(n, start + 100)):
                    p.runtime.start(session, "courier_booking", {"request_no": f"PK-{i}"},
                                    SYSTEM, business_key=f"PK-{i}")
        runtime = Runtime(http_settings(p.settings, server.url, outbox_concurrency=concurrency))
        t0 = time.perf_counter()
        outbox.dispatch_due(p.sessions, runtime)
        elapsed = time.perf_counter() - t0
        with p.sessions() as session:
            ended = session.scalar(select(func.count()).select_from(Instance)
                                   .where(Instance.status == "completed"))
        assert done(p.sessions) == ended == n, "not every booking reached its instance"
    return rate(n, elapsed)


def pg_rate(base_url: str, n: int, latency_ms: float, processes: int) -> float:
    """Intents per second through `processes` scheduler processes on one PostgreSQL database,
    from the moment they all start dispatching to the last one's end."""
    with pg_database(base_url) as url, provider(latency_ms) as server:
        engine = db.make_engine(url)
        sessions = db.make_session_factory(engine)
        add_intents(sessions, n)
        workers = [subprocess.Popen([sys.executable, "-m", "bench.outbox_throughput", "--worker",
                                     url, server.url], cwd=ROOT, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True) for _ in range(processes)]
        for worker in workers:
            worker.stdout.readline()             # connected and ready
        t0 = time.perf_counter()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            worker.communicate(timeout=600)
        elapsed = time.perf_counter() - t0
        delivered = done(sessions)
        engine.dispose()
        assert delivered == n, f"{delivered} of {n} intents were delivered"
    return rate(n, elapsed)


def worker(url: str, provider_url: str) -> None:
    """One scheduler process of `pg_rate`: says it is ready, waits for the go, dispatches."""
    sessions = db.make_session_factory(db.make_engine(url))
    runtime = Runtime(http_settings(config.Settings(database_url=url), provider_url))
    with sessions() as session:
        session.connection()
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(outbox.dispatch_due(sessions, runtime)), flush=True)


def measure(n: int, latency_ms: float = 50.0, pg_url: str | None = None) -> dict:
    """{"n", "latency_ms", "serial", "concurrent": {16: rate, 32: rate}, "replies": rate at 16,
    "postgres": {1: rate, 3: rate} or None}. The serial run delivers at most 200 intents (it
    is ~20/s at 50 ms), the run with replies half as many as the others (each starts an
    instance first)."""
    serial_n, replies_n = min(n, 200), max(1, n // 2)
    figures = {"n": n, "serial_n": serial_n, "replies_n": replies_n, "latency_ms": latency_ms,
               "serial": sqlite_rate(serial_n, latency_ms, 1),
               "concurrent": {c: sqlite_rate(n, latency_ms, c) for c in (16, 32)},
               "replies": reply_rate(replies_n, latency_ms, 16), "postgres": None}
    if pg_url:
        figures["postgres"] = {k: pg_rate(pg_url, n, latency_ms, k) for k in (1, 3)}
    return figures


def report(r: dict) -> str:
    lines = [f"outbox, {r['n']:,} intents, provider answering in {r['latency_ms']:.0f} ms:",
             f"  serial (concurrency 1, {r['serial_n']} intents): {r['serial']:,.0f} intents/s"]
    lines += [f"  concurrency {c}, durable SQLite: {v:,.0f} intents/s"
              for c, v in r["concurrent"].items()]
    lines.append(f"  concurrency 16, each answer delivered to its instance ({r['replies_n']:,} "
                 f"intents): {r['replies']:,.0f} intents/s")
    if r["postgres"]:
        lines += [f"  PostgreSQL, {k} scheduler process{'es' if k > 1 else ''} (concurrency 16 "
                  f"each): {v:,.0f} intents/s" for k, v in r["postgres"].items()]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="intents per run")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--pg-url", help="also measure 1 and 3 processes on PostgreSQL")
    parser.add_argument("--worker", nargs=2, metavar=("URL", "PROVIDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return
    print(report(measure(args.n, args.latency_ms, args.pg_url)))


if __name__ == "__main__":
    main()
