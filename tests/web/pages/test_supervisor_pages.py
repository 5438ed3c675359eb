"""The supervisors' overdue board and its bulk reassignment (web/pages/supervisor.py)."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from tests.web.pages.conftest import advance, select, text_of, texts


def board_rows(html: str, title: str) -> list[dict]:
    """The rows of one table of the board ("Breached" or "At risk"):
    {task_id, number, department, assignee}."""
    start = html.index(f"<h2>{title} (")
    end = html.find("<h2>", start + 1)
    section = html[start:end if end > 0 else len(html)]
    rows = []
    for box in select(section, "input", "name", "task_id"):
        rows.append({"task_id": box["attrs"]["value"], "number": box["attrs"]["aria-label"]})
    for row, cell in zip(rows, texts(section, "td", "class", "assignee")):
        row["assignee"] = cell
    return rows


def flash_of(html: str) -> str:
    [flash] = select(html, "div", "class", "alert")
    return flash["text"]


@pytest.fixture
def late(desk):
    """Two customer-service tasks (a return's review, a complaint's response) and a repair's
    diagnosis, all three days past their SLA; {bpmn id: the task as the API lists it}."""
    numbers = {"review": desk.file("alice", order_id="O-1001")["number"],
               "respond": desk.file("bob", order_id="O-1002", type="complaint")["number"],
               "diagnose": desk.file("alice", order_id="O-1003", type="repair")["number"]}
    advance(days=3)
    return {bpmn_id: desk.task_of(number) for bpmn_id, number in numbers.items()}


def ticked(*tasks, assignee=None) -> MultiDict:
    values = [("task_id", t["task_id"]) for t in tasks]
    if assignee is not None:
        values.append(("assignee", assignee))
    return MultiDict(values)


# ------------------------------------------------------------------ the board

def test_board_shows_the_breached_tasks_of_the_overseen_departments(browser, late):
    html = browser("cs_lead").get("/overdue").get_data(as_text=True)
    assert texts(html, "h1") == ["Overdue board"]
    assert texts(html, "div", "id", "n-breached") == ["2"]
    breached = board_rows(html, "Breached")
    assert [r["number"] for r in breached] == [late["respond"]["request_number"],
                                               late["review"]["request_number"]]      # by due time
    assert [r["assignee"] for r in breached] == ["–", "–"]
    assert late["diagnose"]["request_number"] not in html
    assert board_rows(html, "At risk") == [] and "None." in text_of(html)
    people = [o["attrs"]["value"] for o in select(html, "option")]
    assert people == ["", "cs_lead", "cs_supervisor_1", "customer_service_1", "customer_service_2"]


def test_management_sees_every_department(browser, late):
    html = browser("ops_head").get("/overdue").get_data(as_text=True)
    assert texts(html, "div", "id", "n-breached") == ["3"]
    assert {r["number"] for r in board_rows(html, "Breached")} == {
        t["request_number"] for t in late.values()}
    assert "repair_1" in [o["attrs"]["value"] for o in select(html, "option")]


def test_board_shows_tasks_at_risk(browser, desk):
    number = desk.file("bob", order_id="O-1002", type="complaint")["number"]
    advance(hours=1, minutes=45)                  # past 80% of PT2H, not yet past it
    html = browser("cs_lead").get("/overdue").get_data(as_text=True)
    assert texts(html, "div", "id", "n-breached") == ["0"]
    assert [r["number"] for r in board_rows(html, "At risk")] == [number]


def test_staff_may_not_open_the_board(browser, late):
    assert browser("customer_service_1").get("/overdue").status_code == 403
    assert browser("customer_service_1").post("/overdue/reassign",
                                              ticked(late["review"])).status_code == 403


# ------------------------------------------------------------------ reassign

def test_bulk_reassign_to_a_colleague(browser, desk, late):
    page = browser("cs_lead")
    page.get("/overdue")
    response = page.post("/overdue/reassign",
                         ticked(late["review"], late["respond"], assignee="customer_service_2"),
                         fetch=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert flash_of(html) == "2 task(s) reassigned to customer_service_2."
    assert [r["assignee"] for r in board_rows(html, "Breached")] == ["customer_service_2"] * 2
    for task in (late["review"], late["respond"]):
        assert desk.task_of(task["request_number"])["claimed_by"] == "customer_service_2"
    mine = browser("customer_service_2").get("/inbox?assignee=me").get_data(as_text=True)
    assert len(select(mine, "li", "class", "task-row")) == 2


def test_reassign_to_nobody_puts_the_tasks_back_in_the_queue(browser, desk, late):
    page = browser("cs_lead")
    page.post("/overdue/reassign", ticked(late["review"], assignee="customer_service_1"))
    response = page.post("/overdue/reassign", ticked(late["review"], assignee=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith("<!doctype html>")
    assert flash_of(html) == "1 task(s) put back in the department queue."
    assert desk.task_of(late["review"]["request_number"])["claimed_by"] is None


def test_reassign_with_nothing_ticked_is_422_and_changes_nothing(browser, desk, late):
    page = browser("cs_lead")
    response = page.post("/overdue/reassign", {"assignee": "customer_service_2"}, fetch=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert flash_of(html) == "Tick at least one task."
    assert texts(html, "div", "id", "n-breached") == ["2"]
    assert all(t["claimed_by"] is None for t in desk.tasks())


def test_reassign_is_all_or_nothing(browser, desk, late):
    """One task the supervisor may not touch: the whole batch is refused, none is moved."""
    page = browser("cs_lead")
    response = page.post("/overdue/reassign",
                         ticked(late["review"], late["diagnose"], assignee="customer_service_2"))
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert flash_of(html) == "cs_lead may not see tasks of repair"
    assert [r["assignee"] for r in board_rows(html, "Breached")] == ["–", "–"]
    assert all(t["claimed_by"] is None for t in desk.tasks())


def test_reassign_to_someone_who_cannot_take_tasks_is_422(browser, desk, late):
    page = browser("cs_lead")
    for who in ("nobody_here", "auditor", "alice"):
        response = page.post("/overdue/reassign", ticked(late["review"], late["respond"],
                                                         assignee=who))
        assert response.status_code == 422, who
        assert flash_of(response.get_data(as_text=True)) == (
            f"'{who}' is not a member of staff who can take tasks")
    assert all(t["claimed_by"] is None for t in desk.tasks())


def test_reassign_of_an_unknown_task_is_404_and_rolls_back(browser, desk, late):
    page = browser("cs_lead")
    response = page.post("/overdue/reassign", MultiDict([
        ("task_id", late["review"]["task_id"]), ("task_id", "no-such-task"),
        ("assignee", "customer_service_1")]))
    assert response.status_code == 404
    assert desk.task_of(late["review"]["request_number"])["claimed_by"] is None


def test_reassign_needs_the_csrf_token(browser, desk, late):
    page = browser("cs_lead")
    response = page.post("/overdue/reassign", ticked(late["review"], assignee="customer_service_1"),
                         csrf=False)
    assert response.status_code == 400
    assert desk.task_of(late["review"]["request_number"])["claimed_by"] is None
