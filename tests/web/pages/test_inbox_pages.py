"""The department inbox (web/pages/inbox.py): the task list, the task pane and page, and the
actions on a task (claim, release, complete, comment, attach), as pages and as the fragments
the page's script asks for with `X-Requested-With: fetch`."""
from __future__ import annotations

import re
from html import unescape

import pytest
from werkzeug.datastructures import MultiDict

from tests.web.pages.conftest import advance, select, text_of, texts


def html_of(response) -> str:
    return response.get_data(as_text=True)


def rows_of(html: str) -> list[dict]:
    """The task list's rows: {task_id, text (name, badge, number, assignee...), selected}."""
    result = []
    for row in select(html, "li", "class", "task-row"):
        result.append({"task_id": row["attrs"]["data-task-id"], "text": row["text"],
                       "selected": row["attrs"].get("aria-current") == "true"})
    return result


def version_of(html: str) -> str:
    [field] = select(html, "input", "name", "version")
    return field["attrs"]["value"]


def field_errors(html: str) -> dict[str, str]:
    """{field name: its error message} of a task form (fields with an error only)."""
    errors = {}
    chunks = re.split(r'(?=<div class="field[^"]*" data-field=")', html)
    for chunk in chunks[1:]:
        name = re.match(r'<div class="field[^"]*" data-field="([^"]+)"', chunk).group(1)
        found = re.search(r'<div class="field-error" role="alert"[^>]*>(.*?)</div>', chunk)
        if found:
            errors[name] = unescape(found.group(1))
    return errors


@pytest.fixture
def filed(desk):
    """A return (review, customer_service), a repair (diagnose, repair) and a complaint
    (respond, customer_service); {bpmn id: the task as the API lists it}."""
    numbers = {"review": desk.file("alice", order_id="O-1001", type="return_refund")["number"],
               "diagnose": desk.file("alice", order_id="O-1003", type="repair")["number"],
               "respond": desk.file("bob", order_id="O-1002", type="complaint")["number"]}
    return {bpmn_id: desk.task_of(number) for bpmn_id, number in numbers.items()}


# ------------------------------------------------------------------ the list

def test_inbox_lists_the_departments_tasks_and_not_another_departments(browser, filed):
    html = html_of(browser("customer_service_1").get("/inbox"))
    rows = rows_of(html)
    assert [r["task_id"] for r in rows] == [filed["respond"]["task_id"], filed["review"]["task_id"]]
    assert "Respond to complaint" in rows[0]["text"] and filed["respond"]["request_number"] in rows[0]["text"]
    assert filed["diagnose"]["request_number"] not in html
    assert texts(html, "h2")[:2] == ["Tasks", "2 tasks"]

    repair = rows_of(html_of(browser("repair_1").get("/inbox")))
    assert [r["task_id"] for r in repair] == [filed["diagnose"]["task_id"]]


def test_inbox_opens_the_first_task_or_the_one_asked_for(browser, filed):
    page = browser("customer_service_1")
    first = html_of(page.get("/inbox"))
    [pane] = select(first, "article", "class", "task-detail")
    assert pane["attrs"]["data-task-id"] == filed["respond"]["task_id"]
    assert [r["selected"] for r in rows_of(first)] == [True, False]

    chosen = html_of(page.get(f"/inbox?task={filed['review']['task_id']}"))
    [pane] = select(chosen, "article", "class", "task-detail")
    assert pane["attrs"]["data-task-id"] == filed["review"]["task_id"]
    assert [r["selected"] for r in rows_of(chosen)] == [False, True]


def test_inbox_with_another_departments_task_selected_is_403(browser, filed):
    response = browser("customer_service_1").get(f"/inbox?task={filed['diagnose']['task_id']}")
    assert response.status_code == 403
    assert "may not see tasks of repair" in text_of(html_of(response))


def test_an_empty_inbox_says_so(browser, filed):
    html = html_of(browser("finance_1").get("/inbox"))
    assert rows_of(html) == []
    assert "Nothing to do here. Well done!" in text_of(html)
    assert "No task selected." in text_of(html)


def test_inbox_filters_and_sorting(browser, filed):
    page = browser("customer_service_1")
    page.post(f"/tasks/{filed['review']['task_id']}/claim")
    mine = rows_of(html_of(page.get("/inbox?assignee=me")))
    assert [r["task_id"] for r in mine] == [filed["review"]["task_id"]]
    nobody = rows_of(html_of(page.get("/inbox?assignee=unassigned")))
    assert [r["task_id"] for r in nobody] == [filed["respond"]["task_id"]]
    oldest = rows_of(html_of(page.get("/inbox?sort=age")))
    assert [r["task_id"] for r in oldest] == [filed["review"]["task_id"], filed["respond"]["task_id"]]
    # Empty filter values (what the filter form sends for "Any") are ignored.
    assert len(rows_of(html_of(page.get("/inbox?assignee=&priority=&overdue=&sort=due")))) == 2


def test_inbox_refuses_bad_filters(browser, filed):
    page = browser("customer_service_1")
    bad_sort = page.get("/inbox?sort=random")
    assert bad_sort.status_code == 422
    assert "sort must be one of due, priority, age" in text_of(html_of(bad_sort))
    other = page.get("/inbox?department=finance")
    assert other.status_code == 403


def test_a_supervisor_sees_the_departments_they_oversee(browser, filed):
    html = html_of(browser("cs_lead").get("/inbox"))
    assert {r["task_id"] for r in rows_of(html)} == {filed["review"]["task_id"], filed["respond"]["task_id"]}
    start = html.index('<select name="department">')
    options = select(html[start:html.index("</select>", start)], "option")
    assert [o["attrs"]["value"] for o in options] == ["", "customer_service", "cs_supervisor"]
    everyone = rows_of(html_of(browser("ops_head").get("/inbox")))
    assert len(everyone) == 3
    repair_only = rows_of(html_of(browser("ops_head").get("/inbox?department=repair")))
    assert [r["task_id"] for r in repair_only] == [filed["diagnose"]["task_id"]]


def test_sla_badges_follow_the_clock(browser, filed):
    page = browser("customer_service_1")
    badges = lambda: texts(html_of(page.get("/inbox/list")), "span", "class", "badge")  # noqa: E731
    assert badges() == ["On time", "On time"]
    advance(hours=1, minutes=40)                  # 80% of the complaint's PT2H
    assert badges() == ["At risk", "On time"]
    advance(minutes=20)
    assert badges() == ["Breached", "On time"]
    overdue = rows_of(html_of(page.get("/inbox?overdue=true")))
    assert [r["task_id"] for r in overdue] == [filed["respond"]["task_id"]]


def test_list_fragment_is_just_the_list(browser, filed):
    page = browser("customer_service_1")
    response = page.get(f"/inbox/list?assignee=unassigned&task={filed['review']['task_id']}")
    html = html_of(response)
    assert response.status_code == 200 and "<html" not in html
    assert texts(html, "h2") == ["2 tasks"]
    assert [r["selected"] for r in rows_of(html)] == [False, True]
    assert select(html, "article") == []               # no task pane in the fragment


def test_list_paging(browser, desk):
    for order_id in ("O-1001", "O-1003", "O-1004"):     # one open return per order item
        desk.file(order_id=order_id)
    page = browser("customer_service_1")
    html = html_of(page.get("/inbox?per_page=2"))
    assert len(rows_of(html)) == 2 and "Page 1 of 2" in text_of(html)
    second = html_of(page.get("/inbox?per_page=2&page=2"))
    assert len(rows_of(second)) == 1 and "Page 2 of 2" in text_of(second)


# ------------------------------------------------------------------ one task

def test_task_page_shows_the_form_the_request_and_the_history(browser, filed):
    task = filed["review"]
    response = browser("customer_service_1").get(f"/tasks/{task['task_id']}")
    html = html_of(response)
    assert response.status_code == 200 and html.startswith("<!doctype html>")
    assert texts(html, "h2")[0] == "Review request"
    assert [f["attrs"]["data-field"] for f in select(html, "div", "data-field")] == ["approved", "note"]
    assert [i["attrs"]["value"] for i in select(html, "input", "name", "approved")] == ["true", "false"]
    page_text = text_of(html)
    assert task["request_number"] in page_text and "does not fit" in page_text     # the reason
    assert "Claim" in texts(html, "button")
    history = select(html, "table", "class", "history")
    assert history and "Started" in history[0]["text"] and "alice" in history[0]["text"]
    assert select(html, "script", "class", "diagram-data")


def test_task_fragment_is_the_pane_alone(browser, filed):
    task = filed["review"]
    response = browser("customer_service_1").get(f"/tasks/{task['task_id']}", fetch=True)
    html = html_of(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<article class="task-detail"') and "<html" not in html
    assert texts(html, "h2")[0] == "Review request"


def test_unknown_task_is_404_as_page_and_as_fragment(browser, filed):
    page = browser("customer_service_1")
    whole = page.get("/tasks/no-such-task")
    assert whole.status_code == 404 and texts(html_of(whole), "h1") == ["Not found"]
    fragment = page.get("/tasks/no-such-task", fetch=True)
    assert fragment.status_code == 404
    [alert] = select(html_of(fragment), "div", "role", "alert")
    assert alert["attrs"]["data-status"] == "404"
    assert alert["text"].startswith("What you asked for does not exist")    # said by its kind
    assert "task no-such-task does not exist" in alert["text"]              # the detail


def test_another_departments_task_is_403(browser, filed):
    page = browser("finance_1")
    task_id = filed["review"]["task_id"]
    assert page.get(f"/tasks/{task_id}").status_code == 403
    for action in ("claim", "release", "complete", "comments"):
        assert page.post(f"/tasks/{task_id}/{action}", {"body": "x"}).status_code == 403, action


# ------------------------------------------------------------------ claim and release

def test_claim_and_release(browser, desk, filed):
    task = filed["review"]
    page = browser("customer_service_1")
    claimed = page.post(f"/tasks/{task['task_id']}/claim")
    html = html_of(claimed)
    assert claimed.status_code == 200
    assert texts(html, "div", "role", "status") == ["You claimed the task."]
    assert texts(html, "span", "class", "assignee") == ["claimed by customer_service_1"]
    assert "Hand back" in texts(html, "button")
    assert desk.task_of(task["request_number"])["claimed_by"] == "customer_service_1"
    listed = rows_of(html_of(page.get("/inbox?assignee=me")))
    assert [r["task_id"] for r in listed] == [task["task_id"]]

    released = page.post(f"/tasks/{task['task_id']}/release", fetch=True)
    assert released.status_code == 200 and released.headers["X-Refresh-List"] == "1"
    assert texts(html_of(released), "div", "role", "status") == ["The task is back in the department's queue."]
    assert desk.task_of(task["request_number"])["claimed_by"] is None


def test_claim_as_fragment_refreshes_the_list(browser, filed):
    response = browser("customer_service_1").post(f"/tasks/{filed['review']['task_id']}/claim",
                                                  fetch=True)
    html = html_of(response)
    assert response.status_code == 200 and response.headers["X-Refresh-List"] == "1"
    assert "<html" not in html and texts(html, "div", "role", "status") == ["You claimed the task."]


def test_a_claimed_task_cannot_be_claimed_or_released_by_a_colleague(browser, desk, filed):
    task_id = filed["review"]["task_id"]
    browser("customer_service_1").post(f"/tasks/{task_id}/claim")
    colleague = browser("customer_service_2")
    pane = html_of(colleague.get(f"/tasks/{task_id}"))
    assert "Claim" not in texts(pane, "button") and "Hand back" not in texts(pane, "button")
    taken = colleague.post(f"/tasks/{task_id}/claim")
    assert taken.status_code == 409
    [said] = texts(html_of(taken), "div", "role", "alert")
    assert said.startswith("customer_service_1 has claimed this task. Your input is kept")
    refused = colleague.post(f"/tasks/{task_id}/release")
    assert refused.status_code == 403
    # The form is still shown to the colleague, but completing it is refused.
    assert "Complete task" in texts(pane, "button")
    completed = colleague.post(f"/tasks/{task_id}/complete", {"approved": "true"})
    assert completed.status_code == 409
    assert "customer_service_1 has claimed this task" in text_of(html_of(completed))
    assert desk.task_of(filed["review"]["request_number"])["claimed_by"] == "customer_service_1"


def test_a_supervisor_may_hand_back_a_colleagues_task(browser, desk, filed):
    task_id = filed["review"]["task_id"]
    browser("customer_service_1").post(f"/tasks/{task_id}/claim")
    lead = browser("cs_lead")
    assert "Hand back" in texts(html_of(lead.get(f"/tasks/{task_id}")), "button")
    released = lead.post(f"/tasks/{task_id}/release")
    assert released.status_code == 200
    assert desk.task_of(filed["review"]["request_number"])["claimed_by"] is None


def test_releasing_an_unclaimed_task_is_409(browser, filed):
    response = browser("customer_service_1").post(f"/tasks/{filed['review']['task_id']}/release")
    assert response.status_code == 409
    assert texts(html_of(response), "div", "role", "alert") == [
        "Nobody has claimed this task, so there is nothing to hand back."]


def test_actions_need_the_csrf_token(browser, desk, filed):
    task = filed["review"]
    page = browser("customer_service_1")
    assert page.post(f"/tasks/{task['task_id']}/claim", csrf=False).status_code == 400
    assert page.post(f"/tasks/{task['task_id']}/claim", csrf="forged").status_code == 400
    assert desk.task_of(task["request_number"])["claimed_by"] is None
    header = page.client.post(f"/tasks/{task['task_id']}/claim",
                              headers={"X-CSRF-Token": page.token, "X-Requested-With": "fetch"})
    assert header.status_code == 200
    assert desk.task_of(task["request_number"])["claimed_by"] == "customer_service_1"


# ------------------------------------------------------------------ complete

def test_completing_with_valid_data_moves_the_request_on(browser, desk, filed):
    task = filed["review"]
    page = browser("customer_service_1")
    page.post(f"/tasks/{task['task_id']}/claim")
    version = version_of(html_of(page.get(f"/tasks/{task['task_id']}")))
    done = page.post(f"/tasks/{task['task_id']}/complete",
                     {"approved": "true", "note": "photos look fine", "version": version})
    html = html_of(done)
    assert done.status_code == 200
    assert texts(html, "div", "role", "status") == ["Task completed. The request has moved on."]
    assert select(html, "a", "href", "/inbox")
    assert desk.request(task["request_number"])["awaiting"] == ["shipped"]
    assert rows_of(html_of(page.get("/inbox?assignee=me"))) == []

    # The completed task stays readable, with the data it was completed with.
    after = html_of(page.get(f"/tasks/{task['task_id']}"))
    assert "Completed by customer_service_1" in text_of(after)
    assert "photos look fine" in text_of(after)
    assert select(after, "form", "class", "task-form") == []


def test_completing_as_fragment_answers_done_and_refreshes_the_list(browser, desk, filed):
    task = filed["respond"]
    page = browser("customer_service_1")
    version = version_of(html_of(page.get(f"/tasks/{task['task_id']}", fetch=True)))
    done = page.post(f"/tasks/{task['task_id']}/complete",
                     {"resolution": "refunded the shipping", "version": version}, fetch=True)
    html = html_of(done)
    assert done.status_code == 200 and done.headers["X-Refresh-List"] == "1"
    assert "<html" not in html
    assert texts(html, "div", "role", "status") == ["Task completed. The request has moved on."]
    assert desk.request(task["request_number"])["awaiting"] == ["feedback"]
    assert task["task_id"] not in {t["task_id"] for t in desk.tasks()}


def test_rejecting_a_return_resolves_it(browser, desk, filed):
    task = filed["review"]
    browser("customer_service_1").post(f"/tasks/{task['task_id']}/complete", {"approved": "false"})
    assert desk.request(task["request_number"])["awaiting"] == ["rating"]


def test_a_missing_required_field_is_422_and_named(browser, desk, filed):
    task = filed["review"]
    page = browser("customer_service_1")
    response = page.post(f"/tasks/{task['task_id']}/complete", {"note": "forgot to choose"})
    html = html_of(response)
    assert response.status_code == 422
    assert texts(html, "div", "role", "alert")[0] == "Please correct the marked fields."
    assert field_errors(html) == {"approved": "This field is required."}
    # What was typed is kept.
    assert texts(html, "textarea", "name", "note") == ["forgot to choose"]
    assert task["task_id"] in {t["task_id"] for t in desk.tasks()}     # still open


@pytest.mark.parametrize("data, field, message", [
    ({"approved": "true", "note": "x" * 501}, "note", "This is too long."),
    ({"approved": "maybe"}, "approved", "Choose yes or no."),
])
def test_invalid_review_data_is_422_naming_the_field(browser, filed, data, field, message):
    response = browser("customer_service_1").post(
        f"/tasks/{filed['review']['task_id']}/complete", data)
    assert response.status_code == 422
    assert field_errors(html_of(response)) == {field: message}


@pytest.mark.parametrize("quote, message", [("abc", "Enter a number."),
                                            ("-5", "Must be at least 0.")])
def test_invalid_numbers_are_422_naming_the_field(browser, filed, quote, message):
    response = browser("repair_1").post(f"/tasks/{filed['diagnose']['task_id']}/complete",
                                        {"quote": quote, "diagnosis": "cracked"}, fetch=True)
    html = html_of(response)
    assert response.status_code == 422 and "<html" not in html
    assert field_errors(html) == {"quote": message}
    [quote_input] = select(html, "input", "name", "quote")
    assert quote_input["attrs"]["value"] == quote and quote_input["attrs"]["type"] == "number"


def test_a_stale_version_is_409(browser, filed):
    task = filed["review"]
    page = browser("customer_service_1")
    version = version_of(html_of(page.get(f"/tasks/{task['task_id']}")))
    page.post(f"/tasks/{task['task_id']}/claim")              # the instance's version moves on
    response = page.post(f"/tasks/{task['task_id']}/complete",
                         {"approved": "true", "note": "checked twice", "version": version})
    assert response.status_code == 409
    [said] = texts(html_of(response), "div", "role", "alert")
    assert said.startswith("The request changed while you were working on it. Your input is kept")
    assert texts(html_of(response), "textarea", "name", "note") == ["checked twice"]


def test_completing_twice_is_409(browser, filed):
    task_id = filed["review"]["task_id"]
    page = browser("customer_service_1")
    assert page.post(f"/tasks/{task_id}/complete", {"approved": "true"}).status_code == 200
    again = page.post(f"/tasks/{task_id}/complete", {"approved": "true"})
    assert again.status_code == 409
    assert "customer_service_1 has already completed this task" in text_of(html_of(again))


# ------------------------------------------------------------------ comments and attachments

def test_comments_are_added_and_shown(browser, filed):
    task_id = filed["review"]["task_id"]
    page = browser("customer_service_1")
    added = page.post(f"/tasks/{task_id}/comments", {"body": "  called the customer  "}, fetch=True)
    html = html_of(added)
    assert added.status_code == 200 and added.headers["X-Refresh-List"] == "1"
    assert texts(html, "div", "role", "status") == ["Comment added."]
    [comment] = texts(html, "ul", "class", "comments")
    assert comment.startswith("customer_service_1") and comment.endswith("called the customer")
    assert "Comments (1)" in text_of(html)
    seen = html_of(browser("cs_lead").get(f"/tasks/{task_id}"))
    assert "called the customer" in texts(seen, "ul", "class", "comments")[0]


@pytest.mark.parametrize("body", ["", "   ", "x" * 5001])
def test_an_empty_or_long_comment_is_422(browser, filed, body):
    task_id = filed["review"]["task_id"]
    page = browser("customer_service_1")
    response = page.post(f"/tasks/{task_id}/comments", {"body": body})
    assert response.status_code == 422
    assert "A comment is 1 to 5000 characters." in text_of(html_of(response))
    assert texts(html_of(page.get(f"/tasks/{task_id}")), "ul", "class", "comments") == ["No comments yet."]


def test_attachments_are_uploaded_listed_and_downloaded(browser, filed):
    task_id = filed["review"]["task_id"]
    page = browser("customer_service_1")
    uploaded = page.upload(f"/tasks/{task_id}/attachments", [("破损 photo.jpg", b"\xff\xd8jpeg")],
                           field="file", fetch=True)
    html = html_of(uploaded)
    assert uploaded.status_code == 200 and uploaded.headers["X-Refresh-List"] == "1"
    assert texts(html, "div", "role", "status") == ["File attached."]
    [link] = [a for a in select(html, "a") if a["attrs"]["href"].startswith("/attachments/")]
    assert link["text"] == "破损 photo.jpg"
    assert "Files (1)" in text_of(html)

    download = page.get(link["attrs"]["href"])
    assert download.status_code == 200 and download.data == b"\xff\xd8jpeg"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert browser("cs_lead").get(link["attrs"]["href"]).status_code == 200
    assert browser("finance_1").get(link["attrs"]["href"]).status_code == 403
    # The page route is for workers: auditors read attachments over the JSON API only.
    assert browser("auditor").get(link["attrs"]["href"]).status_code == 403


def test_attaching_without_a_file_is_422(browser, filed):
    response = browser("customer_service_1").post(f"/tasks/{filed['review']['task_id']}/attachments")
    assert response.status_code == 422
    assert "a field named 'file'" in text_of(html_of(response))


def test_an_unknown_attachment_is_404(browser, filed):
    response = browser("customer_service_1").get("/attachments/999")
    assert response.status_code == 404 and "attachment 999 does not exist" in text_of(html_of(response))


def test_comments_and_files_stay_on_a_completed_task_without_the_forms(browser, filed):
    task_id = filed["review"]["task_id"]
    page = browser("customer_service_1")
    page.post(f"/tasks/{task_id}/comments", {"body": "checked photos"})
    page.upload(f"/tasks/{task_id}/attachments", [("photo.jpg", b"jpeg")], field="file")
    page.post(f"/tasks/{task_id}/complete", {"approved": "true"})
    html = html_of(page.get(f"/tasks/{task_id}"))
    assert "checked photos" in texts(html, "ul", "class", "comments")[0]
    assert "photo.jpg" in texts(html, "ul", "class", "attachments")[0]
    assert select(html, "form", "class", "comment-form") == []
    assert select(html, "input", "type", "file") == []


def test_the_refund_task_reaches_finance_after_the_customer_ships(browser, desk, filed):
    """Review approved in the page, the parcel shipped over the API, then finance's inbox."""
    task = filed["review"]
    browser("customer_service_1").post(f"/tasks/{task['task_id']}/complete", {"approved": "true"})
    shipped = desk.auth.as_("alice").post(f"/api/requests/{task['request_number']}/shipped",
                                          json={"tracking_no": "SF1", "carrier": "SF"})
    assert shipped.status_code == 200
    finance = browser("finance_1")
    html = html_of(finance.get("/inbox"))
    [row] = rows_of(html)
    assert "Refund" in row["text"] and task["request_number"] in row["text"]
    [field] = select(html, "div", "data-field", "refunded")
    assert field["text"].startswith("Refund sent")
    done = finance.post(f"/tasks/{row['task_id']}/complete",
                        MultiDict([("refunded", "true"), ("version", version_of(html))]))
    assert done.status_code == 200
    timeline = desk.request(task["request_number"])["timeline"]
    assert [(e["element"], e["actor"]) for e in timeline if e["event"] == "task_completed"] == [
        ("review", "customer_service_1"), ("refund", "finance_1")]
