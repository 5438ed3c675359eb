"""Working beside colleagues (issue 19, items 2 and 3): the top bar's search, who else has a
task open ("customer_service_2 is working on this"), and a department's rule that a task is
claimed before it is completed, set by its supervisors on the overdue board."""
from __future__ import annotations

from tests.web.pages.conftest import advance, select, texts


def html_of(response) -> str:
    return response.get_data(as_text=True)


# ------------------------------------------------------------------ search

def test_the_top_bar_searches_requests_and_links_their_open_tasks(browser, desk):
    filed = desk.file("alice", order_id="O-1001")
    task = desk.task_of(filed["number"])
    page = browser("customer_service_1")
    assert select(html_of(page.get("/inbox")), "form", "class", "topsearch")
    html = html_of(page.get("/search", query_string={"q": "O-1001"}))
    [row] = select(html, "tr", "data-number")
    assert row["attrs"]["data-number"] == filed["number"]
    assert "order" in row["text"] and "Review request" in row["text"]
    [link] = [a for a in select(html, "a") if a["attrs"]["href"].startswith("/inbox?task=")]
    assert link["attrs"]["href"] == f"/inbox?task={task['task_id']}"


def test_a_search_with_nothing_found_says_what_to_type(browser, desk):
    html = html_of(browser("customer_service_1").get("/search", query_string={"q": "O-404"}))
    assert select(html, "tr", "data-number") == []
    assert any(p.startswith("Nothing found.") for p in texts(html, "p"))


def test_an_overlong_search_is_422_naming_the_limit(browser, world):
    response = browser("customer_service_1").get("/search", query_string={"q": "x" * 101})
    assert response.status_code == 422
    assert texts(html_of(response), "div", "role", "alert") == ["A search is 1 to 100 characters."]


def test_process_owners_have_no_search(browser, world):
    page = browser("owner")
    assert page.get("/search", query_string={"q": "C001"}).status_code == 403
    assert select(html_of(page.get("/processes")), "form", "class", "topsearch") == []


# ------------------------------------------------------------------ presence

def test_a_colleague_with_the_task_open_is_shown_until_they_leave(browser, desk):
    task = desk.task_of(desk.file("alice")["number"])
    url = f"/tasks/{task['task_id']}"
    mine, theirs = browser("customer_service_1"), browser("customer_service_2")
    theirs.get(url)
    assert theirs.post(f"{url}/presence", fetch=True).get_json() == {"others": [], "message": ""}
    seen = mine.post(f"{url}/presence", fetch=True).get_json()
    assert seen == {"others": ["customer_service_2"],
                    "message": "customer_service_2 is working on this"}
    assert texts(html_of(mine.get(url)), "span", "class", "presence") == [
        "customer_service_2 is working on this"]

    advance(seconds=61)                       # their pane stopped saying so
    assert mine.post(f"{url}/presence", fetch=True).get_json()["others"] == []
    theirs.post(f"{url}/presence", fetch=True)
    assert theirs.post(f"{url}/presence", {"left": "1"}, fetch=True).status_code == 200
    assert mine.post(f"{url}/presence", fetch=True).get_json()["others"] == []


def test_presence_is_only_for_those_who_may_see_the_task(browser, desk):
    task = desk.task_of(desk.file("alice")["number"])
    page = browser("finance_1")
    page.get("/inbox")
    assert page.post(f"/tasks/{task['task_id']}/presence", fetch=True).status_code == 403


# ------------------------------------------------------------------ claim before completing

def test_a_supervisor_requires_a_claim_and_an_unclaimed_completion_is_refused(browser, desk):
    task = desk.task_of(desk.file("alice")["number"])
    lead = browser("cs_lead")
    lead.get("/overdue")
    changed = lead.post("/departments/customer_service/settings", {"claim_required": "true"})
    assert changed.status_code == 200
    [row] = [r for r in select(html_of(changed), "tr", "data-department")
             if r["attrs"]["data-department"] == "customer_service"]
    assert "required" in row["text"] and "cs_lead" in row["text"]

    clerk = browser("customer_service_1")
    pane = html_of(clerk.get(f"/tasks/{task['task_id']}"))
    assert texts(pane, "p", "class", "claim-first") == [
        "This department asks that a task be claimed before it is completed."]
    refused = clerk.post(f"/tasks/{task['task_id']}/complete", {"approved": "true"}, fetch=True)
    assert refused.status_code == 409 and refused.headers["X-Keep-Input"] == "1"
    assert texts(html_of(refused), "div", "role", "alert")[0].startswith(
        "Your department asks that a task be claimed before it is completed.")
    assert desk.task_of(task["request_number"])["task_id"] == task["task_id"]    # still open

    clerk.post(f"/tasks/{task['task_id']}/claim", fetch=True)
    assert clerk.post(f"/tasks/{task['task_id']}/complete", {"approved": "true"},
                      fetch=True).status_code == 200


def test_only_the_departments_supervisors_change_its_rule(browser, world):
    other = browser("ops_head")              # management oversees every department
    other.get("/overdue")
    assert other.post("/departments/finance/settings",
                      {"claim_required": "true"}).status_code == 200
    lead = browser("cs_lead")                # customer service's supervisors: not finance
    lead.get("/overdue")
    refused = lead.post("/departments/finance/settings", {"claim_required": "false"})
    assert refused.status_code == 403
    assert [r["attrs"]["data-department"] for r in select(html_of(lead.get("/overdue")), "tr",
                                                          "data-department")] == ["cs_supervisor", "customer_service"]
    assert browser("customer_service_1").post("/departments/customer_service/settings",
                                              {"claim_required": "true"}).status_code == 403
