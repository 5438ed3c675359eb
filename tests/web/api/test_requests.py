"""Filing requests, listing them, the customer's timeline and the customer's answers."""
from __future__ import annotations

import pytest

from tests.web.conftest import error_of, file_request, open_tasks


def complete(auth, user, task, data):
    response = auth.as_(user).post(f"/api/tasks/{task['task_id']}/complete", json={"data": data})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_customer_files_from_an_order_with_the_orders_data(auth):
    filed = file_request(auth, "alice", order_id="O-1001", type="repair", reason="screen flickers")
    assert filed["number"].startswith("AS-20261123-") and filed["instance_id"] > 0
    shown = auth.as_("alice").get(f"/api/requests/{filed['number']}").get_json()
    assert (shown["customer_id"], shown["category"], shown["amount"]) == ("C001", "3c", "299.00")
    assert shown["status"] == "in_progress"
    assert "priority" not in shown and "instance_id" not in shown     # internal fields
    [task] = open_tasks(auth)
    assert (task["bpmn_id"], task["department"], task["request_number"]) == (
        "diagnose", "repair", filed["number"])


def test_customer_cannot_file_for_someone_else(auth):
    other = auth.as_("alice").post("/api/requests", json={"order_id": "O-1002", "type": "exchange"})
    assert other.status_code == 404 and error_of(other)["details"]["field"] == "order_id"
    spoof = auth.as_("alice").post("/api/requests", json={"order_id": "O-1002", "type": "exchange",
                                                          "customer_id": "C002"})
    assert spoof.status_code == 422 and error_of(spoof)["details"]["field"] == "customer_id"
    assert auth.as_("bob").get("/api/requests").get_json()["total"] == 0


@pytest.mark.parametrize("field, value", [
    ("customer_tier", "vip"), ("category", "fresh"), ("amount", "1999.00"), ("in_warranty", True),
    ("address", "Beijing"), ("customer_id", "C001")])
def test_customers_may_not_set_what_the_order_or_staff_decide(auth, field, value):
    refused = auth.as_("alice").post("/api/requests", json={"order_id": "O-1001", "type": "exchange",
                                                            field: value})
    assert refused.status_code == 422 and error_of(refused)["details"]["field"] == field
    assert auth.as_("alice").get("/api/requests").get_json()["total"] == 0


def test_customer_service_files_for_a_customer(auth):
    filed = file_request(auth, "customer_service_1", order_id="O-1002", type="complaint",
                         customer_id="C002", customer_tier="vip")
    shown = auth.as_("bob").get(f"/api/requests/{filed['id']}")
    assert shown.status_code == 200 and shown.get_json()["type"] == "complaint"
    staff = auth.as_("customer_service_1").get(f"/api/requests/{filed['id']}").get_json()
    assert (staff["customer_tier"], staff["category"], staff["amount"]) == ("vip", "apparel", "120.00")


def test_staff_name_the_customer_who_owns_the_order(auth):
    staff = auth.as_("customer_service_1")
    nameless = staff.post("/api/requests", json={"order_id": "O-1002", "type": "complaint"})
    assert nameless.status_code == 422 and error_of(nameless)["details"]["field"] == "customer_id"
    wrong = staff.post("/api/requests", json={"order_id": "O-1002", "type": "complaint",
                                              "customer_id": "C001"})
    assert wrong.status_code == 422 and error_of(wrong)["details"]["field"] == "customer_id"
    assert staff.get("/api/requests").get_json()["total"] == 0


@pytest.mark.parametrize("user", ["finance_1", "ops_head", "owner", "auditor", "courier"])
def test_others_may_not_file(auth, user):
    response = auth.as_(user).post("/api/requests", json={"order_id": "O-1001", "type": "exchange"})
    assert response.status_code == 403


@pytest.mark.parametrize("fields, field", [
    ({"type": "teleport"}, "type"), ({"type": "repair", "amount": -1}, "amount"),
    ({"type": "repair", "amount": 5000}, "amount"), ({"type": "repair", "pickup": "yes"}, "pickup"),
    ({"type": "repair", "surprise": 1}, "surprise"), ({"type": "repair", "in_warranty": True}, "in_warranty"),
])
def test_invalid_filings_name_the_field(auth, fields, field):
    response = auth.as_("customer_service_1").post("/api/requests", json={
        "order_id": "O-1001", "customer_id": "C001", **fields})
    assert response.status_code == 422
    assert error_of(response)["details"]["field"] == field


@pytest.mark.parametrize("user", ["alice", "customer_service_1"])
def test_an_unknown_order_is_404_naming_order_id(auth, user):
    response = auth.as_(user).post("/api/requests", json={
        "order_id": "O-9999", "type": "return_refund", "category": "3c", "amount": "1999.00",
        **({"customer_id": "C001"} if user != "alice" else {})})
    assert response.status_code == 422          # the customer's facts are refused first
    bare = auth.as_(user).post("/api/requests", json={
        "order_id": "O-9999", "type": "return_refund", **({"customer_id": "C001"} if user != "alice" else {})})
    assert bare.status_code == 404 and error_of(bare)["details"]["field"] == "order_id"
    assert auth.as_("admin").get("/api/requests").get_json()["total"] == 0


def test_idempotency_key_files_once(auth):
    first = file_request(auth, "alice", idempotency_key="app-42")
    again = auth.as_("alice").post("/api/requests", json={"order_id": "O-1001", "type": "return_refund",
                                                          "idempotency_key": "app-42"})
    assert again.status_code == 200 and again.get_json()["id"] == first["id"]
    stolen = auth.as_("bob").post("/api/requests", json={"order_id": "O-1002", "type": "exchange",
                                                         "idempotency_key": "app-42"})
    assert stolen.status_code == 409


def test_lists_customers_see_their_own_customer_service_all_with_filters(auth):
    a = file_request(auth, "alice", order_id="O-1001", type="repair")
    file_request(auth, "alice", order_id="O-1003", type="return_refund")
    b = file_request(auth, "bob", order_id="O-1002", type="complaint")
    mine = auth.as_("alice").get("/api/requests").get_json()
    assert mine["total"] == 2 and {r["customer_id"] for r in mine["items"]} == {"C001"}
    assert auth.as_("alice").get("/api/requests?customer_id=C002").get_json()["total"] == 0
    staff = auth.as_("customer_service_1")
    assert staff.get("/api/requests").get_json()["total"] == 3
    assert [r["id"] for r in staff.get("/api/requests?type=complaint").get_json()["items"]] == [b["id"]]
    assert [r["id"] for r in staff.get("/api/requests?category=3c").get_json()["items"]] == [a["id"]]
    page = staff.get("/api/requests?per_page=2&page=2").get_json()
    assert (page["total"], len(page["items"]), page["page"]) == (3, 1, 2)
    bad = staff.get("/api/requests?status=lost")
    assert bad.status_code == 422 and error_of(bad)["details"]["field"] == "status"
    assert staff.get("/api/requests?per_page=101").status_code == 422


def test_other_departments_see_the_requests_they_work_on(auth):
    refund = file_request(auth, "alice", order_id="O-1003", type="return_refund")
    complaint = file_request(auth, "bob", order_id="O-1002", type="complaint")
    finance = auth.as_("finance_1")
    assert finance.get("/api/requests").get_json()["total"] == 0
    refused = finance.get(f"/api/requests/{complaint['number']}")
    assert refused.status_code == 403 and "finance_1" in error_of(refused)["message"]
    [task] = [t for t in open_tasks(auth, "customer_service_1")
              if t["request_number"] == refund["number"]]
    done = auth.as_("customer_service_1").post(f"/api/tasks/{task['task_id']}/complete",
                                               json={"data": {"approved": True}})
    assert done.status_code == 200, done.get_json()
    assert auth.as_("alice").post(f"/api/requests/{refund['number']}/shipped",
                                  json={"tracking_no": "SF1", "carrier": "SF"}).status_code == 200
    assert [t["request_number"] for t in open_tasks(auth, "finance_1")] == [refund["number"]]
    listed = [r["number"] for r in finance.get("/api/requests").get_json()["items"]]
    assert listed == [refund["number"]]
    assert finance.get(f"/api/requests/{refund['number']}").status_code == 200
    assert finance.get(f"/api/requests/{complaint['number']}").status_code == 403


def test_another_customers_request_is_404_not_403(auth):
    filed = file_request(auth, "alice")
    for ref in (filed["number"], str(filed["id"])):
        response = auth.as_("bob").get(f"/api/requests/{ref}")
        assert response.status_code == 404
    answer = auth.as_("bob").post(f"/api/requests/{filed['number']}/rating", json={"score": 1})
    assert answer.status_code == 404


def test_a_reference_of_digits_that_are_not_ascii_finds_nothing(auth):
    """'²' and '١' (Arabic-Indic one) are digits to str.isdigit: int() refused the first (a
    500) and read the second as request 1."""
    filed = file_request(auth, "alice")
    assert filed["id"] == 1
    for ref in ("²", "١", "1²", "99999999999999999999"):
        response = auth.as_("alice").get(f"/api/requests/{ref}")
        assert response.status_code == 404, (ref, response.get_json())
        assert error_of(response)["details"]["field"] == "id"
        answer = auth.as_("alice").post(f"/api/requests/{ref}/rating", json={"score": 1})
        assert answer.status_code == 404, (ref, answer.get_json())


def test_customer_timeline_hides_internal_events(auth):
    filed = file_request(auth, "alice")
    [task] = open_tasks(auth)
    complete(auth, "customer_service_1", task, {"approved": True, "note": "fine"})
    customer = auth.as_("alice").get(f"/api/requests/{filed['number']}").get_json()
    events = [e["event"] for e in customer["timeline"]]
    assert events[0] == "request_received" and "request_accepted" in events
    assert "first_response" in events
    assert not any("actor" in e for e in customer["timeline"])
    assert "task_completed" not in events and customer["awaiting"] == ["shipped"]
    staff = auth.as_("customer_service_1").get(f"/api/requests/{filed['number']}").get_json()
    assert any(e["event"] == "task_completed" and e["actor"] == "customer_service_1"
               for e in staff["timeline"])


def test_answers_are_delivered_only_when_awaited(auth):
    filed = file_request(auth, "alice", type="repair")
    alice = auth.as_("alice")
    early = alice.post(f"/api/requests/{filed['number']}/quote-answer", json={"approved": True})
    assert early.status_code == 409 and "not waiting" in error_of(early)["message"]
    [task] = open_tasks(auth)
    complete(auth, "repair_1", task, {"quote": 180})
    bad = alice.post(f"/api/requests/{filed['number']}/quote-answer", json={"approved": "ok"})
    assert bad.status_code == 422 and error_of(bad)["details"]["field"] == "approved"
    answered = alice.post(f"/api/requests/{filed['number']}/quote-answer", json={"approved": True})
    assert answered.status_code == 200 and answered.get_json()["awaiting"] == []
    [repair] = open_tasks(auth)
    assert repair["bpmn_id"] == "repair_item"
    twice = alice.post(f"/api/requests/{filed['number']}/quote-answer", json={"approved": True})
    assert twice.status_code == 409


def test_complaint_feedback_then_rating_closes_the_request(auth, sessions):
    filed = file_request(auth, "bob", order_id="O-1002", type="complaint")
    [task] = open_tasks(auth)
    complete(auth, "customer_service_1", task, {"resolution": "voucher sent"})
    bob = auth.as_("bob")
    assert bob.post(f"/api/requests/{filed['id']}/feedback",
                    json={"confirmed": True, "comment": "thanks"}).status_code == 200
    low = bob.post(f"/api/requests/{filed['id']}/rating", json={"score": 6})
    assert low.status_code == 422 and error_of(low)["details"]["field"] == "score"
    rated = bob.post(f"/api/requests/{filed['id']}/rating", json={"score": 4, "comment": "ok"})
    assert rated.status_code == 200 and rated.get_json()["status"] == "closed"
    shown = bob.get(f"/api/requests/{filed['id']}").get_json()
    assert shown["csat"] == 4 and shown["outcome"] == "resolved" and shown["closed_at"]


def test_shipped_needs_tracking_and_carrier(auth):
    filed = file_request(auth, "alice")
    [task] = open_tasks(auth)
    complete(auth, "customer_service_1", task, {"approved": True})
    alice = auth.as_("alice")
    missing = alice.post(f"/api/requests/{filed['number']}/shipped", json={"tracking_no": "SF1"})
    assert missing.status_code == 422 and error_of(missing)["details"]["field"] == "carrier"
    shipped = alice.post(f"/api/requests/{filed['number']}/shipped",
                         json={"tracking_no": "SF1", "carrier": "SF Express"})
    assert shipped.status_code == 200
    [refund] = open_tasks(auth)
    assert (refund["bpmn_id"], refund["department"]) == ("refund", "finance")
