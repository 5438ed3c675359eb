"""The KPI dashboard (ECharts charts and the time heatmap on the diagram) and the language
switch: Chinese by default, English on request, remembered for the next pages."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login, shot

pytestmark = pytest.mark.e2e


def test_dashboard_charts_heatmap_and_language_switch(page, desk):
    done = desk.file("O-1001").number
    desk.file("O-1003", type="complaint")
    desk.advance(hours=2)
    desk.complete(done, "approve_refund", "finance", refund_approved=True, refund_amount=399.0)
    desk.dispatch()
    desk.advance(hours=20)
    desk.send("return_shipped", done, {"tracking_no": "SF1", "carrier": "SF"})
    desk.advance(hours=5)
    desk.complete(done, "inspect_goods", "warehouse", inspection_passed=True, goods_condition="as_new")
    desk.send("csat_submitted", done, {"score": 4, "comment": "ok"})
    desk.dispatch()

    login(page, "manager")
    page.goto("/dashboard")
    expect(page.locator("h1")).to_have_text("服务指标")
    cards = page.locator("#kpi-cards .kpi")
    expect(cards.filter(has_text="新建售后单").locator(".value")).to_have_text("2")
    expect(cards.filter(has_text="满意度").locator(".value")).to_have_text("4.0")
    expect(cards.filter(has_text="投诉率").locator(".value")).to_have_text("50.0%")
    for chart in ("trend", "quality", "category", "department"):
        expect(page.locator(f"#chart-{chart}[data-rendered] canvas")).to_have_count(1)
    heat = page.locator('[data-diagram="heatmap"].rendered')
    expect(heat.locator("svg").first).to_be_visible()
    expect(heat.locator(".djs-element.heat-5")).not_to_have_count(0)
    expect(page.locator("#slowest tbody tr").first).to_contain_text("小时")
    shot(page, "09-dashboard-zh", full_page=True)

    page.click("text=English")
    expect(page.locator("h1")).to_have_text("Service KPIs")
    expect(page.locator("#slowest tbody tr").first).to_contain_text(" h")
    shot(page, "10-dashboard-en")
    page.click("nav.mainnav >> text=Inbox")
    expect(page.locator(".list-head h2")).to_contain_text("tasks")
    expect(page.locator("#task-detail .tabs")).to_contain_text("Diagram")
    shot(page, "11-inbox-en")
    page.click("text=中文")
    expect(page.locator(".list-head h2")).to_contain_text("个任务")
