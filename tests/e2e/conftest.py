"""Browser fixtures: the real app served by werkzeug on a free port (one per test, on the test's
own copy of a database with the bpmn/ bundle deployed and one user per role), Debian's
chromium driven by Playwright, and a `Desk` that plays the outside world (the customer, the
courier, the payment provider) through the engine while the people work in the browser.

The clock is frozen by the autouse fixture of tests/conftest.py; the server thread reads the
same frozen clock, and `Desk.advance` moves it for both.
"""
from __future__ import annotations

import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from engine import clock, db, orders, service_requests, users
from engine.access import Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.jobs import outbox, timers
from engine.models import HumanTask, ServiceRequest
from tests.conftest import ROOT, T0
from tests.web.conftest import FAST_HASH, app  # noqa: F401  (the API tests' app fixture)

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"
CUSTOMER = Actor("alice", "customer", customer_id="C-1001")

# username -> (role, department)
PEOPLE = {"fin_1": ("staff", "finance"), "wh_1": ("staff", "warehouse"),
          "cs_1": ("staff", "customer_service"), "log_1": ("staff", "logistics"),
          "manager": ("supervisor", "management"), "owner": ("process_owner", None),
          "auditor": ("auditor", None)}
ORDERS = [("O-1001", "apparel", "399.00", "连衣裙"), ("O-1002", "apparel", "259.00", "夹克"),
          ("O-1003", "fresh", "88.00", "车厘子")]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/setup does it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()




@pytest.fixture
def server(app):
    """The app on http://127.0.0.1:<free port>, served from a background thread."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=5)
    http.server_close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server, locale="zh-CN", viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if _unexpected(msg) else None)
    yield page
    context.close()
    assert not errors, f"errors in the browser console: {errors}"


@pytest.fixture(scope="session")
def deployed_db(template_db, tmp_path_factory) -> Path:
    """The migrated template with the bpmn/ bundle deployed, the people and their orders: built
    once, copied for each test (deploying the bundle is the slow part of setting up)."""
    path = tmp_path_factory.mktemp("e2e") / "deployed.sqlite"
    shutil.copy(template_db, path)
    engine = db.make_engine(f"sqlite:///{path}", durable=False)
    clock.freeze(T0)
    try:
        with db.make_session_factory(engine).begin() as session:
            for name, (role, department) in PEOPLE.items():
                users.create_user(session, name, PASSWORD, role, department, method=FAST_HASH,
                                  display_name=name)
            for order_id, category, amount, item in ORDERS:
                orders.upsert(session, order_id, {
                    "customer_id": "C-1001", "category": category, "currency": "CNY",
                    "paid_amount": amount, "paid_at": (clock.now() - timedelta(days=5)).isoformat(),
                    "shipping_address": "上海市徐汇区漕溪北路 88 号",
                    "items": [{"sku": order_id, "name": item, "quantity": 1, "unit_price": amount}]})
            catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
    finally:
        clock.freeze(None)
        engine.dispose()
    return path


@pytest.fixture
def db_url(deployed_db, tmp_path) -> str:
    """Overrides tests/conftest.py: every browser test starts from the deployed copy."""
    path = tmp_path / "test.sqlite"
    shutil.copy(deployed_db, path)
    return f"sqlite:///{path}"


def _unexpected(message) -> bool:
    """A console error other than the browser noting a 4xx answer (which the page shows)."""
    return message.type == "error" and not message.text.startswith(
        "Failed to load resource: the server responded with a status of 4")


@pytest.fixture
def desk(app):
    return Desk(app.extensions["aftersales"])


class Desk:
    """Files requests as the customer, answers for the courier and the payment provider."""

    def __init__(self, platform):
        self.sessions, self.runtime = platform.sessions, platform.runtime

    def file(self, order_id="O-1001", **fields) -> ServiceRequest:
        with self.sessions.begin() as session:
            return service_requests.file_request(session, self.runtime, {
                "order_id": order_id, "type": "return_refund", "reason": "尺码不合适", **fields},
                CUSTOMER)

    def send(self, name: str, number: str, payload: dict) -> None:
        with self.sessions.begin() as session:
            self.runtime.deliver_message(session, name, number, payload)

    def complete(self, number: str, bpmn_id: str, department: str, **form) -> None:
        with self.sessions.begin() as session:
            task = session.scalars(select(HumanTask).where(HumanTask.business_key == number,
                                                           HumanTask.bpmn_id == bpmn_id)).one()
            self.runtime.complete(session, task.task_id, form,
                                  Actor(f"{department}_desk", "staff", department))

    def dispatch(self) -> dict:
        return outbox.dispatch_due(self.sessions, self.runtime)

    def advance(self, **delta) -> None:
        clock.advance(timedelta(**delta))
        timers.run_due(self.sessions, self.runtime)

    def ready(self, number: str) -> set[tuple[str, str]]:
        with self.sessions() as session:
            return {(t.bpmn_id, t.department) for t in session.scalars(
                select(HumanTask).where(HumanTask.business_key == number))}

    def request(self, number: str) -> ServiceRequest:
        with self.sessions() as session:
            return session.scalars(select(ServiceRequest).where(ServiceRequest.number == number)).one()


def login(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def logout(page) -> None:
    page.click("header form button[type=submit]")
    page.wait_for_url("**/login")


def shot(page, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


def checked(page, name: str) -> None:
    """Photographed as test-artifacts/screenshots/<name>.png, and no serious or critical
    axe-core violation."""
    shot(page, name, full_page=True)
    if not AXE.exists():
        pytest.skip("axe-core is missing: run `npm ci` in web/ (.ci/setup)")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""() => axe.run(document).then(r => r.violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))""")
    assert violations == [], (name, violations)
