"""The task page's order tab (web/templates/_task_detail.html): the order a request was filed
from, as the clerk working it needs it (paid amount and date, delivery, warranty, address, the
items with the ones the request chose marked), and the request's payments from the ledger for
finance only.

The clock is frozen at 2026-11-23 10:00 in Shanghai; the fixture orders were paid ten days
before, delivered seven days before, with 300 days of warranty (tests/web/conftest.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.conftest import clock, order_body, pay
from tests.web.pages.conftest import select, table_rows, texts


def html_of(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def facts(html: str) -> dict[str, str]:
    """What the order tab says: {"title": its heading, "block": all its text, and each fact
    (paid_amount, paid_at, ..., the ledger's refunded, pending, clawed_back) by name}."""
    [block] = select(html, "section", "class", "order-block")
    [title] = [h3["text"] for h3 in select(html, "h3") if h3["attrs"].get("id", "")
               .startswith("order-title-")]
    shown = {dd["attrs"]["data-field"]: dd["text"] for dd in select(html, "dd", "data-field")}
    return {"title": title, "block": block["text"], **shown}


def item_rows(html: str) -> dict[str, dict]:
    """The order's item rows by sku: {sku: {cells: [name, quantity, unit price, chosen],
    chosen: whether the row is marked}}."""
    rows = select(html, "tr", "data-sku")
    return {row["attrs"]["data-sku"]: {"chosen": row["attrs"]["class"] == "chosen",
                                       "text": row["text"]} for row in rows}


@pytest.fixture
def refunded(desk, auth):
    """Alice's return of the hat of O-1004 (socks x3 at 10.00, a hat at 30.00), reviewed by
    customer service, shipped back, refunded by finance and paid by the provider:
    {"number", "review": its review task id, "refund": its refund task id}."""
    filed = desk.file("alice", order_id="O-1004", type="return_refund",
                      items=[{"sku": "HAT", "quantity": 1}])
    number = filed["number"]
    review = desk.task_of(number)["task_id"]
    cs = auth.as_("customer_service_1")
    assert cs.post(f"/api/tasks/{review}/complete",
                   json={"data": {"approved": True}}).status_code == 200
    assert auth.as_("alice").post(f"/api/requests/{number}/shipped", json={
        "tracking_no": "SF1", "carrier": "SF Express"}).status_code == 200
    refund = desk.task_of(number)["task_id"]
    assert auth.as_("finance_1").post(f"/api/tasks/{refund}/complete",
                                      json={"data": {"refunded": True}}).status_code == 200
    assert pay(auth, number, reference="RF-HAT-1").status_code == 200
    return {"number": number, "review": review, "refund": refund}


def test_the_task_page_shows_the_order_of_the_request(browser, desk):
    filed = desk.file("alice", order_id="O-1004", type="return_refund",
                      items=[{"sku": "HAT", "quantity": 1}])
    task = desk.task_of(filed["number"])
    html = html_of(browser("customer_service_1").get(f"/tasks/{task['task_id']}"))

    shown = facts(html)
    assert shown["title"] == "Order O-1004"
    assert shown["paid_amount"] == "60.00 CNY"
    assert shown["paid_at"] == "2026-11-13 10:00 +08:00"         # ISO, in the platform's zone
    assert shown["delivered_at"] == "2026-11-16 10:00 +08:00"
    assert shown["warranty_until"] == "2027-09-19 10:00 +08:00 in warranty"
    assert shown["shipping_address"] == "Shanghai"
    assert "Channel app" in shown["block"]
    assert table_rows(html, 'class="grid order-items"') == [
        ["item SOCKS", "3", "10.00 CNY", "not chosen"],
        ["item HAT", "1", "30.00 CNY", "✓ 1 chosen"]]
    rows = item_rows(html)
    assert {sku: row["chosen"] for sku, row in rows.items()} == {"SOCKS": False, "HAT": True}
    # The sku heads its row, for screen readers.
    assert [th["attrs"].get("scope") for th in select(html, "th")
            if th["text"] in ("SOCKS", "HAT")] == ["row", "row"]
    # Customer service is not finance: the ledger is not shown, not even as an empty block.
    assert select(html, "section", "class", "payments-block") == []


def test_the_order_is_said_in_chinese_and_an_old_warranty_is_expired(browser, desk, auth):
    old = order_body("C001", "3c", lines=(("PHONE", 1, "1999.00"),),
                     warranty_until=(clock.now() - timedelta(days=1)).isoformat(),
                     shipping_address="上海市徐汇区漕溪北路 88 号")
    assert auth.as_("shop").put("/api/orders/O-OLD", json=old).status_code == 201
    filed = desk.file("alice", order_id="O-OLD", type="repair")
    task = desk.task_of(filed["number"])
    html = html_of(browser("repair_1", lang="zh_CN").get(f"/tasks/{task['task_id']}"))

    shown = facts(html)
    assert shown["title"] == "订单 O-OLD"
    assert shown["paid_amount"] == "1999.00 CNY"
    assert shown["warranty_until"].endswith("已过保")
    assert shown["shipping_address"] == "上海市徐汇区漕溪北路 88 号"
    assert texts(html, "caption")[0] == "订单商品（本售后单所选商品已标出）"
    assert item_rows(html)["PHONE"]["chosen"] is True
    assert "订单" in texts(html, "button", "data-tab", "order")[0]


def test_finance_sees_the_requests_payments_and_others_do_not(browser, refunded):
    html = html_of(browser("finance_1").get(f"/tasks/{refunded['refund']}"))
    [block] = select(html, "section", "class", "payments-block")
    assert "Payments of this request (ledger)" in block["text"]
    shown = facts(html)
    assert (shown["refunded"], shown["pending"], shown["clawed_back"]) == \
        ("30.00 CNY", "0.00 CNY", "0.00 CNY")
    [row] = table_rows(html, 'class="grid payments"')
    assert row[:3] == ["30.00 CNY", "Paid", "finance_1"]
    assert row[-1] == "RF-HAT-1"
    assert texts(html, "button", "data-tab", "order") == ["Order · Payments (1)"]

    # Customer service worked the same request (its review): the order, but no money.
    other = html_of(browser("customer_service_1").get(f"/tasks/{refunded['review']}"))
    assert facts(other)["paid_amount"] == "60.00 CNY"
    assert select(other, "section", "class", "payments-block") == []
    assert texts(other, "button", "data-tab", "order") == ["Order"]
    assert select(other, "table", "class", "payments") == []
    # Staff of another department (the warehouse) do not open the finance task at all.
    assert browser("warehouse_1").get(f"/tasks/{refunded['refund']}").status_code == 403


def test_a_supervisor_overseeing_finance_and_an_admin_see_the_payments(browser, refunded):
    for user in ("ops_head", "admin"):
        html = html_of(browser(user).get(f"/tasks/{refunded['refund']}"))
        [row] = table_rows(html, 'class="grid payments"')
        assert row[:3] == ["30.00 CNY", "Paid", "finance_1"], user
