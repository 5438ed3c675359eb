"""The inbox and the dashboard in Debian's chromium on the demo's history (issue 19, item 8):
three working days of requests filed and worked through (engine.demo_history), not a handful;
the queue lists the open work, the dashboard draws its charts and the heatmap, and axe-core
finds no serious or critical violation. Photographs in test-artifacts/screenshots/."""
from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from engine import clock, demo, demo_history
from tests.conftest import ROOT, T0
from tests.e2e.conftest import checked, login

pytestmark = pytest.mark.e2e

END = T0 + timedelta(days=4, hours=6)          # Friday 2026-11-27 16:00 in Shanghai


@pytest.fixture
def db_url(template_db, tmp_path) -> str:
    """An empty database, as `aftersales demo --history` starts from."""
    path = tmp_path / "history.sqlite"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


def test_the_queue_and_the_dashboard_on_three_days_of_history(page, app):
    platform = app.extensions["aftersales"]
    clock.freeze(END)
    demo.load(platform.sessions, platform.runtime, ROOT / "bpmn", history=lambda: [
        str(demo_history.fill(platform.sessions, platform.runtime, 3, seed=2))])

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
