"""A refund-first request with an on-site pickup, worked across departments in the browser:
finance sees it in its inbox with its SLA badge, claims it without a page reload, meets a
validation error, approves the refund; the payment provider pays; logistics confirms the pickup
address, the courier books a slot and picks the parcel up; finance and the warehouse see the
request's order (paid, delivered, warranty, address, the chosen item), finance also its payment
from the ledger; the warehouse sees the diagram with its task highlighted and passes the
inspection; the customer rates the service; the auditor
verifies the history and steps through its replay on the diagram."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from engine import clock, orders
from tests.e2e.conftest import login, logout, shot

pytestmark = pytest.mark.e2e


def ship_with_warranty(desk) -> None:
    """The shop sends order O-1001 again once delivered, now with its warranty (an upsert)."""
    now = clock.now()
    with desk.sessions.begin() as session:
        _, happened = orders.upsert(session, "O-1001", {
            "customer_id": "C-1001", "category": "apparel", "currency": "CNY", "channel": "app",
            "paid_amount": "399.00", "paid_at": (now - timedelta(days=5)).isoformat(),
            "delivered_at": (now - timedelta(days=2)).isoformat(),
            "warranty_until": (now + timedelta(days=365)).isoformat(),
            "shipping_address": "上海市徐汇区漕溪北路 88 号",
            "items": [{"sku": "O-1001", "name": "连衣裙", "quantity": 1, "unit_price": "399.00"}]})
    assert happened == "updated"


def expect_order(page, *, payments: bool) -> None:
    """The task pane's order tab: the order's facts and items, the payments for finance only."""
    page.click("#task-detail [data-tab=order]")
    block = page.locator("#task-detail .order-block")
    expect(block).to_be_visible()
    expect(block.locator("h3")).to_have_text("订单 O-1001")
    expect(block.locator('dd[data-field="paid_amount"]')).to_have_text("399.00 CNY")
    expect(block.locator('dd[data-field="paid_at"]')).not_to_have_text("–")
    expect(block.locator('dd[data-field="delivered_at"]')).not_to_have_text("–")
    expect(block.locator('dd[data-field="warranty_until"] .badge')).to_have_text("在保")
    expect(block.locator('dd[data-field="shipping_address"]')).to_have_text("上海市徐汇区漕溪北路 88 号")
    item = block.locator("table.order-items tbody tr.chosen")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("连衣裙")
    expect(item).to_contain_text("已选 1 件")
    expect(page.locator("#task-detail .payments-block")).to_have_count(1 if payments else 0)


def test_refund_first_request_across_departments(page, desk):
    ship_with_warranty(desk)
    request = desk.file(pickup=True)
    number = request.number
    assert desk.ready(number) == {("approve_refund", "finance")}

    desk.advance(minutes=40)
    # Finance: the inbox lists the task with its request number and SLA badge (Chinese first).
    login(page, "fin_1")
    expect(page).to_have_url("/inbox")
    expect(page.locator("h2").first).to_have_text("任务")
    row = page.locator(".task-row", has_text=number)
    expect(row).to_have_count(1)
    expect(row.locator(".badge.sla-on_time")).to_have_text("正常")
    expect(row.locator(".task-name")).to_have_text("审批退款")
    shot(page, "01-inbox-finance")

    # Claim: the list and the task pane change, the page does not reload.
    page.evaluate("window.__sameDocument = true")
    page.locator("#task-detail button[data-key=c]").click()
    expect(page.locator("#task-detail .alert.success")).to_have_text("你已认领该任务。")
    expect(row.locator(".assignee")).to_have_text("fin_1")
    assert page.evaluate("window.__sameDocument") is True
    approval_task = page.locator("#task-detail article").get_attribute("data-task-id")

    # The order the request was filed from; nothing is in the ledger yet.
    expect_order(page, payments=True)
    expect(page.locator("#task-detail .payments-block")).to_contain_text("尚无退款或追款。")
    page.click("#task-detail [data-tab=form]")

    # An incomplete form: the engine's errors are shown next to their fields.
    page.fill("#f-refund_amount", "-5")
    page.click(".task-form button[type=submit]")
    approved = page.locator('.field[data-field="refund_approved"]')
    expect(approved.locator(".field-error")).to_have_text("此项必填。")
    expect(page.locator('.field[data-field="refund_amount"] .field-error')).to_have_text("不能小于 0。")
    shot(page, "02-task-validation-error")
    assert desk.ready(number) == {("approve_refund", "finance")}

    page.check('input[name="refund_approved"][value="true"]')
    page.fill("#f-refund_amount", "399")
    page.fill("#f-refund_note", "先退款，顾客寄回")
    page.click(".task-form button[type=submit]")
    expect(page.locator("#task-detail .alert.success")).to_contain_text("任务已完成")
    expect(page.locator(".task-row")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    logout(page)

    # The payment provider pays the refund (outbox): the approval's page shows it from the ledger.
    assert desk.dispatch()["done"] >= 1
    login(page, "fin_1")
    page.goto(f"/tasks/{approval_task}")
    expect_order(page, payments=True)
    payment = page.locator("#task-detail table.payments tbody tr")
    expect(payment).to_have_count(1)
    expect(payment).to_contain_text("退款")
    expect(payment).to_contain_text("399.00 CNY")
    expect(payment).to_contain_text("已支付")
    expect(payment).to_contain_text("fin_1")
    expect(page.locator('#task-detail dd[data-field="refunded"]')).to_have_text("399.00 CNY")
    page.locator("#task-detail .order-block").scroll_into_view_if_needed()
    shot(page, "02b-task-order-payments-finance")
    logout(page)

    # Logistics confirms the pickup address.
    assert desk.ready(number) == {("confirm_pickup_address", "logistics")}
    desk.advance(hours=1)
    login(page, "log_1")
    page.locator(".task-row", has_text=number).click()
    expect(page.locator("#task-detail h2")).to_have_text("确认取件地址")
    page.fill("#f-pickup_address", "上海市徐汇区漕溪北路 88 号")
    page.fill("#f-contact_phone", "138 0000 0000")
    page.click(".task-form button[type=submit]")
    expect(page.locator("#task-detail .alert.success")).to_contain_text("任务已完成")
    logout(page)

    # The courier books a slot (outbox) and picks the parcel up the next morning.
    desk.dispatch()
    desk.advance(hours=20)
    desk.send("picked_up", number, {"courier": "SF", "picked_up_at": "2026-11-24T10:12:00+08:00"})
    desk.advance(hours=5)
    assert desk.ready(number) == {("inspect_goods", "warehouse")}

    # Warehouse: the diagram shows where the request stands.
    login(page, "wh_1")
    page.locator(".task-row", has_text=number).click()
    expect(page.locator("#task-detail h2")).to_have_text("验货")
    page.click("#task-detail [data-tab=diagram]")
    box = page.locator('#task-detail .diagram-box.rendered')
    expect(box).to_have_attribute("data-file", "return_goods.bpmn")
    expect(box.locator("svg").first).to_be_visible()
    expect(box.locator('.djs-element.mark-ready[data-element-id="inspect_goods"]')).to_have_count(1)
    expect(box.locator(".djs-element.mark-completed").first).to_be_attached()
    shot(page, "03-task-diagram-warehouse")
    page.click("#task-detail [data-tab=history]")
    expect(page.locator("#task-detail table.history")).to_contain_text("审批退款")
    # The warehouse sees the order, not the money.
    expect_order(page, payments=False)
    shot(page, "03b-task-order-warehouse")
    page.click("#task-detail [data-tab=form]")
    page.locator("#task-detail button[data-key=c]").click()
    expect(page.locator("#task-detail .alert.success")).to_be_visible()
    page.check('input[name="inspection_passed"][value="true"]')
    page.select_option("#f-goods_condition", "as_new")
    page.click(".task-form button[type=submit]")
    expect(page.locator("#task-detail .alert.success")).to_contain_text("任务已完成")
    logout(page)

    desk.advance(hours=3)
    desk.send("csat_submitted", number, {"score": 5, "comment": "很快"})
    desk.dispatch()
    closed = desk.request(number)
    assert (closed.status, closed.outcome, closed.csat) == ("closed", "refunded", 5)

    # Auditor: the history verifies; the replay moves the tokens on the diagram.
    login(page, "auditor")
    page.fill("input[name=q]", number)
    page.click("form.toolbar-form button[type=submit]")
    page.locator("a", has_text=number).first.click()
    expect(page.locator("#verify-result")).to_contain_text("校验通过")
    replay = page.locator('[data-diagram="replay"].rendered')
    expect(replay.locator("svg").first).to_be_visible()
    page.locator("#timeline li").first.click()
    expect(replay).to_have_attribute("data-file", "refund_first.bpmn")
    expect(replay.locator('.djs-element.mark-ready[data-element-id="approve_refund"]')).to_have_count(1)
    expect(page.locator("#step-label")).to_have_text(f"#1 / {page.locator('#timeline li').count()}")
    shot(page, "04-audit-replay-first-step")
    page.click("#step-next")
    expect(page.locator("#timeline li.current")).to_contain_text("认领任务")
    page.locator("#step-slider").fill("4")
    expect(page.locator("#step-label")).to_have_text(f"#5 / {page.locator('#timeline li').count()}")
    expect(page.locator("#step-data .changed").first).to_be_attached()

    with page.expect_download() as download:
        page.click("text=导出 JSON")
    exported = json.loads(download.value.path().read_text("utf-8"))
    assert exported["verify"]["ok"] is True
    assert [e["kind"] for e in exported["events"]][:3] == ["started", "task_claimed", "task_completed"]
    with page.expect_download() as download:
        page.click("text=导出 CSV")
    lines = download.value.path().read_text("utf-8-sig").splitlines()
    assert lines[0].startswith("instance_id,business_key,seq,at,actor,kind,element")
    assert len(lines) == 1 + len(exported["events"])
