"""Replay/verify speed: events per second of engine.replay.verify over many finished instances.

The instances are made through the engine verbs (on a non-durable database: filling is not what
is measured): refund-first after-sales requests (6 events each, a call activity, DMN routing and
service tasks) and two-user-task instances (3 events each). Verify checks each instance's hash
chain, replays every event in memory and compares the state hashes.

Usage: python -m bench.replay_speed --n 300
"""
from __future__ import annotations

import argparse
import time

from bench.common import BENCH_DATA, BPMN_DIR, platform, rate
from bench.throughput import _two_step, refund_first_one

from sqlalchemy import func, select

from engine import replay
from engine.models import AuditEvent, Instance


def measure(n: int) -> dict:
    """n instances, half refund-first and half two-step; {"events", "instances", "events_per_s"}."""
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
            events = session.scalar(select(func.count()).select_from(AuditEvent))
        t0 = time.perf_counter()
        for instance_id in ids:
            with p.sessions() as session:       # one read transaction per instance, as the API
                result = replay.verify(session, instance_id, p.runtime.script_engine)
            assert result.ok, result.divergence
        seconds = time.perf_counter() - t0
    return {"instances": len(ids), "events": events, "seconds": seconds,
            "events_per_s": rate(events, seconds)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="instances to make and verify")
    args = parser.parse_args(argv)
    r = measure(args.n)
    print(f"verified {r['instances']} instances, {r['events']} events in {r['seconds']:.2f} s: "
          f"{r['events_per_s']:.0f} events/s")


if __name__ == "__main__":
    main()
