"""A supervisor's page for one request (issue 19, item 5): suspend and resume with a reason,
cancel only after confirming, reassign one task; staff have no such page."""
from __future__ import annotations

from tests.web.pages.conftest import select, texts


def html_of(response) -> str:
    return response.get_data(as_text=True)


def status_of(html: str) -> str:
    return {dd["attrs"]["data-fact"]: dd["text"] for dd in select(html, "dd", "data-fact")}["status"]


def test_suspend_needs_a_reason_and_resume_brings_it_back(browser, desk):
    filed = desk.file("alice")
    lead = browser("cs_lead")
    url = f"/supervise/instances/{filed['instance_id']}"
    assert filed["number"] in texts(html_of(lead.get(url)), "h1")[0]
    refused = lead.post(f"{url}/suspend", {"reason": " "})
    assert refused.status_code == 422
    assert texts(html_of(refused), "div", "role", "alert") == [
        "Say why (the reason is kept in the request's history)."]
    assert status_of(html_of(refused)) == "Running"

    suspended = html_of(lead.post(f"{url}/suspend", {"reason": "customer on holiday"}))
    assert status_of(suspended) == "Suspended"
    assert "customer on holiday" in texts(suspended, "ol", "class", "case-history")[0]
    assert status_of(html_of(lead.post(f"{url}/resume", {"reason": "back"}))) == "Running"


def test_cancel_asks_first_and_changes_nothing_until_confirmed(browser, desk):
    filed = desk.file("alice")
    lead = browser("cs_lead")
    url = f"/supervise/instances/{filed['instance_id']}"
    lead.get(url)
    asked = html_of(lead.post(f"{url}/cancel", {"reason": "duplicate of another request"}))
    [dialog] = select(asked, "section", "role", "alertdialog")
    assert "This cannot be undone. Reason: duplicate of another request" in dialog["text"]
    assert status_of(asked) == "Running" and desk.task_of(filed["number"])
    done = html_of(lead.post(f"{url}/cancel", {"reason": "duplicate of another request",
                                               "confirm": "yes"}))
    assert texts(done, "div", "role", "status") == ["The request is cancelled."]
    assert desk.request(filed["number"])["status"] == "cancelled"


def test_one_task_is_reassigned_from_the_requests_page(browser, desk):
    filed = desk.file("alice")
    task = desk.task_of(filed["number"])
    lead = browser("cs_lead")
    lead.get(f"/supervise/instances/{filed['instance_id']}")
    done = lead.post(f"/supervise/tasks/{task['task_id']}/reassign",
                     {"assignee": "customer_service_2", "instance_id": filed["instance_id"]})
    assert done.status_code == 200
    assert desk.task_of(filed["number"])["claimed_by"] == "customer_service_2"
    refused = lead.post(f"/supervise/tasks/{task['task_id']}/reassign",
                        {"assignee": "alice", "instance_id": filed["instance_id"]})
    assert refused.status_code == 422
    assert desk.task_of(filed["number"])["claimed_by"] == "customer_service_2"


def test_staff_have_no_supervisors_page_and_the_pane_links_it_for_supervisors(browser, desk):
    filed = desk.file("alice")
    task = desk.task_of(filed["number"])
    clerk = browser("customer_service_1")
    assert clerk.get(f"/supervise/instances/{filed['instance_id']}").status_code == 403
    assert select(html_of(clerk.get(f"/tasks/{task['task_id']}")), "a", "class", "supervise-link") == []
    [link] = select(html_of(browser("cs_lead").get(f"/tasks/{task['task_id']}")), "a", "class",
                    "supervise-link")
    assert link["attrs"]["href"] == f"/supervise/instances/{filed['instance_id']}"


# ------------------------------------------------------------------ filing for a caller

def test_customer_service_files_a_request_for_a_caller(browser, desk):
    clerk = browser("customer_service_1")
    html = html_of(clerk.get("/requests/new", query_string={"customer_id": "C001"}))
    assert {i["attrs"]["value"] for i in select(html, "input", "name", "order_id")} == {
        "O-1001", "O-1003", "O-1004"}
    done = clerk.post("/requests/new", {"customer_id": "C001", "order_id": "O-1004",
                                        "type": "return_refund", "sku": "HAT",
                                        "reason": "the hat is too small (phone call)"})
    assert done.status_code == 200
    [said] = texts(html_of(done), "div", "role", "status")
    number = said.split()[1]
    filed = desk.request(number)
    assert filed["customer_id"] == "C001" and filed["order_id"] == "O-1004"
    assert [(i["sku"], i["quantity"]) for i in filed["items"]] == [("HAT", 1)]
    assert filed["reason"] == "the hat is too small (phone call)"


def test_a_filing_refused_keeps_what_was_typed_and_names_the_field(browser, desk):
    clerk = browser("customer_service_1")
    clerk.get("/requests/new", query_string={"customer_id": "C001"})
    refused = clerk.post("/requests/new", {"customer_id": "C001", "order_id": "O-1001",
                                           "type": "teleport", "reason": "lost in transit"})
    assert refused.status_code == 422
    [said] = texts(html_of(refused), "div", "role", "alert")
    assert said.endswith("(type)")
    assert texts(html_of(refused), "textarea", "name", "reason") == ["lost in transit"]


def test_only_customer_service_files_for_callers(browser, world):
    assert browser("finance_1").get("/requests/new").status_code == 403
    assert browser("auditor").get("/requests/new").status_code == 403
