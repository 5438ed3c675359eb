"""The inbox and the dashboard (figures, ratings, heatmap) on the demo's history (engine.demo_history), not on a handful
of requests: three working days of it, as `aftersales demo --history` leaves a database."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from engine import clock, demo, demo_history
from engine.models import HumanTask, ServiceRequest
from tests.conftest import ROOT, T0
from tests.web.pages.conftest import Browser, table_rows, texts
from tests.web.pages.conftest import select as elements
from tests.web.pages.test_dashboard_and_assets import figures_of, kpis_of

# The history ends on Friday 2026-11-27 16:00 in Shanghai: three working days behind it.
END = T0 + timedelta(days=4, hours=6)


def signed_in(app, username: str) -> Browser:
    page = Browser(app)
    assert page.login(username, demo.PASSWORD).status_code == 302
    return page


def test_inbox_and_dashboard_show_the_history(app, platform):
    clock.freeze(END)
    demo.load(platform.sessions, platform.runtime, ROOT / "bpmn", history=lambda: [
        str(demo_history.fill(platform.sessions, platform.runtime, 3, seed=2))])
    with platform.sessions() as session:
        waiting = session.scalars(select(HumanTask.business_key).where(
            HumanTask.department == "customer_service")).all()
        opened = session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.order_id.startswith("H-")))
        rated = session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.csat.is_not(None), ServiceRequest.opened_at >= END - timedelta(days=4)))
    inbox = signed_in(app, "cs_1").get("/inbox?per_page=100")
    assert inbox.status_code == 200
    rows = elements(inbox.get_data(as_text=True), "li", "class", "task-row")
    assert len(rows) == len(waiting) > 5
    assert {number for number in waiting if any(number in row["text"] for row in rows)} == \
        set(waiting)
    days = f"from={(END - timedelta(days=4)).date()}&to={END.date()}"
    dashboard = signed_in(app, "manager").get(f"/dashboard?{days}&process=aftersales_request")
    assert dashboard.status_code == 200
    html = dashboard.get_data(as_text=True)
    overall = figures_of(html)["figures"]["overall"]
    assert overall["requests"] == int(kpis_of(html)["Requests opened"]) >= opened > 20
    assert overall["csat"]["count"] == rated > 0 and 1 <= overall["csat"]["avg"] <= 5
    slowest = table_rows(html, 'id="slowest"')          # the heatmap's elements, by hours
    assert len(slowest) >= 3 and all(int(visits) > 0 for *_, visits in slowest)
    heat = json.loads(texts(html, "script", "class", "diagram-data")[0])["heat"]
    assert max(heat.values()) == 1.0 and len(heat) >= 3
