"""Orders over HTTP: the shop sends them (idempotent, validated), customers read their own,
staff a customer's."""
from __future__ import annotations

import pytest

from tests.web.conftest import error_of, order_body


def put(auth, order_id, body, user="shop"):
    return auth.as_(user).put(f"/api/orders/{order_id}", json=body)


def test_the_shop_sends_an_order_once_and_again_unchanged(auth):
    body = order_body(lines=[("PHONE", 1, "1999.00"), ("CASE", 2, "49.50")])
    first = put(auth, "O-2001", body)
    assert first.status_code == 201, first.get_json()
    stored = first.get_json()
    assert (stored["result"], stored["paid_amount"], stored["currency"]) == ("created", "2098.00", "CNY")
    assert stored["items"][1] == {"sku": "CASE", "name": "item CASE", "quantity": 2, "unit_price": "49.50"}
    again = put(auth, "O-2001", body)
    assert again.status_code == 200 and again.get_json()["result"] == "unchanged"
    shown = auth.as_("customer_service_1").get("/api/orders?customer_id=C001").get_json()["items"]
    assert [o["order_id"] for o in shown].count("O-2001") == 1


def test_a_changed_order_is_updated(auth):
    put(auth, "O-2002", order_body())
    moved = put(auth, "O-2002", order_body(shipping_address="Beijing", channel="store"))
    assert moved.status_code == 200 and moved.get_json()["result"] == "updated"
    shown = auth.as_("alice").get("/api/orders/O-2002").get_json()
    assert (shown["shipping_address"], shown["channel"]) == ("Beijing", "store")


@pytest.mark.parametrize("change, field", [
    ({"paid_amount": "-1.00"}, "paid_amount"), ({"paid_amount": "NaN"}, "paid_amount"),
    ({"paid_amount": "Infinity"}, "paid_amount"), ({"paid_amount": "299.001"}, "paid_amount"),
    ({"paid_amount": "lots"}, "paid_amount"), ({"paid_amount": True}, "paid_amount"),
    ({"paid_amount": "300.00"}, "paid_amount"),                 # the items add up to 299.00
    ({"items": [{"sku": "A", "name": "a", "quantity": 0, "unit_price": "1.00"}]}, "items[0].quantity"),
    ({"items": [{"sku": "A", "name": "a", "quantity": 1, "unit_price": "1.005"}]}, "items[0].unit_price"),
    ({"items": [{"sku": "A", "name": "a", "quantity": 1}]}, "items[0].unit_price"),
    ({"items": []}, "items"), ({"category": "rockets"}, "category"), ({"currency": "yuan"}, "currency"),
    ({"currency": "USD"}, "currency"),                            # the book is in CNY
    ({"paid_at": "yesterday"}, "paid_at"), ({"paid_at": "2026-11-01T10:00:00"}, "paid_at"),
    ({"paid_at": "9999-12-31T23:59:59-14:00"}, "paid_at"),      # the year 10000 in UTC
    ({"delivered_at": "0001-01-01T00:00:00+14:00"}, "delivered_at"),
    ({"customer_id": None}, "customer_id"), ({"surprise": 1}, "surprise"),
])
def test_bad_orders_are_refused_naming_the_field_and_store_nothing(auth, change, field):
    response = put(auth, "O-2003", {**order_body(), **change})
    assert response.status_code == 422, response.get_json()
    assert error_of(response)["details"]["field"] == field
    assert auth.as_("alice").get("/api/orders/O-2003").status_code == 404


def test_missing_fields_are_named(auth):
    body = order_body()
    del body["paid_at"]
    response = put(auth, "O-2004", body)
    assert response.status_code == 422 and error_of(response)["details"]["field"] == "paid_at"


def test_non_finite_json_numbers_are_refused(auth):
    for value in ("NaN", "Infinity", "-Infinity"):
        raw = '{"customer_id": "C001", "category": "3c", "currency": "CNY", "paid_amount": %s, ' \
              '"paid_at": "2026-11-01T10:00:00+08:00", "items": [{"sku": "A", "name": "a", ' \
              '"quantity": 1, "unit_price": "1.00"}]}' % value
        response = auth.as_("shop").put("/api/orders/O-2005", data=raw,
                                        content_type="application/json")
        assert response.status_code == 422, value
        assert error_of(response)["details"]["field"] == "paid_amount"


def test_numbers_are_read_by_their_decimal_text(auth):
    body = order_body(lines=[("A", 3, "0.10")], paid_amount=0.3)
    body["items"][0]["unit_price"] = 0.1
    response = put(auth, "O-2006", body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["paid_amount"] == "0.30"


def test_a_customer_lists_only_their_own_orders_and_cannot_read_anothers(auth):
    mine = auth.as_("alice").get("/api/orders?customer_id=C002").get_json()["items"]
    assert {o["order_id"] for o in mine} == {"O-1001", "O-1003", "O-1004"}
    assert auth.as_("alice").get("/api/orders/O-1002").status_code == 404
    assert auth.as_("bob").get("/api/orders/O-1002").get_json()["paid_amount"] == "120.00"
    assert auth.as_("alice").get("/api/orders/O-0000").status_code == 404


def test_staff_name_the_customer(auth):
    staff = auth.as_("customer_service_1")
    without = staff.get("/api/orders")
    assert without.status_code == 422 and error_of(without)["details"]["field"] == "customer_id"
    assert [o["order_id"] for o in staff.get("/api/orders?customer_id=C002").get_json()["items"]] == ["O-1002"]
    assert staff.get("/api/orders/O-1002").status_code == 200


@pytest.mark.parametrize("user", ["alice", "customer_service_1", "admin", "courier", "payment"])
def test_only_the_shop_sends_orders(auth, user):
    assert put(auth, "O-2007", order_body(), user=user).status_code == 403


def test_the_shop_may_do_nothing_else(auth):
    shop = auth.as_("shop")
    assert shop.get("/api/orders?customer_id=C001").status_code == 403
    assert shop.get("/api/requests").status_code == 403
    assert shop.post("/api/messages", json={"name": "picked_up", "correlation": "x"}).status_code == 403


def test_an_orders_customer_cannot_change_once_a_request_was_filed(auth):
    filed = auth.as_("alice").post("/api/requests", json={"order_id": "O-1003", "type": "complaint",
                                                          "reason": "late"})
    assert filed.status_code == 201, filed.get_json()
    moved = put(auth, "O-1003", order_body("C002", "fresh", [("SKU-O-1003", 1, "50.00")]))
    assert moved.status_code == 409 and error_of(moved)["details"]["field"] == "customer_id"
    assert auth.as_("alice").get("/api/orders/O-1003").status_code == 200


def test_times_keep_their_instant_whatever_the_offset(auth):
    sent = order_body(paid_at="2026-11-01T10:00:00+08:00")
    assert put(auth, "O-2008", sent).status_code == 201
    assert auth.as_("alice").get("/api/orders/O-2008").get_json()["paid_at"] == "2026-11-01T02:00:00+00:00"
    assert put(auth, "O-2008", {**sent, "paid_at": "2026-11-01T02:00:00Z"}).get_json()["result"] == "unchanged"


def test_a_negative_zero_price_is_stored_and_shown_as_zero(auth):
    body = order_body(lines=[("GIFT", 1, "-0.00"), ("A", 1, "10.00")])
    stored = put(auth, "O-2009", body)
    assert stored.status_code == 201, stored.get_json()
    assert stored.get_json()["items"][0]["unit_price"] == "0.00"
