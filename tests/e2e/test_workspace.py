"""The staff workspace in chromium (issue 19): rows that tell cases apart and the case beside the
form (item 1); typed work kept through a conflict and a sign-in in another tab, presence and
"complete and next" (item 3); the top bar's search (item 2); the live queue without a reload
(item 4); one column at 390 px. Every page passes axe-core (no serious or critical violation)
and is photographed in test-artifacts/screenshots/."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engine.access import Actor
from tests.e2e.conftest import checked, login
from web.pages import live

pytestmark = pytest.mark.e2e



def claim_as(desk, number: str, who: str, department: str) -> None:
    """A colleague claims the request's open task, in the engine, while the page is open."""
    from sqlalchemy import select

    from engine.models import HumanTask
    with desk.sessions.begin() as session:
        task = session.scalars(select(HumanTask).where(HumanTask.business_key == number)).one()
        desk.runtime.claim(session, task.task_id, Actor(who, "staff", department))


def test_rows_and_the_case_beside_the_form(page, desk):
    desk.file(reason="尺码偏小，想换大一码或者退款")
    desk.file("O-1002", reason="拉链坏了")
    login(page, "fin_1")
    page.goto("/inbox")
    rows = page.locator(".task-row")
    expect(rows).to_have_count(2)
    first = rows.first
    expect(first.locator(".amount")).to_have_text(re.compile(r"¥\s?(399|259)\.00"))
    expect(first.locator(".kind")).to_contain_text("退货退款 · 服饰")
    expect(first.locator(".due")).to_contain_text("剩余")
    case = page.locator("#task-detail aside.case")
    expect(case.locator('dd[data-fact="address"]')).to_have_text("上海市徐汇区漕溪北路 88 号")
    expect(page.locator("#task-detail input[name=refund_amount]")).not_to_have_value("")
    checked(page, "19-01-inbox-case-beside-form")

    page.keyboard.press("Tab")               # rows are reachable with the keyboard
    page.locator(".task-row .task-link").nth(1).focus()
    page.keyboard.press("Enter")
    expect(page.locator(".task-row").nth(1)).to_have_attribute("aria-current", "true")


def test_a_conflict_keeps_what_was_typed(page, desk):
    number = desk.file().number
    login(page, "fin_1")
    page.goto("/inbox")
    page.check("#task-detail input[name=refund_approved][value=true]")
    page.fill("#task-detail [name=refund_note]", "已核对订单，同意退款")
    claim_as(desk, number, "fin_2", "finance")            # a colleague is quicker
    page.click("#task-detail .task-form button[type=submit].primary")
    kept = page.locator("#task-detail .alert.kept")
    expect(kept).to_contain_text("fin_2 已认领此任务")
    expect(page.locator("#task-detail [name=refund_note]")).to_have_value("已核对订单，同意退款")
    checked(page, "19-02-conflict-keeps-input")


def test_a_sign_in_in_another_tab_does_not_lose_the_form(page, desk):
    number = desk.file().number
    login(page, "fin_1")
    page.goto("/inbox")
    page.click("#task-detail button[data-key=c]")
    expect(page.locator("#task-detail .assignee")).to_contain_text("fin_1")
    page.check("#task-detail input[name=refund_approved][value=true]")
    page.fill("#task-detail [name=refund_note]", "同意")

    # The other tab signs in again: a new session, a new CSRF token (same cookies).
    other = page.context.request
    form = other.get("/login").text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = other.post("/login", form={"username": "fin_1", "password": "correct horse battery",
                                        "csrf_token": token})
    assert signed.ok

    page.click("#task-detail .task-form button[type=submit].primary")
    expect(page.locator("#task-detail .alert.success")).to_contain_text("任务已完成")
    assert ("approve_refund", "finance") not in desk.ready(number)


def test_the_queue_is_live_and_search_finds_the_request(page, desk, monkeypatch):
    monkeypatch.setattr(live, "INTERVAL", 0.2)
    # Earlier tests' pages may still hold this process's stream slots until their next write.
    monkeypatch.setattr(live, "_streams", live.threading.BoundedSemaphore(live.MAX_STREAMS))
    desk.file()
    login(page, "fin_1")
    page.goto("/inbox")
    expect(page.locator(".task-row")).to_have_count(1)
    expect(page.locator("#nav-inbox-count")).to_have_text("1")
    new = desk.file("O-1002").number                  # a new request while the page is open
    expect(page.locator(".task-row")).to_have_count(2)
    expect(page.locator(".task-row", has_text=new)).to_be_visible()
    expect(page.locator("#nav-inbox-count")).to_have_text("2")
    expect(page).to_have_title(re.compile(r"^\(2\) "))

    page.fill("#topsearch-q", new)
    page.press("#topsearch-q", "Enter")
    expect(page.locator("table.search-results tbody tr")).to_have_count(1)
    expect(page.locator("table.search-results tbody tr")).to_contain_text(new)
    checked(page, "19-03-search")


def test_a_colleague_working_on_the_task_is_shown(page, desk, browser, server):
    desk.file()
    login(page, "fin_1")
    page.goto("/inbox")
    colleague = browser.new_context(base_url=server, locale="zh-CN")
    other = colleague.new_page()
    try:
        login(other, "manager")
        task_url = page.locator(".task-row").first.get_attribute("data-url")
        other.goto(task_url)
        expect(other.locator("#task-detail .presence")).to_have_text("fin_1 正在处理此任务")
    finally:
        colleague.close()


def test_complete_and_next_and_one_column_on_a_phone(page, desk):
    desk.file()
    desk.file("O-1002")
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "fin_1")
    page.goto("/inbox")
    first = page.locator(".task-row").first.get_attribute("data-task-id")
    widths = page.evaluate("""() => ['.filters', '.list', '.detail'].map(s =>
        document.querySelector(s).getBoundingClientRect().width)""")
    assert all(w >= 350 for w in widths), widths                  # one column, full width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    checked(page, "19-04-inbox-390px")
    page.check("#task-detail input[name=refund_approved][value=true]")
    page.click("#task-detail button[name=then][value=next]")
    expect(page.locator("#task-detail .alert.success")).to_contain_text("任务已完成")
    expect(page.locator("#task-detail article")).not_to_have_attribute("data-task-id", first)
    expect(page.locator(".task-row")).to_have_count(1)
