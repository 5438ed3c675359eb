"""The live queue (issue 19, item 4): the navigation's count, the event stream that tells an open
page of new and changed tasks and of those worth a notification, and saved filters kept on the
server, one's own or shared with the department."""
from __future__ import annotations

import json

import pytest

from tests.web.pages.conftest import advance, select, texts
from web.pages import live


def html_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def quick(monkeypatch):
    """Streams that look every 10 ms and end after a few looks."""
    monkeypatch.setattr(live, "INTERVAL", 0.01)
    monkeypatch.setattr(live, "STREAM_SECONDS", 5.0)


def events(response):
    """The stream's `queue` events, read one by one as they come: a generator of dicts."""
    for chunk in response.response:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        if text.startswith("event: queue"):
            yield json.loads(text.split("data: ", 1)[1])


def test_the_navigation_counts_the_open_tasks(browser, desk):
    desk.file("alice")
    desk.file("bob", order_id="O-1002", type="complaint")
    html = html_of(browser("customer_service_1").get("/calendar"))
    assert texts(html, "span", "id", "nav-inbox-count") == ["2"]
    assert texts(html_of(browser("repair_1").get("/calendar")), "span", "id",
                 "nav-inbox-count") == ["0"]


def test_a_new_task_and_a_breach_reach_the_open_page(browser, desk, quick):
    first_filed = desk.file("alice")            # its review is due in 4 hours
    page = browser("customer_service_1")
    stream = page.client.get("/events/queue", buffered=False)
    assert stream.mimetype == "text/event-stream"
    queue = events(stream)
    first = next(queue)
    assert first == {"total": 1, "mine": 0, "breached": 0, "changed": False, "alerts": []}

    filed = desk.file("bob", order_id="O-1002", type="complaint")
    task = desk.task_of(filed["number"])
    changed = next(queue)
    assert changed["total"] == 2 and changed["changed"] is True
    alerts = [a for a in changed["alerts"] if a["kind"] == "p1"]
    assert [a["task_id"] for a in alerts] == ([task["task_id"]] if task["priority"] == 1 else [])

    advance(hours=5)
    breached = next(queue)
    assert breached["breached"] >= 1
    said = {a["request_number"]: a["text"] for a in breached["alerts"] if a["kind"] == "breached"}
    assert said[first_filed["number"]] == f"SLA breached: Review request ({first_filed['number']})"
    stream.close()


def test_the_stream_ends_when_the_sign_in_does(browser, world, quick):
    page = browser("customer_service_1")
    stream = page.client.get("/events/queue", buffered=False)
    queue = events(stream)
    assert next(queue)["total"] == 0
    advance(hours=13)                           # a sign-in lasts 12 hours
    assert list(queue) == []


def test_the_stream_is_for_task_workers_only(browser, world):
    assert browser("owner").get("/events/queue").status_code == 403
    assert browser().get("/events/queue").status_code == 204           # EventSource stops


def test_pages_beyond_the_streams_a_process_serves_are_told_to_poll(browser, world, monkeypatch):
    monkeypatch.setattr(live, "_streams", live.threading.BoundedSemaphore(1))
    live._streams.acquire()
    try:
        refused = browser("customer_service_1").get("/events/queue")
        assert html_of(refused) == f"retry: {live.FALLBACK_RETRY_MS}\n\n"
    finally:
        live._streams.release()


def test_a_server_of_one_thread_tells_every_page_to_poll(browser, world, quick):
    # gunicorn's sync worker (`aftersales serve --threads 1`): a stream would hold its one
    # thread, and it would be killed for not answering in 30 s.
    page = browser("customer_service_1")
    page.threaded = False
    refused = page.get("/events/queue")
    assert refused.status_code == 200
    assert html_of(refused) == f"retry: {live.FALLBACK_RETRY_MS}\n\n"
    page.threaded = True
    streamed = page.client.get("/events/queue", buffered=False)
    assert next(events(streamed))["total"] == 0     # the slot was not taken by the refusal
    streamed.close()


# ------------------------------------------------------------------ saved filters

def saved_of(html: str) -> dict[str, str]:
    """{filter name: its link's query} of the inbox's saved filters."""
    return {a["text"]: a["attrs"]["href"].split("?", 1)[1] for li in select(html, "li", "data-filter-id")
            for a in select(_inner(html, li["attrs"]["data-filter-id"]), "a")}


def _inner(html: str, filter_id: str) -> str:
    start = html.index(f'data-filter-id="{filter_id}"')
    return html[start:html.index("</li>", start)]


def test_a_shared_filter_is_seen_by_the_department_and_deleted_by_its_owner(browser, world):
    mine = browser("customer_service_1")
    mine.get("/inbox")
    saved = mine.post("/inbox/filters", {"name": "P1 overdue", "query": "priority=1&overdue=true&page=3&evil=1",
                                         "share": "1"})
    assert saved.status_code == 302 and saved.headers["Location"].startswith("/inbox?")
    mine.post("/inbox/filters", {"name": "Only mine", "query": "assignee=me"})
    assert saved_of(html_of(mine.get("/inbox"))) == {"Only mine": "assignee=me",
                                                      "P1 overdue": "priority=1&overdue=true"}

    colleague = browser("customer_service_2")
    html = html_of(colleague.get("/inbox"))
    assert saved_of(html) == {"P1 overdue": "priority=1&overdue=true"}
    [shared] = select(html, "li", "data-filter-id")
    assert "customer_service_1" in shared["text"]
    assert colleague.post(f"/inbox/filters/{shared['attrs']['data-filter-id']}/delete").status_code == 403
    assert saved_of(html_of(browser("finance_1").get("/inbox"))) == {}

    assert mine.post(f"/inbox/filters/{shared['attrs']['data-filter-id']}/delete").status_code == 302
    assert saved_of(html_of(colleague.get("/inbox"))) == {}


def test_a_filter_without_a_name_is_422_and_kept_nowhere(browser, world):
    page = browser("customer_service_1")
    page.get("/inbox")
    refused = page.post("/inbox/filters", {"name": " ", "query": "assignee=me"})
    assert refused.status_code == 422
    assert "Give the filter a name of 1 to 100 characters" in html_of(refused)
    assert saved_of(html_of(page.get("/inbox"))) == {}


def test_a_closed_stream_frees_its_slot_for_the_next_page(browser, world, quick, monkeypatch):
    monkeypatch.setattr(live, "_streams", live.threading.BoundedSemaphore(1))
    page = browser("customer_service_1")
    first = page.client.get("/events/queue", buffered=False)
    assert next(events(first))["total"] == 0
    first.close()                                  # the tab was closed
    second = page.client.get("/events/queue", buffered=False)
    assert next(events(second))["total"] == 0      # a stream, not "come back in 15 s"
    second.close()
