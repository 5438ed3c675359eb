"""The staff workspace on the demo's history (engine.demo_history), not on a handful of
requests: three working days of it and the demo's samples, as `aftersales demo --history`
leaves a database (tests/conftest.py's history_db, built once and copied for each test). The
inbox and a task's pane, the search, the dashboard (figures, ratings, heatmap), the overdue
board, a request's supervision page, the incidents, the week's report and the proposed changes
(an owner's what-if over the history's finished requests)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import clock, demo, reports, whatif_results
from engine.access import Actor
from engine.definitions import drafts
from engine.models import FINISHED, AuditEvent, HumanTask, Instance, ServiceRequest
from tests.conftest import HISTORY_END as END
from tests.web.pages.conftest import Browser, table_rows, texts
from tests.web.pages.conftest import select as elements
from tests.web.pages.test_dashboard_and_assets import figures_of, kpis_of


@pytest.fixture
def db_url(history_url) -> str:
    return history_url


def tried_by_the_owner(sessions, runtime) -> tuple[int, dict]:
    """The owner's draft of refund_first asking a second approver above 300 CNY (not 2,000),
    tried on the requests finished in the last 30 days: its id and the report."""
    owner = Actor("owner", "process_owner")
    with sessions.begin() as session:
        files, base = drafts.starting_files(session, "refund_first", None, 2 * 1024 * 1024)
        dmn = files["refund_approval.dmn"]
        assert "<text>2000</text>" in dmn
        files["refund_approval.dmn"] = dmn.replace("<text>2000</text>", "<text>300</text>")
        draft = drafts.create(session, owner, "复核门槛 300 元", files, base=base)
        return draft.id, whatif_results.run(session, owner, draft.id, runtime.script_engine,
                                            days=30, limit=50, now=clock.now())


def signed_in(app, username: str) -> Browser:
    page = Browser(app)
    assert page.login(username, demo.PASSWORD).status_code == 302
    return page


def test_inbox_and_dashboard_show_the_history(app, platform):
    with platform.sessions() as session:
        waiting = session.scalars(select(HumanTask.business_key).where(
            HumanTask.department == "customer_service")).all()
        opened = session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.order_id.startswith("H-")))
        rated = session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.csat.is_not(None), ServiceRequest.opened_at >= END - timedelta(days=4),
            ServiceRequest.opened_at < END))
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


def test_a_task_pane_and_the_search_on_the_history(app, platform):
    with platform.sessions() as session:
        task = session.scalars(select(HumanTask).where(
            HumanTask.department == "finance", HumanTask.business_key.like("AS-202611%"))
            .order_by(HumanTask.id)).first()
        customer = session.scalar(select(ServiceRequest.customer_id).where(
            ServiceRequest.number == task.business_key))
        theirs = session.scalars(select(ServiceRequest.number).where(
            ServiceRequest.customer_id == customer)).all()
        events = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == task.instance_id))
    page = signed_in(app, "fin_1")
    pane = page.get(f"/inbox?task={task.task_id}")
    assert pane.status_code == 200
    html = pane.get_data(as_text=True)
    [detail] = elements(html, "article", "class", "task-detail")
    assert detail["attrs"]["data-task-id"] == task.task_id
    pane_html = html[html.index('<article class="task-detail"'):]
    assert texts(pane_html, "span", "class", "reqno")[0] == task.business_key
    assert elements(pane_html, "form", "class", "task-form")
    history = pane_html[pane_html.index('data-panel="history"'):]
    history = history[history.index("<tbody>"):history.index("</tbody>")]
    assert history.count("<tr") == events > 2        # the request's past, every step of it
    search = signed_in(app, "cs_1")
    found = search.get(f"/search?q={customer}").get_data(as_text=True)
    assert sorted(r["attrs"]["data-number"] for r in elements(found, "tr", "data-number")) == \
        sorted(theirs)
    assert len(theirs) > 1
    one = search.get(f"/search?q={task.business_key}").get_data(as_text=True)
    assert [r["attrs"]["data-number"] for r in elements(one, "tr", "data-number")] == \
        [task.business_key]


def test_the_supervisors_pages_on_the_history(app, platform):
    now = clock.now()
    with platform.sessions() as session:
        breached = session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.due_at <= now))                   # breached once now >= due_at
        in_error = session.scalar(select(func.count()).select_from(Instance).where(
            Instance.status == "error"))
        busy = session.scalars(select(HumanTask).where(HumanTask.department == "warehouse")
                               .order_by(HumanTask.id)).first()
    manager = signed_in(app, "manager")
    board = manager.get("/overdue").get_data(as_text=True)
    assert texts(board, "div", "id", "n-breached") == [str(breached)] and breached > 0
    supervised = manager.get(f"/supervise/instances/{busy.instance_id}")
    assert supervised.status_code == 200
    tasks = elements(supervised.get_data(as_text=True), "table", "class", "supervise-tasks")
    assert tasks and busy.business_key in supervised.get_data(as_text=True)
    incidents = manager.get("/incidents").get_data(as_text=True)
    assert len(elements(incidents, "tr", "data-instance-id")) == in_error
    # Customer service's supervisor sees the board of its departments only.
    cs_board = signed_in(app, "cs_sup").get("/overdue").get_data(as_text=True)
    assert int(texts(cs_board, "div", "id", "n-breached")[0]) < breached


def test_the_weeks_report_on_the_history(app, platform):
    period = reports.parse("2026-W48")
    start, end = period.bounds(platform.settings.timezone)
    with platform.sessions() as session:
        opened = session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.opened_at >= start, ServiceRequest.opened_at < end))
    page = signed_in(app, "manager").get("/reports/2026-W48")
    assert page.status_code == 200
    summary = dict(row[:2] for row in table_rows(page.get_data(as_text=True), "概览 Summary</h2>"))
    assert int(summary["请求数 Requests"]) == opened > 20


def test_proposed_changes_on_the_historys_finished_requests(app, platform):
    """An owner's draft asking a second approver above 300 CNY, tried on the history's finished
    requests: the manager sees each request that would have gone another way; customer
    service's supervisor only those that passed its departments."""
    draft_id, report = tried_by_the_owner(platform.sessions, platform.runtime)
    with platform.sessions() as session:
        finished = session.scalar(select(func.count()).select_from(Instance).where(
            Instance.process_key == "aftersales_request", Instance.status.in_(FINISHED)))
    diverging = {i["business_key"] for i in report["items"] if i["diverges"]}
    assert report["examined"] == finished > 2 and diverging
    whole = signed_in(app, "manager").get(f"/supervise/whatif/{draft_id}").get_data(as_text=True)
    rows = elements(whole, "tr", "data-number")
    assert {r["attrs"]["data-number"] for r in rows if "diverges" in r["attrs"]["class"]} == \
        diverging
    assert texts(whole, "div", "id", "n-examined") == [str(report["examined"])]
    cs = signed_in(app, "cs_sup").get(f"/supervise/whatif/{draft_id}")
    shown = {r["attrs"]["data-number"] for r in elements(cs.get_data(as_text=True), "tr",
                                                          "data-number")}
    assert shown <= {i["business_key"] for i in report["items"]}
    assert not elements(cs.get_data(as_text=True), "tr", "data-department", "finance")
