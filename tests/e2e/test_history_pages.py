"""The staff workspace in Debian's chromium on the demo's history (issue 19, item 8): three
working days of requests filed and worked through (engine.demo_history) and the demo's samples,
not a handful (tests/conftest.py's history_db, built once and copied for each test). The queue
and a task's pane with the request's past, the search, the dashboard with its charts and
heatmap, the overdue board, a request's supervision page, the incidents, the week's report and
a proposed change tried on the history's finished requests; axe-core finds no serious or
critical violation on any of them. Photographs in test-artifacts/screenshots/."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from engine import demo
from engine.models import AuditEvent, HumanTask, ServiceRequest
from tests.conftest import HISTORY_END as END
from tests.e2e.conftest import checked, login
from tests.web.pages.test_demo_history_pages import tried_by_the_owner

pytestmark = pytest.mark.e2e


@pytest.fixture
def db_url(history_url) -> str:
    return history_url


@pytest.fixture
def sessions(app):
    return app.extensions["aftersales"].sessions


def test_the_queue_and_the_dashboard_on_three_days_of_history(page):
    login(page, "cs_1", demo.PASSWORD)
    page.goto("/inbox?per_page=100")
    rows = page.locator(".task-row")
    expect(rows.first).to_be_visible()
    assert rows.count() > 5
    checked(page, "19-history-inbox")

    page.context.clear_cookies()
    login(page, "manager", demo.PASSWORD)
    days = f"from={(END - timedelta(days=4)).date()}&to={END.date()}"
    page.goto(f"/dashboard?{days}&process=aftersales_request")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#slowest tbody tr").first).to_be_visible()
    expect(page.locator("canvas").first).to_be_visible()          # ECharts drew the trend
    checked(page, "19-history-dashboard")


def test_a_task_pane_and_the_search_on_the_history(page, sessions):
    with sessions() as session:
        task = session.scalars(select(HumanTask).where(
            HumanTask.department == "finance", HumanTask.business_key.like("AS-202611%"))
            .order_by(HumanTask.id)).first()
        customer = session.scalar(select(ServiceRequest.customer_id).where(
            ServiceRequest.number == task.business_key))
        events = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == task.instance_id))
    assert events > 2
    login(page, "fin_1", demo.PASSWORD)
    page.goto("/inbox?per_page=100")
    page.locator(".task-row", has_text=task.business_key).locator(".task-link").first.click()
    detail = page.locator(f'#task-detail .task-detail[data-task-id="{task.task_id}"]')
    expect(detail.locator(".detail-head .reqno")).to_have_text(task.business_key)
    expect(detail.locator(".task-form")).to_be_visible()
    checked(page, "19-history-task-pane")
    detail.locator(f"#tab-history-{task.task_id}").click()
    history = detail.locator('[data-panel="history"] tbody tr')
    expect(history).to_have_count(events)                     # the request's past, every step

    page.fill("#topsearch-q", customer)
    page.keyboard.press("Enter")
    found = page.locator("table.search-results tbody tr")
    expect(found.first).to_be_visible()
    assert found.count() > 1
    checked(page, "19-history-search")


def test_the_supervisors_pages_on_the_history(page, sessions):
    with sessions() as session:
        busy = session.scalars(select(HumanTask).where(HumanTask.department == "warehouse")
                               .order_by(HumanTask.id)).first()
    login(page, "manager", demo.PASSWORD)
    page.click("nav.mainnav >> text=超时看板")
    expect(page.locator("#n-breached")).not_to_have_text("0")
    checked(page, "19-history-overdue-board")
    page.goto(f"/supervise/instances/{busy.instance_id}")
    expect(page.locator("h1")).to_contain_text(busy.business_key)
    expect(page.locator("table.supervise-tasks tbody tr").first).to_be_visible()
    checked(page, "19-history-supervise")
    page.goto("/incidents")
    expect(page.locator("h1")).to_have_text("异常事件")
    checked(page, "19-history-incidents")
    page.goto("/reports/2026-W48")
    expect(page.locator("h1")).to_contain_text("2026-W48")
    checked(page, "19-history-report")


def test_a_proposed_change_on_the_historys_finished_requests(page, app):
    platform = app.extensions["aftersales"]
    _draft_id, report = tried_by_the_owner(platform.sessions, platform.runtime)
    login(page, "manager", demo.PASSWORD)
    page.click("nav.mainnav >> text=拟议变更")
    page.locator("table.whatif-results a", has_text="复核门槛 300 元").click()
    expect(page.locator("#n-examined")).to_have_text(str(report["examined"]))
    expect(page.locator("table.whatif-items tr.diverges")).to_have_count(report["diverging"])
    checked(page, "19-history-proposed-change")
