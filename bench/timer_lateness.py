"""Timer lateness: many timers due within one minute, fired in real time by the scheduler.

`--n` instances of bench/data/timer_only.bpmn (start -> timer catch with timeDate `due_at` from
the start data -> end) are started with due times spread evenly over a 60 s window that opens
once they have all been started. Then engine.jobs.scheduler.PlatformScheduler (APScheduler, the real
clock, durable SQLite commits) fires them. Lateness of a timer = the commit time of its
`timer_fired` transaction minus its due time (also reported: the audit event's `at`, which is
the time its batch was claimed). Starting is done on a non-durable connection to the same file:
it is set-up, not what is measured.

Usage: python -m bench.timer_lateness --n 10000 --window 60
"""
from __future__ import annotations

import argparse
import logging
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import event, func, select

from bench.common import BENCH_DATA, percentile, platform
from engine import clock, db
from engine.access import SYSTEM
from engine.jobs.scheduler import PlatformScheduler
from engine.models import Instance
from engine.runtime.verbs import Runtime


def _start_all(p, due: dict[str, datetime], per_transaction: int = 50) -> None:
    """Start one instance per key (set-up: many starts per transaction, no fsync)."""
    keys = list(due)
    for i in range(0, len(keys), per_transaction):
        with p.sessions.begin() as session:
            for key in keys[i:i + per_transaction]:
                p.runtime.start(session, "timer_only", {"due_at": due[key].isoformat()}, SYSTEM,
                                business_key=key)


def measure(n: int, window: float = 60.0, grace: float = 60.0) -> dict:
    """{"n", "fired", "p50_ms", "p99_ms", "max_ms", "p50_at_ms", "p99_at_ms", "fires_per_s"}."""
    clock.freeze(None)
    with platform(durable=False) as p:
        p.deploy(BENCH_DATA, keep=("timer_only.bpmn",))
        far = datetime(2099, 1, 1, tzinfo=timezone.utc)
        warm = min(200, max(10, n // 10))
        t0 = time.perf_counter()                # warm-up, also tells how fast starting goes
        _start_all(p, {f"W-{i}": far for i in range(warm)})
        per_start = (time.perf_counter() - t0) / warm
        # The window opens once all are started; the margin absorbs a slower machine.
        opens = clock.now() + timedelta(seconds=per_start * n * 1.5 + 3)
        due = {f"T-{i}": opens + timedelta(seconds=window * i / n) for i in range(n)}
        _start_all(p, due)
        if clock.now() >= opens:
            print(f"warning: starting took longer than planned; the first timers were due "
                  f"{(clock.now() - opens).total_seconds():.1f} s before firing began")

        engine = db.make_engine(p.url, durable=True)
        sessions = db.make_session_factory(engine)
        committed: dict[str, datetime] = {}
        recorded: dict[str, datetime] = {}

        def on_fire(session, instance, _workflow, row):
            if row["kind"] != "timer_fired":
                return
            key = instance.business_key
            recorded[key] = row["at"]
            event.listen(session, "after_commit",
                         lambda _s: committed.__setitem__(key, datetime.now(timezone.utc)), once=True)

        runtime = Runtime(p.settings, hooks=[on_fire])
        # APScheduler logs every skipped overlapping run; the figures below say what matters.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        scheduler = PlatformScheduler(sessions, runtime, worker="bench")
        scheduler.start()
        try:
            deadline = opens + timedelta(seconds=window + grace)
            while len(committed) < n and clock.now() < deadline:
                time.sleep(0.25)
        finally:
            scheduler.shutdown()
            time.sleep(0.2)
        with sessions() as session:
            done = session.scalar(select(func.count()).select_from(Instance)
                                  .where(Instance.status == "completed"))
        engine.dispose()

    late = [(committed[k] - due[k]).total_seconds() * 1000 for k in committed if k in due]
    late_at = [(recorded[k] - due[k]).total_seconds() * 1000 for k in recorded if k in due]
    span = (max(committed.values()) - min(committed.values())).total_seconds() if committed else 0
    return {"n": n, "window_s": window, "fired": len(late), "completed": done,
            "p50_ms": percentile(late, 50) if late else float("nan"),
            "p99_ms": percentile(late, 99) if late else float("nan"),
            "max_ms": max(late) if late else float("nan"),
            "p50_at_ms": percentile(late_at, 50) if late_at else float("nan"),
            "p99_at_ms": percentile(late_at, 99) if late_at else float("nan"),
            "fires_per_s": len(late) / span if span else float("nan")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="timers")
    parser.add_argument("--window", type=float, default=60.0, help="seconds the due times span")
    args = parser.parse_args(argv)
    r = measure(args.n, args.window)
    print(f"{r['fired']:,}/{r['n']:,} timers due within {r['window_s']:.0f} s fired "
          f"({r['fires_per_s']:.0f}/s): lateness at commit p50 {r['p50_ms']:.0f} ms, "
          f"p99 {r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms; by the event's time "
          f"p50 {r['p50_at_ms']:.0f} ms, p99 {r['p99_at_ms']:.0f} ms")


if __name__ == "__main__":
    main()
