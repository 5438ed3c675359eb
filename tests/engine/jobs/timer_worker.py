"""A scheduler process that fires every due timer once and prints how many it fired."""
from __future__ import annotations

import sys

from engine import clock, config, db
from engine.jobs import timers
from engine.runtime.verbs import Runtime


def main(url: str, now: str, worker: str) -> None:
    sessions = db.make_session_factory(db.make_engine(url))
    runtime = Runtime(config.Settings(database_url=url))
    print(timers.run_due(sessions, runtime, now=clock.parse(now), worker=worker, batch=10), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
