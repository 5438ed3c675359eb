"""A whole request from filing to survey, over HTTP only, as each party would do it."""
from __future__ import annotations

import io
from datetime import timedelta

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from engine import clock
from tests.conftest import ROOT
from tests.web.conftest import pay


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
    assert pay(auth, number).status_code == 200

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
    assert kinds == ["started", "task_claimed", "comment_added", "task_completed", "message_delivered",
                     "task_completed", "message_delivered", "message_delivered"]
    figures = auth.as_("ops_head").get("/api/kpis?from=2026-11-23&to=2026-11-23").get_json()
    assert figures["overall"]["csat"] == {"avg": 5.0, "count": 1}
    assert figures["overall"]["resolution_rate"] == 1.0


def upload_folder(caller, folder):
    """POST /api/definitions with every BPMN/DMN file, form and message schema of `folder`."""
    values = [("files", FileStorage(io.BytesIO(p.read_bytes()), filename=p.name))
              for p in sorted(folder.iterdir()) if p.suffix in (".bpmn", ".dmn")]
    values += [("files", FileStorage(io.BytesIO(p.read_bytes()), filename=f"{kind}/{p.name}"))
               for kind in ("forms", "messages") for p in sorted((folder / kind).glob("*.json"))]
    boundary, body = encode_multipart(MultiDict(values))
    return caller.post("/api/definitions", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_refund_first_with_the_real_processes(auth):
    """bpmn/: refund first (先退款后退货), goods self-shipped and inspected, survey answered."""
    deployed = upload_folder(auth.as_("owner"), ROOT / "bpmn")
    assert deployed.status_code == 201, deployed.get_json()
    bob, finance, warehouse = auth.as_("bob"), auth.as_("finance_1"), auth.as_("warehouse_1")

    filed = bob.post("/api/requests", json={"order_id": "O-1002", "type": "return_refund",
                                            "reason": "too small"})
    assert filed.status_code == 201, filed.get_json()
    number = filed.get_json()["number"]
    [approve] = finance.get("/api/tasks").get_json()["items"]
    assert (approve["bpmn_id"], approve["request_number"]) == ("approve_refund", number)
    shown = finance.get(f"/api/tasks/{approve['task_id']}").get_json()
    assert shown["data"]["route"] == "refund_first" and shown["form_schema"]
    assert finance.post(f"/api/tasks/{approve['task_id']}/complete", json={"data": {
        "refund_approved": True, "refund_amount": 120.0, "refund_note": "ok"}}).status_code == 200

    paid = pay(auth, number)
    assert paid.status_code == 200, paid.get_json()
    progress = bob.get(f"/api/requests/{number}").get_json()
    assert progress["awaiting"] == ["shipped"]
    assert {"refund_paid", "return_instructions"} <= {e["event"] for e in progress["timeline"]}
    assert bob.post(f"/api/requests/{number}/shipped",
                    json={"tracking_no": "SF42", "carrier": "SF"}).status_code == 200

    [inspect] = warehouse.get("/api/tasks").get_json()["items"]
    assert inspect["bpmn_id"] == "inspect_goods"
    assert warehouse.post(f"/api/tasks/{inspect['task_id']}/complete", json={"data": {
        "inspection_passed": True, "goods_condition": "as_new", "inspection_note": ""}}).status_code == 200

    assert bob.get(f"/api/requests/{number}").get_json()["awaiting"] == ["rating"]
    rated = bob.post(f"/api/requests/{number}/rating", json={"score": 5, "comment": "quick refund"})
    assert rated.status_code == 200, rated.get_json()
    final = bob.get(f"/api/requests/{number}").get_json()
    assert (final["status"], final["outcome"], final["csat"]) == ("closed", "refunded", 5)
    replay = auth.as_("auditor").get(f"/api/instances/{filed.get_json()['instance_id']}/replay")
    assert replay.get_json()["ok"] is True
