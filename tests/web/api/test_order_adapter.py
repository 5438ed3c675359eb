"""The HTTP order adapter: filing for an order the platform does not know asks the shop's
order API (a real HTTP server on 127.0.0.1, started here), stores what it answers through the
order checks, then files."""
from __future__ import annotations

import pytest

from engine import signatures
from tests.http_server import LocalServer
from tests.web.conftest import Auth, error_of, order_body, populate
from web import create_app

OUTGOING_SECRET = "the-platforms-outgoing-secret-for-tests"


class Shop(LocalServer):
    """The shop's order API: `orders` maps an order id to the (status, body) it answers with."""

    def __init__(self):
        self.orders: dict[str, tuple[int, object]] = {}
        super().__init__(lambda got: self.orders.get(got.path.removeprefix("/api/orders/"),
                                                     (404, {"error": "no such order"})))
        self.url += "/api"


@pytest.fixture
def shop():
    running = Shop()
    yield running
    running.stop()


@pytest.fixture
def auth(db_url, tmp_path, shop):
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "orders_http_url": shop.url, "orders_http_timeout": 2.0,
                      "outgoing_secret": OUTGOING_SECRET,
                      "TESTING": True, "SQL_DURABLE": False})
    populate(app.extensions["aftersales"])
    yield Auth(app.test_client())
    app.extensions["aftersales"].engine.dispose()


def file(auth, order_id, user="alice", **fields):
    return auth.as_(user).post("/api/requests", json={"order_id": order_id, "type": "return_refund",
                                                      "reason": "broken", **fields})


def test_an_unknown_order_is_fetched_from_the_shop_stored_and_filed_from(auth, shop):
    shop.orders["O-7001"] = (200, {"order_id": "O-7001", **order_body(
        "C001", "appliance", [("KETTLE", 1, "189.00")])})
    filed = file(auth, "O-7001")
    assert filed.status_code == 201, filed.get_json()
    assert shop.asked == ["/api/orders/O-7001"]
    # The shop can tell the call is the platform's: signed over the empty body of the GET.
    signatures.verify([OUTGOING_SECRET], b"", shop.signatures[0])
    shown = auth.as_("alice").get(f"/api/requests/{filed.get_json()['number']}").get_json()
    assert (shown["category"], shown["amount"]) == ("appliance", "189.00")
    assert auth.as_("alice").get("/api/orders/O-7001").get_json()["paid_amount"] == "189.00"
    assert file(auth, "O-7001", type="complaint").status_code == 201
    assert shop.asked == ["/api/orders/O-7001"]              # stored: not asked again


def test_an_order_the_shop_does_not_have_is_404_naming_order_id(auth, shop):
    response = file(auth, "O-7002")
    assert response.status_code == 404 and error_of(response)["details"]["field"] == "order_id"
    assert shop.asked == ["/api/orders/O-7002"]


def test_another_customers_order_from_the_shop_is_not_filed(auth, shop):
    shop.orders["O-7003"] = (200, order_body("C002", "3c"))
    response = file(auth, "O-7003")
    assert response.status_code == 404 and error_of(response)["details"]["field"] == "order_id"
    assert auth.as_("alice").get("/api/requests").get_json()["total"] == 0
    assert file(auth, "O-7003", user="bob").status_code == 201      # its customer may


@pytest.mark.parametrize("answer", [
    (500, {"error": "down"}), (200, b"not json"), (200, [1, 2]),
    (200, {**order_body(), "paid_amount": "NaN"}), (200, {**order_body(), "order_id": "O-other"}),
])
def test_a_shop_that_cannot_answer_refuses_the_filing_and_stores_nothing(auth, shop, answer):
    shop.orders["O-7004"] = answer
    response = file(auth, "O-7004")
    assert response.status_code == 409, response.get_json()
    assert error_of(response)["details"]["field"] == "order_id"
    assert auth.as_("alice").get("/api/orders/O-7004").status_code == 404
    assert auth.as_("alice").get("/api/requests").get_json()["total"] == 0


def test_a_shop_that_is_down_refuses_the_filing(auth, shop):
    shop.stop()
    response = file(auth, "O-7005")
    assert response.status_code == 409 and "did not answer" in error_of(response)["message"]


def test_without_the_setting_nothing_is_asked(shop, client, world):
    response = Auth(client).as_("alice").post("/api/requests", json={"order_id": "O-7006",
                                                                      "type": "repair"})
    assert response.status_code == 404 and shop.asked == []
