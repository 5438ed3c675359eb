"""A scheduler process that dispatches the outbox until nothing is due and prints its counts.

It says "ready" once connected and waits for a line on stdin, so that the test starts every
process's dispatcher at the same moment and they really compete for the rows.
"""
from __future__ import annotations

import json
import sys

from engine import config, db
from engine.jobs import outbox
from engine.runtime.verbs import Runtime

SECRET = "outbox-worker-outgoing-secret-0123456789"


def main(url: str, provider_url: str, worker: str) -> None:
    sessions = db.make_session_factory(db.make_engine(url))
    runtime = Runtime(config.Settings(database_url=url, adapters={"shipping.ship": "http"},
                                      http_urls={"shipping": provider_url},
                                      outgoing_secret=SECRET, outbox_batch=20))
    with sessions() as session:
        session.connection()
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(outbox.dispatch_due(sessions, runtime, worker=worker)), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
