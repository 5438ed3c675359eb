"""Filing takes its facts from the order: the customer chooses items and quantities, the price
is the order's, and an order item has one open request at a time."""
from __future__ import annotations

import pytest

from tests.web.conftest import error_of, file_request, order_body


def shown(auth, filed, user="customer_service_1"):
    return auth.as_(user).get(f"/api/requests/{filed['number']}").get_json()


def test_the_amount_is_what_was_paid_for_the_chosen_items(auth):
    filed = file_request(auth, "alice", order_id="O-1004", type="return_refund",
                         items=[{"sku": "SOCKS", "quantity": 2}])
    request = shown(auth, filed)
    assert (request["category"], request["amount"]) == ("apparel", "20.00")
    assert request["items"] == [{"sku": "SOCKS", "name": "item SOCKS", "quantity": 2,
                                 "unit_price": "10.00"}]


def test_without_a_choice_the_request_is_about_every_item(auth):
    filed = file_request(auth, "alice", order_id="O-1004", type="exchange")
    request = shown(auth, filed)
    assert request["amount"] == "60.00"
    assert [(i["sku"], i["quantity"]) for i in request["items"]] == [("SOCKS", 3), ("HAT", 1)]


@pytest.mark.parametrize("items, field", [
    ([{"sku": "SOCKS", "quantity": 4}], "items[0].quantity"),
    ([{"sku": "SOCKS", "quantity": 0}], "items[0].quantity"),
    ([{"sku": "HAT"}, {"sku": "BOOTS"}], "items[1].sku"),
    ([{"sku": "HAT"}, {"sku": "HAT"}], "items[1].sku"),
    ([], "items"),
])
def test_bad_choices_name_the_field_and_file_nothing(auth, items, field):
    response = auth.as_("alice").post("/api/requests", json={
        "order_id": "O-1004", "type": "return_refund", "items": items})
    assert response.status_code == 422, response.get_json()
    assert error_of(response)["details"]["field"] == field
    assert auth.as_("alice").get("/api/requests").get_json()["total"] == 0


def test_a_chosen_price_may_not_be_sent(auth):
    response = auth.as_("alice").post("/api/requests", json={
        "order_id": "O-1004", "type": "return_refund",
        "items": [{"sku": "HAT", "quantity": 1, "unit_price": "999.00"}]})
    assert response.status_code == 422
    assert error_of(response)["details"]["field"] == "unit_price"


def test_an_item_with_an_open_request_is_refused_naming_it(auth):
    first = file_request(auth, "alice", order_id="O-1004", type="return_refund",
                         items=[{"sku": "SOCKS", "quantity": 1}])
    again = auth.as_("alice").post("/api/requests", json={
        "order_id": "O-1004", "type": "repair", "items": [{"sku": "SOCKS", "quantity": 2}]})
    assert again.status_code == 409
    error = error_of(again)
    assert error["details"]["open_request"] == first["number"] and first["number"] in error["message"]
    whole = auth.as_("alice").post("/api/requests", json={"order_id": "O-1004", "type": "exchange"})
    assert whole.status_code == 409                        # every item, SOCKS among them
    hat = file_request(auth, "alice", order_id="O-1004", type="exchange", items=[{"sku": "HAT"}])
    complaint = file_request(auth, "alice", order_id="O-1004", type="complaint", reason="rude")
    assert auth.as_("alice").get("/api/requests?order_id=O-1004").get_json()["total"] == 3
    assert hat["number"] != complaint["number"]


def test_once_the_open_request_is_cancelled_the_item_may_be_filed_again(auth):
    first = file_request(auth, "alice", order_id="O-1003", type="return_refund")
    cancelled = auth.as_("admin").post(f"/api/instances/{first['instance_id']}/cancel",
                                       json={"reason": "filed by mistake"})
    assert cancelled.status_code == 200, cancelled.get_json()
    again = file_request(auth, "alice", order_id="O-1003", type="return_refund")
    assert again["number"] != first["number"]


def test_warranty_comes_from_the_order(auth):
    ended = order_body("C001", "3c", [("TV", 1, "3999.00")],
                       warranty_until="2026-01-01T00:00:00+08:00")
    assert auth.as_("shop").put("/api/orders/O-5001", json=ended).status_code == 201
    filed = file_request(auth, "alice", order_id="O-5001", type="repair")
    valid = file_request(auth, "alice", order_id="O-1001", type="repair")
    admin = auth.as_("admin")
    started = [admin.get(f"/api/instances/{f['instance_id']}/history").get_json()["items"][0]
               for f in (filed, valid)]
    assert [s["payload"]["data"]["in_warranty"] for s in started] == [False, True]
    data = started[0]["payload"]["data"]
    assert (data["amount"], data["address"], data["category"]) == ("3999.00", "Shanghai", "3c")
