"""A whole request from filing to survey, over HTTP only, as each party would do it."""
from __future__ import annotations

from datetime import timedelta

from engine import clock


def test_return_from_filing_to_survey(auth):
    alice, cs, finance = auth.as_("alice"), auth.as_("customer_service_1"), auth.as_("finance_1")

    filed = alice.post("/api/requests", json={"order_id": "O-1001", "type": "return_refund",
                                              "reason": "wrong size", "idempotency_key": "app-1"})
    assert filed.status_code == 201
    number = filed.get_json()["number"]

    clock.advance(timedelta(minutes=30))
    [task] = cs.get("/api/tasks?assignee=unassigned").get_json()["items"]
    assert task["request_number"] == number and task["sla_status"] == "on_time"
    assert cs.post(f"/api/tasks/{task['task_id']}/claim").status_code == 200
    shown = cs.get(f"/api/tasks/{task['task_id']}").get_json()
    assert shown["form_schema"]["title"] == "Review request"
    cs.post(f"/api/tasks/{task['task_id']}/comments", json={"body": "photos look fine"})
    done = cs.post(f"/api/tasks/{task['task_id']}/complete",
                   json={"data": {"approved": True, "note": "ok"}, "version": shown["task"]["version"]})
    assert done.status_code == 200

    progress = alice.get(f"/api/requests/{number}").get_json()
    assert progress["awaiting"] == ["shipped"] and progress["first_response_at"]
    assert alice.post(f"/api/requests/{number}/shipped",
                      json={"tracking_no": "SF100200", "carrier": "SF Express"}).status_code == 200

    clock.advance(timedelta(hours=2))
    [refund] = finance.get("/api/tasks").get_json()["items"]
    assert refund["bpmn_id"] == "refund"
    assert finance.get(f"/api/tasks/{refund['task_id']}").get_json()["data"]["shipment"] == {
        "tracking_no": "SF100200", "carrier": "SF Express"}
    assert finance.post(f"/api/tasks/{refund['task_id']}/complete",
                        json={"data": {"refunded": True}}).status_code == 200
    paid = auth.as_("payment").post("/api/messages", json={
        "name": "refund_result", "correlation": number, "payload": {"status": "paid"},
        "message_id": "pay-77"})
    assert paid.status_code == 200

    resolved = alice.get(f"/api/requests/{number}").get_json()
    assert resolved["status"] == "resolved" and resolved["awaiting"] == ["rating"]
    rated = alice.post(f"/api/requests/{number}/rating", json={"score": 5, "comment": "fast"})
    assert rated.status_code == 200 and rated.get_json()["status"] == "closed"

    final = alice.get(f"/api/requests/{number}").get_json()
    assert final["csat"] == 5 and final["closed_at"]
    events = [e["event"] for e in final["timeline"]]
    assert events[0] == "request_received" and events[-1] == "closed"
    assert "task_completed" not in events

    auditor = auth.as_("auditor")
    instance_id = filed.get_json()["instance_id"]
    assert auditor.get(f"/api/instances/{instance_id}").get_json()["status"] == "completed"
    assert auditor.get(f"/api/instances/{instance_id}/replay").get_json()["ok"] is True
    kinds = [e["kind"] for e in auditor.get(f"/api/instances/{instance_id}/history").get_json()["items"]]
    assert kinds == ["started", "task_claimed", "task_completed", "message_delivered",
                     "task_completed", "message_delivered", "message_delivered"]
    figures = auth.as_("ops_head").get("/api/kpis?from=2026-11-23&to=2026-11-23").get_json()
    assert figures["overall"]["csat"] == {"avg": 5.0, "count": 1}
    assert figures["overall"]["resolution_rate"] == 1.0
