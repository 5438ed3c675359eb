"""The customer's after-sales app (/m/) on a phone (390x844, Debian's chromium): a return filed
from an order with a photo and followed live while staff work it from another browser context
(their JSON API), a pickup slot chosen, the service rated; a repair quote approved from the
phone; a complaint reopened. Every page passes axe-core (no serious or critical violation) and
is photographed into test-artifacts/; the first page's load is measured in the browser and
written to test-artifacts/m-load-times.json."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from PIL import Image
from playwright.sync_api import expect

from engine import clock, orders, users
from tests.conftest import ROOT
from tests.e2e.conftest import (CHROMIUM_ARGS, CUSTOMER, PASSWORD, SCREENSHOTS, _unexpected,
                                checked)
from tests.web.conftest import FAST_HASH

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
LOAD_TIMES = ROOT / "test-artifacts" / "m-load-times.json"
PICKED_UP = {"courier": "SF", "picked_up_at": "2026-11-24T10:12:00+08:00"}


@pytest.fixture
def alice(app):
    """The customer of the e2e orders (C-1001) as a user who signs in to the app."""
    with app.extensions["aftersales"].sessions.begin() as session:
        users.create_user(session, CUSTOMER.name, PASSWORD, "customer",
                          customer_id=CUSTOMER.customer_id, method=FAST_HASH)
    return CUSTOMER.name


@pytest.fixture
def phone(browser, server, alice):
    """A phone's browser (390x844, touch, Chinese) signed in as the customer."""
    context = browser.new_context(base_url=server, locale="zh-CN", viewport=PHONE,
                                  is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if _unexpected(msg) else None)
    page.goto("/m/login")
    checked(page, "m-login")
    page.fill("#username", alice)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/m/")
    yield page
    context.close()
    assert not errors, f"errors in the browser console: {errors}"


@pytest.fixture
def staff(browser, server):
    """Staff at their desks in another browser context, working through the JSON API."""
    context = browser.new_context(base_url=server)
    yield Staff(context.request)
    context.close()


class Staff:
    def __init__(self, api):
        self.api, self.tokens = api, {}

    def complete(self, user: str, number: str, bpmn_id: str, **data) -> None:
        if user not in self.tokens:
            answer = self.api.post("/api/auth/token", data={"username": user,
                                                            "password": PASSWORD})
            self.tokens[user] = answer.json()["token"]
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        tasks = self.api.get("/api/tasks?per_page=100", headers=headers).json()["items"]
        [task] = [t for t in tasks if t["request_number"] == number and t["bpmn_id"] == bpmn_id]
        done = self.api.post(f"/api/tasks/{task['task_id']}/complete", headers=headers,
                             data={"data": data})
        assert done.ok, done.text()



def deliver(desk, order_id: str, name: str, amount: str, *, days_ago: int,
            warranty_days: int) -> None:
    """The shop sends the order again, now delivered `days_ago` days ago."""
    now = clock.now()
    with desk.sessions.begin() as session:
        orders.upsert(session, order_id, {
            "customer_id": CUSTOMER.customer_id, "category": "apparel", "currency": "CNY",
            "paid_amount": amount, "paid_at": (now - timedelta(days=days_ago + 3)).isoformat(),
            "delivered_at": (now - timedelta(days=days_ago)).isoformat(),
            "warranty_until": (now + timedelta(days=warranty_days)).isoformat(),
            "shipping_address": "上海市徐汇区漕溪北路 88 号",
            "items": [{"sku": order_id, "name": name, "quantity": 1, "unit_price": amount}]})


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (180, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def measure_load(page) -> dict:
    """The page's navigation timing, the JavaScript and CSS it loaded and any resource from
    another origin, from the browser's performance API."""
    return page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const assets = performance.getEntriesByType('resource')
            .filter(r => r.initiatorType === 'script' || r.initiatorType === 'link' || /\\.(js|css)$/.test(r.name));
        return {url: location.pathname,
                response_ms: Math.round(nav.responseEnd - nav.startTime),
                dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd - nav.startTime),
                load_ms: Math.round(nav.loadEventEnd - nav.startTime),
                assets: assets.map(r => r.name),
                other_origins: performance.getEntriesByType('resource')
                    .filter(r => new URL(r.name).origin !== location.origin).map(r => r.name)};
    }""")


def test_a_return_filed_with_a_photo_followed_live_picked_up_and_rated(phone, staff, desk):
    figures = measure_load(phone)                   # the first page after signing in
    # The browser had them cached from the sign-in page (encodedBodySize 0): ask their size.
    figures["js_css_bytes"] = sum(len(phone.request.get(url).body()) for url in figures["assets"])
    assert figures["js_css_bytes"] < 100_000 and figures["other_origins"] == [], figures
    LOAD_TIMES.parent.mkdir(parents=True, exist_ok=True)
    LOAD_TIMES.write_text(json.dumps(figures, indent=2))
    print("first page (我的订单):", figures)
    deliver(desk, "O-1001", "连衣裙", "399.00", days_ago=2, warranty_days=365)
    phone.reload()
    checked(phone, "m-orders")

    phone.click('a[data-action="return_refund"][href*="O-1001"]')
    expect(phone.locator("h1")).to_have_text("申请售后")
    phone.check("#pickup")
    phone.select_option("#reason", "尺码不合适")
    phone.fill("#text", "小了一码")
    phone.set_input_files("#photos", files=[{"name": "dress.jpg", "mimeType": "image/jpeg",
                                            "buffer": photo()}])
    checked(phone, "m-file")
    phone.click("#filing button[type=submit]")
    phone.wait_for_url("**/m/requests/AS-*")
    number = phone.url.rsplit("/", 1)[1]
    live = phone.locator("#live")
    expect(live).to_contain_text("我们已收到您的申请。")
    expect(live.locator(".thumbs img")).to_have_count(1)
    checked(phone, "m-request-filed")

    # Finance approves in another context; the phone's page updates without a reload.
    staff.complete("fin_1", number, "approve_refund", refund_approved=True,
                   refund_amount=399, refund_note="ok")
    expect(live).to_contain_text("退款 ¥399.00 正在办理。")
    desk.dispatch()                                       # the payment provider pays
    expect(live).to_contain_text("退款 ¥399.00 已到账。")
    staff.complete("log_1", number, "confirm_pickup_address",
                   pickup_address="上海市徐汇区漕溪北路 88 号", contact_phone="13800000000")
    expect(live.locator("legend")).to_have_text("选择取件时段")
    checked(phone, "m-pickup-slot")
    phone.check("#slot-3")
    phone.click("form[action$='/answer/pickup-slot'] button[type=submit]")
    expect(phone.locator("p.notice")).to_have_text("谢谢，您的答复已提交。")
    expect(live.locator(".pickup")).to_contain_text("取件时段")

    desk.send("picked_up", number, PICKED_UP)
    staff.complete("wh_1", number, "inspect_goods", inspection_passed=True,
                   goods_condition="as_new", inspection_note="")
    expect(live.locator("#answer-rating")).to_have_text("评价我们的服务")
    checked(phone, "m-rating")
    phone.check("#score-5")
    phone.fill("#rating-comment", "很快")
    phone.click("form[action$='/answer/rating'] button[type=submit]")
    expect(phone.locator(".progress .badge")).to_have_text("已关闭")
    assert desk.request(number).csat == 5

    label = phone.request.get(f"/m/requests/{number}/label.png")
    assert label.ok and label.headers["content-type"] == "image/png"
    phone.click("nav.tabs a[href='/m/requests']")
    expect(phone.locator("ul.list strong")).to_have_text([number])
    checked(phone, "m-requests")
    phone.click("nav.tabs a[href='/m/messages']")
    expect(phone.locator("ul.list li").first).to_be_visible()
    checked(phone, "m-messages")


def test_a_repair_quote_approved_from_the_phone(phone, desk):
    deliver(desk, "O-1002", "夹克", "259.00", days_ago=400, warranty_days=-35)
    number = desk.file("O-1002", type="repair", reason="拉链坏了").number
    desk.complete(number, "diagnose", "repair", fault_found=True, diagnosis="zip",
                  estimated_cost=60.0, in_warranty=False)
    desk.complete(number, "prepare_quote", "repair", quote_amount=80.0)
    phone.goto(f"/m/requests/{number}")
    expect(phone.locator("#answer-quote-answer")).to_have_text("维修报价")
    expect(phone.locator("#live")).to_contain_text("维修费用为 ¥80.00。")
    checked(phone, "m-repair-quote")
    phone.click("button[name=approved][value=yes]")
    expect(phone.locator("p.notice")).to_have_text("谢谢，您的答复已提交。")
    assert desk.ready(number) == {("repair_item", "repair")}


def test_a_complaint_reopened_from_the_phone(phone, desk):
    number = desk.file("O-1003", type="complaint", reason="送货太慢").number
    desk.complete(number, "respond_to_complaint", "customer_service",
                  complaint_response="抱歉。", proposed_resolution="coupon")
    desk.complete(number, "resolve_complaint", "customer_service",
                  complaint_resolution="优惠券", compensation_amount=10.0)
    phone.goto(f"/m/requests/{number}")
    expect(phone.locator("#answer-feedback")).to_have_text("您的投诉解决了吗？")
    phone.check("#confirmed-no")
    phone.fill("#feedback-comment", "补偿不够")
    checked(phone, "m-complaint-feedback")
    phone.click("form[action$='/answer/feedback'] button[type=submit]")
    expect(phone.locator("p.notice")).to_have_text("谢谢，您的答复已提交。")
    assert desk.ready(number) == {("handle_reopened_complaint", "cs_supervisor")}
