"""A worker that files and completes requests in a loop until it is killed (SIGKILL test)."""
from __future__ import annotations

import sys

from sqlalchemy import select

from engine import config, db
from engine.access import SYSTEM, Actor
from engine.models import HumanTask
from engine.runtime.verbs import Runtime

CS = Actor("cs_1", "staff", "customer_service")
FIN = Actor("fin_1", "staff", "finance")


def main(url: str) -> None:
    sessions = db.make_session_factory(db.make_engine(url))
    runtime = Runtime(config.Settings(database_url=url))
    n = 0
    print("ready", flush=True)
    while True:
        n += 1
        with sessions.begin() as session:
            runtime.start(session, "simple", {"request_no": f"K-{n}", "amount": 10.0}, SYSTEM)
        with sessions() as session:
            open_tasks = list(session.execute(select(HumanTask.task_id, HumanTask.department)))
        for task_id, department in open_tasks:
            with sessions.begin() as session:
                if department == "customer_service":
                    runtime.complete(session, task_id, {"approved": n % 2 == 0}, CS)
                else:
                    runtime.complete(session, task_id, {"confirmed": True}, FIN)
        if n % 2 == 0:     # approved requests wait for the refund result
            with sessions.begin() as session:
                runtime.deliver_message(session, "refund_result", f"K-{n}", {"status": "paid"})


if __name__ == "__main__":
    main(sys.argv[1])
