"""The case next to the form (issue 19, item 1): task rows that tell cases apart (customer,
amount, type, category, reason, age, time left or overdue by), and the task pane's case column
(the order's paid date, warranty, address and items, the customer's other requests, the latest
comments and steps) beside the form, on the test bundle."""
from __future__ import annotations

from tests.web.pages.conftest import advance, select, texts


def html_of(response) -> str:
    return response.get_data(as_text=True)


def row_of(html: str, task_id: str) -> dict:
    [row] = [r for r in select(html, "li", "class", "task-row")
             if r["attrs"]["data-task-id"] == task_id]
    return row


def facts(html: str) -> dict[str, str]:
    """The case column's facts: {data-fact: text}."""
    return {dd["attrs"]["data-fact"]: dd["text"] for dd in select(html, "dd", "data-fact")}


def test_a_row_names_the_customer_amount_type_reason_and_time_left(browser, desk):
    filed = desk.file("alice", order_id="O-1001", type="return_refund",
                      reason="The screen flickers whenever the phone gets warm, " * 3)
    task = desk.task_of(filed["number"])
    page = browser("customer_service_1")
    row = row_of(html_of(page.get("/inbox")), task["task_id"])
    [customer] = texts(row_html(page, task), "span", "class", "customer")
    assert customer == "alice"
    assert texts(row_html(page, task), "span", "class", "amount") == ["CN¥299.00"]
    assert texts(row_html(page, task), "span", "class", "kind") == ["Return / refund · Electronics"]
    [reason] = texts(row_html(page, task), "div", "class", "reason")
    assert reason.startswith("The screen flickers") and reason.endswith("…") and len(reason) <= 80
    assert "waiting 0 min" in row["text"] and " left" in row["text"]
    assert filed["number"] in row["text"]

    advance(days=30)
    page = browser("customer_service_1")        # a sign-in lasts 12 hours
    row = row_of(html_of(page.get("/inbox/list", fetch=True)), task["task_id"])
    [due] = texts(row_html(page, task, fetch=True), "span", "class", "due")
    assert due.startswith("overdue by ") and "waiting 30 d 0 h" in row["text"]


def row_html(page, task, fetch=False) -> str:
    """The HTML of one task's row in the page's list."""
    html = html_of(page.get("/inbox/list" if fetch else "/inbox", fetch=fetch))
    start = html.index(f'data-task-id="{task["task_id"]}"')
    return html[html.rindex("<li", 0, start):html.index("</li>", start)]


def test_the_pane_shows_the_order_and_the_customers_other_requests_beside_the_form(browser, desk):
    first = desk.file("alice", order_id="O-1001", type="return_refund", reason="too small")
    second = desk.file("alice", order_id="O-1003", type="repair", reason="broken lid")
    desk.file("bob", order_id="O-1002", type="complaint", reason="late")
    task = desk.task_of(first["number"])
    html = html_of(browser("customer_service_1").get(f"/tasks/{task['task_id']}"))

    [workbench] = select(html, "div", "class", "workbench")
    assert "task-form" in html[html.index('class="workbench"'):html.index('class="case"')]
    shown = facts(html)
    assert shown["customer"] == "alice (C001)"
    assert shown["amount"] == "CN¥299.00" and shown["reason"] == "too small"
    assert shown["address"] == "Shanghai"
    assert shown["warranty"].endswith("in warranty")
    assert shown["items"] == "item SKU-O-1001 × 1 (1 in this request)"
    assert "·" in shown["paid"] and shown["paid"].startswith("299.00 CNY")
    [others] = texts(html, "ul", "class", "other-requests")
    assert second["number"] in others and first["number"] not in others
    assert "Repair" in others
    assert "bob" not in others and "late" not in others


def test_the_case_column_lists_the_latest_comments_and_steps(browser, desk):
    filed = desk.file("alice", order_id="O-1001", type="return_refund")
    task = desk.task_of(filed["number"])
    page = browser("customer_service_1")
    page.get(f"/tasks/{task['task_id']}")
    for text in ("first call", "second call", "third call", "fourth call"):
        assert page.post(f"/tasks/{task['task_id']}/comments", {"body": text},
                         fetch=True).status_code == 200
    html = html_of(page.get(f"/tasks/{task['task_id']}"))
    [latest] = select(html, "ul", "class", "case-comments")
    assert [li["text"].split(" ", 1)[0] for li in select(
        html[html.index('class="case-comments"'):], "li")][:3] == ["customer_service_1"] * 3
    assert "fourth call" in latest["text"] and "second call" in latest["text"]
    assert "first call" not in latest["text"]
    [steps] = texts(html, "ol", "class", "case-history")
    assert "Comment added" in steps and "customer_service_1" in steps


def test_finance_sees_only_the_other_requests_it_may_read(browser, desk):
    """Staff outside customer service read only requests with work of theirs: the case column
    lists no request of the customer that finance has nothing to do with."""
    desk.file("alice", order_id="O-1001", type="return_refund")
    other = desk.file("alice", order_id="O-1003", type="repair")
    repair = desk.task_of(other["number"])
    html = html_of(browser("repair_1").get(f"/tasks/{repair['task_id']}"))
    assert texts(html, "ul", "class", "other-requests") == []
    assert "None you can see." in texts(html, "p", "class", "muted")
