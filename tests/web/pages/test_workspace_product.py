"""The case next to the form with the product's processes (bpmn/, issue 19, item 1): forms
prefilled from what the request and its order already say, and escalation tasks that show and
link the request they are about."""
from __future__ import annotations

import pytest

from engine import clock
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.jobs import sla
from tests.conftest import ROOT
from tests.web.api.test_money import approval, approve, close
from tests.web.conftest import order_body, pay
from tests.web.pages.conftest import advance, select, texts
from tests.web.pages.test_inbox_pages import field_errors


@pytest.fixture
def product(platform, desk, auth):
    """bpmn/ deployed and an apparel order of 259.00 whose shop knows the customer's phone."""
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
    sent = auth.as_("shop").put("/api/orders/O-259", json=order_body(
        "C001", "apparel", lines=(("SKU-COAT", 1, "259.00"),),
        shipping_address="Shanghai, Xuhui, Tianyaoqiao Rd 1",
        contact={"phone": "+86 138 0000 0000", "channel": "sms"}))
    assert sent.status_code == 201, sent.get_json()
    return desk


def task_of(desk, number, bpmn_id, user="admin"):
    [task] = [t for t in desk.tasks(user, per_page=100)
              if t["request_number"] == number and t["bpmn_id"] == bpmn_id]
    return task


def value_of(html: str, name: str) -> str | None:
    [field] = select(html, "input", "name", name)
    return field["attrs"].get("value")


def test_the_refund_form_starts_from_the_amount_asked_for(browser, product):
    filed = product.file("alice", order_id="O-259", type="return_refund")
    task = task_of(product, filed["number"], "approve_refund")
    html = browser("finance_1").get(f"/tasks/{task['task_id']}").get_data(as_text=True)
    assert value_of(html, "refund_amount") == "259.00"
    assert [i["attrs"].get("checked") for i in select(html, "input", "name", "refund_approved")] \
        == [None, None]                        # the decision itself is left to the clerk


def test_the_refund_form_starts_from_what_is_still_refundable(browser, product, auth):
    first = product.file("alice", order_id="O-259", type="return_refund")
    assert approve(auth, approval(auth, first["number"]), 200).status_code == 200
    assert pay(auth, first["number"]).status_code == 200
    close(auth, first["number"], "alice")
    again = product.file("alice", order_id="O-259", type="return_refund")   # the item is free
    task = task_of(product, again["number"], "approve_refund")
    html = browser("finance_1").get(f"/tasks/{task['task_id']}").get_data(as_text=True)
    assert value_of(html, "refund_amount") == "59.00"          # 259.00 paid, 200.00 refunded


def test_the_repair_form_says_whether_the_order_is_in_warranty(browser, product):
    filed = product.file("alice", order_id="O-259", type="repair")
    task = task_of(product, filed["number"], "diagnose")
    html = browser("repair_1").get(f"/tasks/{task['task_id']}").get_data(as_text=True)
    yes, no = select(html, "input", "name", "in_warranty")
    assert "checked" in yes["attrs"] and "checked" not in no["attrs"]
    shown = {dd["attrs"]["data-fact"]: dd["text"] for dd in select(html, "dd", "data-fact")}
    assert shown["phone"] == "+86 138 0000 0000"
    assert shown["address"] == "Shanghai, Xuhui, Tianyaoqiao Rd 1"
    assert shown["paid"].startswith("259.00 CNY")


def test_an_escalation_row_and_pane_show_the_request_it_is_about(browser, product, platform):
    filed = product.file("alice", order_id="O-259", type="complaint", reason="rude courier")
    respond = task_of(product, filed["number"], "respond_to_complaint")
    advance(days=7)
    product.auth.tokens.clear()                   # API tokens last 12 hours
    # A week late: a round of the watch takes a task up two levels at most (L2, expert), the
    # next round to the supervisor.
    for _ in range(2):
        assert sla.check(platform.sessions, platform.runtime, clock.now())["escalated"] >= 1
    [escalation] = [t for t in product.tasks("admin", per_page=100)
                    if t["request_number"] == sla.escalation_key(filed["number"], sla.SUPERVISOR)]

    lead = browser("cs_lead")
    html = lead.get("/inbox").get_data(as_text=True)
    [row] = [r for r in select(html, "li", "class", "task-row")
             if r["attrs"]["data-task-id"] == escalation["task_id"]]
    assert "escalation" in row["attrs"]["class"].split()
    assert f"about {filed['number']}" in row["text"] and "rude courier" in row["text"]

    pane = lead.get(f"/tasks/{escalation['task_id']}").get_data(as_text=True)
    [note] = texts(pane, "div", "class", "escalated")
    assert filed["number"] in note and "Complaint" in note
    [link] = select(pane, "a", "class", "breached-task")
    assert link["attrs"]["href"] == f"/tasks/{respond['task_id']}"
    shown = {dd["attrs"]["data-fact"]: dd["text"] for dd in select(pane, "dd", "data-fact")}
    assert shown["reason"] == "rude courier" and shown["customer"] == "alice (C001)"
    assert lead.get(link["attrs"]["href"]).status_code == 200


def test_options_are_said_in_words_and_no_english_hint_sits_under_a_chinese_label(browser, product):
    filed = product.file("bob", order_id="O-1002", type="complaint")
    task = task_of(product, filed["number"], "respond_to_complaint")
    zh = browser("customer_service_1", lang="zh_CN").get(f"/tasks/{task['task_id']}").get_data(as_text=True)
    start = zh.index('name="proposed_resolution"')
    options = {o["attrs"]["value"]: o["text"] for o in select(zh[start:zh.index("</select>", start)], "option")}
    assert options["partial_refund"] == "部分退款" and options["coupon"] == "优惠券"
    assert texts(zh, "small", "class", "hint") == []            # no "Proposed resolution" under it
    assert "建议解决方案" in texts(zh, "label", "for", "f-proposed_resolution")[0]

    en = browser("customer_service_1").get(f"/tasks/{task['task_id']}").get_data(as_text=True)
    start = en.index('name="proposed_resolution"')
    options = {o["attrs"]["value"]: o["text"] for o in select(en[start:en.index("</select>", start)], "option")}
    assert options["partial_refund"] == "Partial refund"
    assert texts(en, "small", "class", "hint") == []            # no Chinese under the English


def test_the_process_filter_names_processes_in_the_users_language(browser, product):
    html = browser("finance_1", lang="zh_CN").get("/inbox").get_data(as_text=True)
    start = html.index('name="process"')
    options = {o["attrs"]["value"]: o["text"]
               for o in select(html[start:html.index("</select>", start)], "option")}
    assert options["refund_first"] == "先退款后退货" and options["repair"] == "维修"
    html = browser("finance_1").get("/inbox").get_data(as_text=True)
    start = html.index('name="process"')
    options = {o["attrs"]["value"]: o["text"]
               for o in select(html[start:html.index("</select>", start)], "option")}
    assert options["refund_first"] == "Refund first, return later"


def test_a_refund_above_what_was_paid_keeps_the_form_with_the_amount_left(browser, product):
    filed = product.file("alice", order_id="O-259", type="return_refund")
    task = task_of(product, filed["number"], "approve_refund")
    clerk = browser("finance_1", lang="zh_CN")
    clerk.get(f"/tasks/{task['task_id']}")
    refused = clerk.post(f"/tasks/{task['task_id']}/complete",
                         {"refund_approved": "true", "refund_amount": "1999"}, fetch=True)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert field_errors(html) == {"refund_amount": "此售后单最多还可退款 259.00 元；未做任何更改。"
                                                   "请修改金额后再次提交。"}
    assert 'value="1999"' in html                               # what was typed is kept
    assert select(browser("ops_head").get("/incidents").get_data(as_text=True), "tr",
                  "data-instance-id") == []


def test_an_incident_keeps_the_form_and_a_supervisor_mends_it(browser, product, platform):
    """A refund above what was paid that no form field checks (a form marking no field
    x-refundable) stops the request (an incident): the clerk's form is kept with a sentence;
    the supervisor finds it among the incidents and retries it with a corrected amount."""
    platform.runtime.form_guards.clear()
    filed = product.file("alice", order_id="O-259", type="return_refund")
    task = task_of(product, filed["number"], "approve_refund")
    clerk = browser("finance_1")
    clerk.get(f"/tasks/{task['task_id']}")
    refused = clerk.post(f"/tasks/{task['task_id']}/complete",
                         {"refund_approved": "true", "refund_amount": "1999"}, fetch=True)
    assert refused.status_code == 422 and refused.headers["X-Keep-Input"] == "1"
    [said] = texts(refused.get_data(as_text=True), "div", "role", "alert")
    assert said.startswith("The process could not go on with this answer")

    lead = browser("ops_head")
    listed = lead.get("/incidents").get_data(as_text=True)
    [row] = select(listed, "tr", "data-instance-id")
    assert row["attrs"]["data-instance-id"] == str(filed["instance_id"]) and filed["number"] in row["text"]
    assert select(browser("cs_lead").get("/incidents").get_data(as_text=True), "tr",
                  "data-instance-id") == []                 # not a department cs_lead oversees

    page = f"/supervise/instances/{filed['instance_id']}"
    lead.get(page)
    for text in ("{not json", "[" * 100_000 + "]" * 100_000):    # the parser's RecursionError
        bad = lead.post(f"{page}/retry", {"data": text})
        assert bad.status_code == 422
        assert texts(bad.get_data(as_text=True), "div", "role", "alert") == [
            "The corrected data must be a JSON object."]
    mended = lead.post(f"{page}/retry", {"data": '{"refund_approved": true, "refund_amount": 259}'})
    assert mended.status_code == 200, texts(mended.get_data(as_text=True), "div", "role", "alert")
    assert select(lead.get("/incidents").get_data(as_text=True), "tr", "data-instance-id") == []


def test_the_supervisors_page_says_what_the_process_waits_for_in_words(browser, product):
    filed = product.file("alice", order_id="O-259", type="return_refund")
    task = task_of(product, filed["number"], "approve_refund")
    clerk = browser("finance_1")
    clerk.get(f"/tasks/{task['task_id']}")
    done = clerk.post(f"/tasks/{task['task_id']}/complete",
                      {"refund_approved": "true", "refund_amount": "259.00"}, fetch=True)
    assert done.status_code == 200
    html = browser("ops_head", lang="zh_CN").get(
        f"/supervise/instances/{filed['instance_id']}").get_data(as_text=True)
    facts = dict(zip(texts(html, "dt"), texts(html, "dd")))
    assert "支付服务商的退款结果" in facts["等待"]
