"""A page's command that loses the race for its instance runs again on the fresh rows
(web.api.base.transaction raises RunAgain past the page's own refusal handling, and the app
runs the request again), as the JSON API's do: on PostgreSQL, where verbs lock nothing."""
from __future__ import annotations

import pytest

from tests.web.api.test_lost_races_postgres import rival_claims_first, start_reviews
from tests.web.pages.conftest import text_of

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url):
    return pg_url


@pytest.fixture
def review(platform, world):
    return start_reviews(platform, 1)[0]


def html_of(response) -> str:
    return response.get_data(as_text=True)


def history_kinds(auth, instance_id) -> list[str]:
    answer = auth.as_("admin").get(f"/api/instances/{instance_id}/history")
    return [e["kind"] for e in answer.get_json()["items"]]


def test_a_completion_that_lost_the_race_is_decided_again_on_the_page(browser, platform, auth,
                                                                      review):
    instance_id, task_id = review
    seen = []
    platform.runtime.intent_guards.append(rival_claims_first(platform, task_id, seen))
    done = browser("customer_service_1").post(f"/tasks/{task_id}/complete",
                                              {"approved": "false"})
    assert done.status_code == 409
    assert "customer_service_2 has claimed this task" in text_of(html_of(done))
    assert len(seen) == 1 and history_kinds(auth, instance_id) == ["started", "task_claimed"]


def test_a_supervisors_completion_lands_after_the_rivals_claim(browser, platform, auth, review):
    instance_id, task_id = review
    seen = []
    platform.runtime.intent_guards.append(rival_claims_first(platform, task_id, seen))
    done = browser("cs_lead").post(f"/tasks/{task_id}/complete", {"approved": "false"})
    assert done.status_code in (200, 302), done.get_data(as_text=True)[:500]
    assert len(seen) == 2
    assert history_kinds(auth, instance_id)[:3] == ["started", "task_claimed", "task_completed"]
