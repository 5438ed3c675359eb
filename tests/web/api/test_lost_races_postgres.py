"""Commands on one instance at once, over the API on PostgreSQL: verbs load the instance without
a lock, run the workflow outside any transaction, and write with a version check
(engine/runtime/verbs.py, engine/db.py); a command whose write finds the version moved wrote
nothing and the API runs it again on the fresh rows (web/__init__.py), so both commands land as
they would have one after the other."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import select

from engine import users
from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.models import HumanTask
from engine.runtime import incidents
from tests.conftest import DATA
from tests.web.conftest import FAST_HASH, PASSWORD, error_of

pytestmark = pytest.mark.postgres

CLERK = "customer_service_1"


@pytest.fixture
def db_url(pg_url):
    return pg_url


@pytest.fixture
def reviews(platform, world):
    return start_reviews(platform, 5)


def start_reviews(platform, count: int) -> list[tuple[int, str]]:
    """`count` instances of the simple process, each at its open review task: (instance id,
    task id) of each."""
    with incidents.transaction(platform.sessions) as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "simple"), "owner")
        ids = [platform.runtime.start(session, "simple", {"request_no": f"R-{n}"}, SYSTEM).id
               for n in range(count)]
    with platform.sessions() as session:
        rows = session.execute(select(HumanTask.instance_id, HumanTask.task_id)
                               .where(HumanTask.instance_id.in_(ids))
                               .order_by(HumanTask.instance_id))
        return [tuple(row) for row in rows]


def rival_claims_first(platform, task_id: str, seen: list):
    """An intent guard (it runs after the workflow has run, before anything is written) that,
    the first time only, commits another user's claim of `task_id` from a session of its own,
    and notes whether the command's own connection had a transaction open at that point."""
    def guard(session, _business_key, _intents, _actor):
        driver = session.connection().connection.driver_connection
        seen.append(driver.info.transaction_status)
        if len(seen) == 1:
            with incidents.transaction(platform.sessions) as other:
                platform.runtime.claim(other, task_id,
                                       Actor("customer_service_2", "staff", "customer_service"))
    return guard


def test_a_command_that_loses_the_race_runs_again_on_the_fresh_rows(auth, platform, reviews):
    instance_id, task_id = reviews[0]
    seen = []
    platform.runtime.intent_guards.append(rival_claims_first(platform, task_id, seen))
    answer = auth.as_(CLERK).post(f"/api/tasks/{task_id}/complete",
                                  json={"data": {"approved": False}})
    # Run again after the rival's claim, the completion is refused for what it now is.
    assert answer.status_code == 409, answer.get_json()
    assert error_of(answer)["message"] == "task is claimed by customer_service_2"
    assert seen == [TransactionStatus.IDLE]          # computed outside any transaction
    kinds = [e["kind"] for e in auth.as_("admin").get(
        f"/api/instances/{instance_id}/history").get_json()["items"]]
    assert kinds == ["started", "task_claimed"]      # the lost write left nothing


def test_a_lost_race_that_is_still_allowed_lands_after_the_rival(auth, platform, reviews):
    instance_id, task_id = reviews[1]
    seen = []
    platform.runtime.intent_guards.append(rival_claims_first(platform, task_id, seen))
    # A supervisor completes a task a clerk of theirs has claimed meanwhile.
    answer = auth.as_("cs_lead").post(f"/api/tasks/{task_id}/complete",
                                      json={"data": {"approved": False}})
    assert answer.status_code == 200, answer.get_json()
    assert seen[0] == TransactionStatus.IDLE and len(seen) == 2     # it ran twice
    kinds = [e["kind"] for e in auth.as_("admin").get(
        f"/api/instances/{instance_id}/history").get_json()["items"]]
    assert kinds[:3] == ["started", "task_claimed", "task_completed"]


def test_of_ten_claimers_over_the_api_one_wins_and_the_others_are_told_who(auth, app, platform,
                                                                            reviews):
    clerks = [f"cs_clerk_{n}" for n in range(10)]
    with platform.sessions.begin() as session:
        for name in clerks:
            users.create_user(session, name, PASSWORD, "staff", "customer_service", None,
                              method=FAST_HASH)
    headers = [auth.login(name) for name in clerks]
    for _, task_id in reviews:
        barrier = threading.Barrier(len(clerks))

        def claim(h):
            barrier.wait(timeout=30)
            return app.test_client().post(f"/api/tasks/{task_id}/claim", headers=h)

        with ThreadPoolExecutor(len(clerks)) as pool:
            answers = list(pool.map(claim, headers))
        assert sorted(a.status_code for a in answers) == [200] + [409] * 9
        holder = next(a for a in answers if a.status_code == 200).get_json()["claimed_by"]
        for refused in (a for a in answers if a.status_code == 409):
            assert error_of(refused)["message"] == f"task is already claimed by {holder}"
