"""Money over HTTP with the real processes (bpmn/): what a finance clerk, a payment provider, an
operator and a customer meet. The ledger is the truth; a refund never exceeds what was paid;
a large refund needs a second approver; bad amounts change nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import money_audit
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.models import AuditAction
from tests.conftest import ROOT
from tests.web.conftest import error_of, order_body, pay


@pytest.fixture
def shop(auth, platform):
    """The product's processes deployed, and the orders of this file sent by the shop."""
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
    for order_id, customer, category, price in (("O-259", "C001", "apparel", "259.00"),
                                                ("O-399", "C002", "apparel", "399.00"),
                                                ("O-2500", "C001", "appliance", "2500.00")):
        sent = auth.as_("shop").put(f"/api/orders/{order_id}", json=order_body(
            customer, category, lines=((f"SKU-{order_id}", 1, price),)))
        assert sent.status_code == 201, sent.get_json()
    return auth


def approval(auth, number, bpmn_id="approve_refund", user="finance_1"):
    items = auth.as_(user).get("/api/tasks", query_string={"per_page": 100}).get_json()["items"]
    [task] = [t for t in items if t["request_number"] == number and t["bpmn_id"] == bpmn_id]
    return task["task_id"]


def approve(auth, task_id, amount, user="finance_1"):
    return auth.as_(user).post(f"/api/tasks/{task_id}/complete", json={"data": {
        "refund_approved": True, "refund_amount": amount, "refund_note": "ok"}})


def payments(auth, number, user="finance_1"):
    return auth.as_(user).get(f"/api/requests/{number}/payments")


def file(auth, user, order_id, **fields):
    filed = auth.as_(user).post("/api/requests", json={"order_id": order_id,
                                                       "type": "return_refund",
                                                       "reason": "does not fit", **fields})
    assert filed.status_code == 201, filed.get_json()
    return filed.get_json()


@pytest.mark.parametrize("asked", [1999, 99999.5])     # the second above four-eyes'
def test_a_refund_above_what_was_paid_is_refused_at_the_approval_and_changes_nothing(shop,
                                                                                    asked):
    filed = file(shop, "alice", "O-259")
    task = approval(shop, filed["number"])
    refused = approve(shop, task, asked)
    assert refused.status_code == 422
    error = error_of(refused)
    assert error["details"]["field"] == "refund_amount"
    assert "at most 259.00 is still refundable" in error["message"], error
    assert approval(shop, filed["number"]) == task                     # still open
    assert payments(shop, filed["number"]).get_json()["items"] == []
    assert [i for i in shop.as_("admin").get("/api/incidents").get_json()["items"]
            if i["instance_id"] == filed["instance_id"]] == []
    assert approve(shop, task, 259).status_code == 200
    shown = payments(shop, filed["number"]).get_json()
    assert [(p["amount"], p["status"]) for p in shown["items"]] == [("259.00", "pending")]


def test_a_refund_no_form_checks_is_an_incident_and_pays_nothing(shop, platform):
    platform.runtime.form_guards.clear()        # a form marking no field x-refundable
    filed = file(shop, "alice", "O-259")
    task = approval(shop, filed["number"])
    refused = approve(shop, task, 1999)
    assert refused.status_code == 422
    message = error_of(refused)["message"]
    assert "refund of 1999.00" in message and "at most 259.00" in message
    assert payments(shop, filed["number"]).get_json()["items"] == []
    admin = shop.as_("admin")
    [incident] = [i for i in admin.get("/api/incidents").get_json()["items"]
                  if i["instance_id"] == filed["instance_id"]]
    assert incident["element"] == "issue_refund" and "at most 259.00" in incident["last_error"]
    # The operator retries with the amount corrected: the refund is held, then paid.
    retried = admin.post(f"/api/instances/{filed['instance_id']}/retry", json={"data": {
        "refund_approved": True, "refund_amount": 259, "refund_note": "corrected"}})
    assert retried.status_code == 200, retried.get_json()
    shown = payments(shop, filed["number"]).get_json()
    assert [(p["amount"], p["status"]) for p in shown["items"]] == [("259.00", "pending")]
    history = admin.get(f"/api/instances/{filed['instance_id']}/history").get_json()["items"]
    [corrected] = [e for e in history if e["payload"].get("retry_of")]
    assert corrected["actor"] == "admin"
    assert corrected["payload"]["corrected_from"]["refund_amount"] == "1999.00"
    assert corrected["payload"]["data"]["refund_amount"] == "259.00"


def test_an_absurd_refund_no_form_checks_passes_four_eyes_and_still_pays_nothing(shop,
                                                                                platform):
    platform.runtime.form_guards.clear()
    filed = file(shop, "alice", "O-259")
    assert approve(shop, approval(shop, filed["number"]), 99999).status_code == 200
    second = approval(shop, filed["number"], "second_approval", "finance_2")
    refused = shop.as_("finance_2").post(f"/api/tasks/{second}/complete",
                                         json={"data": {"second_approved": True}})
    assert refused.status_code == 422 and "at most 259.00" in error_of(refused)["message"]
    assert payments(shop, filed["number"]).get_json()["items"] == []
    # The operator drops the confirmation; the second approver sends it back instead.
    admin = shop.as_("admin")
    assert admin.post(f"/api/instances/{filed['instance_id']}/skip",
                      json={"reason": "amount wrong"}).status_code == 200
    assert shop.as_("finance_2").post(f"/api/tasks/{second}/complete", json={"data": {
        "second_approved": False, "second_note": "paid 259 only"}}).status_code == 200
    assert approve(shop, approval(shop, filed["number"]), 259).status_code == 200
    [held] = payments(shop, filed["number"]).get_json()["items"]
    assert (held["amount"], held["status"]) == ("259.00", "pending")


def test_an_order_refunded_in_full_is_not_refunded_again(shop):
    first = file(shop, "bob", "O-399")
    assert approve(shop, approval(shop, first["number"]), 399).status_code == 200
    assert pay(shop, first["number"]).status_code == 200
    bob = shop.as_("bob")
    assert bob.post(f"/api/requests/{first['number']}/shipped",
                    json={"tracking_no": "SF1", "carrier": "SF"}).status_code == 200
    inspect = approval(shop, first["number"], "inspect_goods", "warehouse_1")
    assert shop.as_("warehouse_1").post(f"/api/tasks/{inspect}/complete", json={"data": {
        "inspection_passed": True, "goods_condition": "as_new",
        "inspection_note": ""}}).status_code == 200
    assert bob.post(f"/api/requests/{first['number']}/rating",
                    json={"score": 5}).status_code == 200
    assert bob.get(f"/api/requests/{first['number']}").get_json()["status"] == "closed"

    second = file(shop, "bob", "O-399")           # the item is free again: its request closed
    refused = approve(shop, approval(shop, second["number"]), 399)
    assert refused.status_code == 422
    assert "at most 0.00" in error_of(refused)["message"]
    assert payments(shop, second["number"]).get_json()["items"] == []
    assert payments(shop, first["number"], "bob").get_json()["refunded"] == "399.00"


def test_a_large_refund_needs_a_second_finance_approver(shop):
    filed = file(shop, "customer_service_1", "O-2500", customer_id="C001", customer_tier="vip")
    assert approve(shop, approval(shop, filed["number"]), 2500).status_code == 200
    assert payments(shop, filed["number"]).get_json()["items"] == []    # not yet
    second = approval(shop, filed["number"], "second_approval")
    finance_1 = shop.as_("finance_1")
    assert finance_1.post(f"/api/tasks/{second}/claim").status_code == 403
    refused = finance_1.post(f"/api/tasks/{second}/complete",
                             json={"data": {"second_approved": True}})
    assert refused.status_code == 403 and "second person" in error_of(refused)["message"]
    confirmed = shop.as_("finance_2").post(f"/api/tasks/{second}/complete",
                                           json={"data": {"second_approved": True}})
    assert confirmed.status_code == 200, confirmed.get_json()
    [held] = payments(shop, filed["number"]).get_json()["items"]
    assert (held["amount"], held["status"], held["approved_by"]) == \
        ("2500.00", "pending", "finance_2")


@pytest.mark.parametrize("raw, why", [
    ('-1', "minimum of 0"), ('259.001', "more than two decimals"), ('"259"', "number"),
    ('258.9999999999999999', "more than two decimals"),      # a float would read it as 259.0
    ('NaN', "finite"), ('Infinity', "finite"), ('true', "number")])
def test_a_bad_amount_is_refused_naming_the_field_and_changes_nothing(shop, raw, why):
    filed = file(shop, "alice", "O-259")
    task = approval(shop, filed["number"])
    body = '{"data": {"refund_approved": true, "refund_amount": %s, "refund_note": ""}}' % raw
    response = shop.as_("finance_1").post(f"/api/tasks/{task}/complete", data=body,
                                          content_type="application/json")
    assert response.status_code == 422, response.get_json()
    assert error_of(response)["details"]["field"] in ("refund_amount", "data.refund_amount")
    assert why in error_of(response)["message"]
    assert approval(shop, filed["number"]) == task                     # still open
    assert payments(shop, filed["number"]).get_json()["items"] == []


def test_the_timeline_says_paid_only_when_the_ledger_does(shop):
    filed = file(shop, "alice", "O-259")
    assert approve(shop, approval(shop, filed["number"]), 259).status_code == 200
    alice = shop.as_("alice")
    events = [e["event"] for e in alice.get(f"/api/requests/{filed['number']}").get_json()["timeline"]]
    assert "refund_pending" in events and "refund_paid" not in events
    forged = shop.as_("payment").post("/api/messages", json={
        "name": "refund_result", "correlation": filed["number"],
        "payload": {"status": "paid", "amount": 259, "idempotency_key": "forged"}})
    assert forged.status_code == 404
    key = payments(shop, filed["number"]).get_json()["items"][0]["idempotency_key"]
    paid = shop.as_("payment").post("/api/messages", json={
        "name": "refund_result", "correlation": filed["number"],
        "payload": {"status": "paid", "idempotency_key": key, "reference": "RF-9",
                    "provider_status": "SUCCESS " + "x" * 200}})
    assert paid.status_code == 200, paid.get_json()
    again = pay_again = shop.as_("payment").post("/api/messages", json={
        "name": "refund_result", "correlation": filed["number"],
        "payload": {"status": "paid", "idempotency_key":
                    payments(shop, filed["number"]).get_json()["items"][0]["idempotency_key"]}})
    assert again.status_code == 200 and pay_again.get_json()["delivered_to"]
    timeline = alice.get(f"/api/requests/{filed['number']}").get_json()["timeline"]
    paid = [e for e in timeline if e["event"] == "refund_paid"]
    assert [e["details"]["amount"] for e in paid] == ["259.00"]       # once, from the ledger
    shown = payments(shop, filed["number"], "alice").get_json()
    assert (shown["refunded"], shown["pending"]) == ("259.00", "0.00")


def test_payments_are_shown_to_finance_and_their_customer_only(shop):
    filed = file(shop, "alice", "O-259")
    assert payments(shop, filed["number"], "alice").status_code == 200
    assert payments(shop, filed["number"], "bob").status_code == 404
    assert payments(shop, filed["number"], "warehouse_1").status_code == 403
    assert payments(shop, filed["number"], "auditor").status_code == 200


def resend(auth, order_id, lines, **fields):
    return auth.as_("shop").put(f"/api/orders/{order_id}", json=order_body(
        fields.pop("customer_id", "C001"), "apparel", lines=lines, **fields))


def book_problems(platform) -> list[str]:
    with platform.sessions.begin() as session:
        return [p.message for p in money_audit.check(session).problems]


def test_the_shop_cannot_take_back_what_was_refunded_nor_drop_a_held_item(shop, platform):
    filed = file(shop, "alice", "O-259")
    assert approve(shop, approval(shop, filed["number"]), 200).status_code == 200
    refused = {
        "paid_amount": (resend(shop, "O-259", (("SKU-O-259", 1, "150.00"),)), 409),
        "currency": (resend(shop, "O-259", (("SKU-O-259", 1, "259.00"),), currency="USD"), 422),
        "items": (resend(shop, "O-259", (("SKU-OTHER", 1, "259.00"),)), 409)}
    for field, (response, status) in refused.items():
        assert response.status_code == status, (field, response.get_json())
        assert error_of(response)["details"]["field"] == field
    shown = shop.as_("alice").get("/api/orders/O-259").get_json()
    assert (shown["paid_amount"], shown["currency"], shown["items"][0]["sku"]) == \
        ("259.00", "CNY", "SKU-O-259")
    assert book_problems(platform) == []


def test_a_price_the_shop_corrects_moves_the_book_and_is_logged(shop, platform):
    filed = file(shop, "alice", "O-259")
    assert approve(shop, approval(shop, filed["number"]), 200).status_code == 200
    corrected = resend(shop, "O-259", (("SKU-O-259", 1, "229.00"),))
    assert corrected.status_code == 200, corrected.get_json()
    assert book_problems(platform) == []             # order_balance.paid follows the order
    with platform.sessions.begin() as session:
        [changed] = session.scalars(select(AuditAction).where(
            AuditAction.kind == "order_paid_changed")).all()
        assert (changed.actor, changed.subject, changed.payload) == \
            ("shop", "order:O-259", {"before": "259.00", "after": "229.00"})


def close(auth, number, user):
    """The return's goods arrive and pass inspection, and the customer rates: closed."""
    customer = auth.as_(user)
    assert customer.post(f"/api/requests/{number}/shipped",
                         json={"tracking_no": "SF1", "carrier": "SF"}).status_code == 200
    inspect = approval(auth, number, "inspect_goods", "warehouse_1")
    assert auth.as_("warehouse_1").post(f"/api/tasks/{inspect}/complete", json={"data": {
        "inspection_passed": True, "goods_condition": "as_new",
        "inspection_note": ""}}).status_code == 200
    assert customer.post(f"/api/requests/{number}/rating", json={"score": 5}).status_code == 200
    assert customer.get(f"/api/requests/{number}").get_json()["status"] == "closed"


def test_an_item_refunded_by_one_request_is_not_refunded_again_by_the_next(shop,
                                                                         platform):
    sent = shop.as_("shop").put("/api/orders/O-TWO", json=order_body(
        "C001", "apparel", lines=(("COAT", 1, "300.00"), ("HAT", 1, "100.00"))))
    assert sent.status_code == 201, sent.get_json()
    first = file(shop, "alice", "O-TWO", items=[{"sku": "COAT"}])
    assert approve(shop, approval(shop, first["number"]), 300).status_code == 200
    assert pay(shop, first["number"]).status_code == 200
    close(shop, first["number"], "alice")

    again = file(shop, "alice", "O-TWO", items=[{"sku": "COAT"}])   # free again: it closed
    refused = approve(shop, approval(shop, again["number"]), 300)
    assert refused.status_code == 422, refused.get_json()
    assert "at most 0.00" in error_of(refused)["message"]
    assert payments(shop, again["number"]).get_json()["refundable"] == "0.00"
    hat = file(shop, "alice", "O-TWO", items=[{"sku": "HAT"}])       # the other item still is
    assert payments(shop, hat["number"]).get_json()["refundable"] == "100.00"
    assert approve(shop, approval(shop, hat["number"]), 100).status_code == 200
    assert book_problems(platform) == []


def test_a_declined_refund_is_not_checked_and_an_approved_one_of_nothing_is_refused(shop):
    filed = file(shop, "alice", "O-259")
    task = approval(shop, filed["number"])
    for amount in (0, "-0.00"):
        refused = shop.as_("finance_1").post(f"/api/tasks/{task}/complete", json={"data": {
            "refund_approved": True, "refund_amount": amount, "refund_note": ""}})
        assert refused.status_code == 422 and error_of(refused)["details"]["field"] == \
            "refund_amount", refused.get_json()
    declined = shop.as_("finance_1").post(f"/api/tasks/{task}/complete", json={"data": {
        "refund_approved": False, "refund_amount": 1999, "refund_note": "not ours"}})
    assert declined.status_code == 200, declined.get_json()
    assert payments(shop, filed["number"]).get_json()["items"] == []


def test_a_huge_amount_is_refused_as_too_large_not_as_infinite(shop):
    filed = file(shop, "alice", "O-259")
    body = '{"data": {"refund_approved": true, "refund_amount": 1e999999999}}'
    refused = shop.as_("finance_1").post(f"/api/tasks/{approval(shop, filed['number'])}/complete",
                                         data=body, content_type="application/json")
    assert refused.status_code == 422 and "finite" not in error_of(refused)["message"], \
        error_of(refused)
