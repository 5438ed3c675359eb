"""External events through POST /api/messages: allow-lists per role, correlation, duplicates."""
from __future__ import annotations

import pytest

from tests.web.conftest import error_of, file_request, open_tasks


@pytest.fixture
def awaiting_pickup(auth):
    """A return with courier pickup, reviewed: it waits for 'picked_up'."""
    filed = file_request(auth, "alice", pickup=True)
    [task] = open_tasks(auth)
    auth.as_("customer_service_1").post(f"/api/tasks/{task['task_id']}/complete",
                                        json={"data": {"approved": True}})
    return filed["number"]


def test_courier_delivers_picked_up(auth, awaiting_pickup):
    response = auth.as_("courier").post("/api/messages", json={
        "name": "picked_up", "correlation": awaiting_pickup, "payload": {"waybill": "SF123"},
        "message_id": "sf-evt-1"})
    assert response.status_code == 200
    [delivered] = response.get_json()["delivered_to"]
    assert delivered["business_key"] == awaiting_pickup
    [refund] = open_tasks(auth)
    assert refund["bpmn_id"] == "refund"
    shown = auth.as_("finance_1").get(f"/api/tasks/{refund['task_id']}").get_json()
    assert shown["data"]["pickup_confirmation"] == {"waybill": "SF123"}


def test_duplicate_message_id_is_applied_once(auth, awaiting_pickup):
    courier = auth.as_("courier")
    body = {"name": "picked_up", "correlation": awaiting_pickup, "message_id": "sf-evt-9"}
    assert courier.post("/api/messages", json=body).status_code == 200
    again = courier.post("/api/messages", json=body)
    assert again.status_code == 200 and len(again.get_json()["delivered_to"]) == 1
    assert len(open_tasks(auth)) == 1


def test_roles_may_only_send_their_own_messages(auth, awaiting_pickup):
    refund = auth.as_("courier").post("/api/messages", json={
        "name": "refund_result", "correlation": awaiting_pickup, "payload": {"status": "paid"}})
    assert refund.status_code == 403 and error_of(refund)["details"]["field"] == "name"
    pickup = auth.as_("payment").post("/api/messages", json={
        "name": "picked_up", "correlation": awaiting_pickup})
    assert pickup.status_code == 403
    for user in ("alice", "customer_service_1", "auditor"):
        denied = auth.as_(user).post("/api/messages", json={
            "name": "picked_up", "correlation": awaiting_pickup})
        assert denied.status_code == 403, user


def test_not_waiting_is_409_unknown_request_is_404(auth, awaiting_pickup):
    admin = auth.as_("admin")
    early = admin.post("/api/messages", json={"name": "quote_answered",
                                              "correlation": awaiting_pickup})
    assert early.status_code == 409 and "not waiting" in error_of(early)["message"]
    unknown = admin.post("/api/messages", json={"name": "quote_answered",
                                                "correlation": "AS-19990101-0001"})
    assert unknown.status_code == 404


def test_a_payment_result_must_name_a_payment_of_the_request(auth, awaiting_pickup):
    payment = auth.as_("payment")
    unnamed = payment.post("/api/messages", json={"name": "refund_result",
                                                  "correlation": awaiting_pickup,
                                                  "payload": {"status": "paid"}})
    assert unnamed.status_code == 422
    assert error_of(unnamed)["details"]["field"] == "payload.idempotency_key"
    unknown = payment.post("/api/messages", json={"name": "refund_result",
                                                  "correlation": awaiting_pickup,
                                                  "payload": {"status": "paid",
                                                              "idempotency_key": "made-up"}})
    assert unknown.status_code == 404


def test_message_body_is_validated(auth):
    courier = auth.as_("courier")
    no_name = courier.post("/api/messages", json={"correlation": "AS-1"})
    assert no_name.status_code == 422 and error_of(no_name)["details"]["field"] == "name"
    bad_payload = courier.post("/api/messages", json={"name": "picked_up", "correlation": "AS-1",
                                                      "payload": [1, 2]})
    assert bad_payload.status_code == 422 and error_of(bad_payload)["details"]["field"] == "payload"


def test_admin_may_send_any_message(auth, awaiting_pickup):
    response = auth.as_("admin").post("/api/messages", json={
        "name": "picked_up", "correlation": awaiting_pickup})
    assert response.status_code == 200
