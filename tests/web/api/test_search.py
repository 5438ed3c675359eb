"""GET /api/search (issue 19, item 2): requests by number, order, customer (id, user name,
display name) or phone, as far as the caller may read them, on SQLite and PostgreSQL (the
phone is found through an expression index that must be written alike in both)."""
from __future__ import annotations

import pytest

from engine import users
from tests.web.conftest import FAST_HASH, PASSWORD, error_of, file_request, order_body
from web import create_app


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, db_url, tmp_path):
    if request.param == "postgresql":
        db_url = request.getfixturevalue("pg_url")
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False})
    yield app
    app.extensions["aftersales"].engine.dispose()


@pytest.fixture
def filed(auth, platform):
    """alice (shown as 王小红) with phone +86 138 0013 8000 on O-1001, and bob's request."""
    with platform.sessions.begin() as session:
        users.create_user(session, "carol", PASSWORD, "customer", customer_id="C003",
                          display_name="王小红", method=FAST_HASH)
    sent = auth.as_("shop").put("/api/orders/O-5001", json=order_body(
        "C003", "3c", lines=(("SKU-TV", 1, "1999.00"),),
        contact={"phone": "+86 138 0013 8000", "channel": "sms"}))
    assert sent.status_code == 201, sent.get_json()
    return {"carol": file_request(auth, "carol", order_id="O-5001")["number"],
            "alice": file_request(auth, "alice", order_id="O-1001")["number"],
            "bob": file_request(auth, "bob", order_id="O-1002", type="complaint")["number"]}


def found(auth, q, user="customer_service_1"):
    response = auth.as_(user).get("/api/search", query_string={"q": q})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return {item["number"]: body["matched"][item["number"]] for item in body["items"]}


@pytest.mark.parametrize("q, who, how", [
    ("{number}", "carol", "number"),
    ("O-5001", "carol", "order"),
    ("C003", "carol", "customer"),
    ("carol", "carol", "customer"),
    ("王小红", "carol", "customer"),
    ("13800138000", "carol", "phone"),
    ("138 0013 8000", "carol", "phone"),
    ("+86 138-0013-8000", "carol", "phone"),
])
def test_a_request_is_found_by_each_key(auth, filed, q, who, how):
    assert found(auth, q.format(number=filed[who])) == {filed[who]: how}


def test_a_request_number_is_found_in_lower_case_too(auth, filed):
    assert found(auth, filed["bob"].lower()) == {filed["bob"]: "number"}


def test_nothing_matches_a_part_of_a_key(auth, filed):
    assert found(auth, "O-50") == {} and found(auth, "1380013") == {}


def test_staff_outside_customer_service_find_only_requests_with_their_work(auth, filed):
    """Finance has no task of these requests: it finds none of them, by any key."""
    for q in (filed["carol"], "O-5001", "C003", "13800138000"):
        assert found(auth, q, user="finance_1") == {}
    assert found(auth, "O-5001", user="auditor") == {filed["carol"]: "order"}


def test_a_bad_query_is_422_naming_q_and_customers_may_not_search(auth, filed):
    for q in ("", "   ", "x" * 101):
        refused = auth.as_("customer_service_1").get("/api/search", query_string={"q": q})
        assert refused.status_code == 422 and error_of(refused)["details"]["field"] == "q"
    assert auth.as_("alice").get("/api/search", query_string={"q": "C001"}).status_code == 403
