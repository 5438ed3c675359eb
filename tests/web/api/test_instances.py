"""Instances over HTTP: state, history, replay, and the supervisors' controls."""
from __future__ import annotations

import pytest

from engine.access import SYSTEM
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from tests.conftest import allow_tampering
from tests.web.conftest import WEB_DATA, error_of, file_request, open_tasks


@pytest.fixture
def reviewed(auth):
    """A return whose review is done: waiting for the shipment (3 events: started,
    claimed, completed)."""
    filed = file_request(auth, "alice")
    [task] = open_tasks(auth)
    cs = auth.as_("customer_service_1")
    cs.post(f"/api/tasks/{task['task_id']}/claim")
    cs.post(f"/api/tasks/{task['task_id']}/complete", json={"data": {"approved": True}})
    return filed["instance_id"]


def test_instance_shows_state_and_diagram_marks(auth, reviewed):
    shown = auth.as_("auditor").get(f"/api/instances/{reviewed}").get_json()
    assert shown["status"] == "waiting" and shown["events"] == 3
    assert shown["request_number"].startswith("AS-") and shown["definition_version"] == 1
    assert shown["waiting_for"] == ["return_shipped"] and shown["tasks"] == []
    assert "review" in shown["elements"]["completed"]
    assert shown["elements"]["waiting"] == ["wait_shipped"]


def test_history_is_paged_in_order(auth, reviewed):
    auditor = auth.as_("auditor")
    first = auditor.get(f"/api/instances/{reviewed}/history?per_page=2").get_json()
    assert first["total"] == 3
    assert [e["kind"] for e in first["items"]] == ["started", "task_claimed"]
    second = auditor.get(f"/api/instances/{reviewed}/history?per_page=2&page=2").get_json()
    [completed] = second["items"]
    assert completed["kind"] == "task_completed" and completed["actor"] == "customer_service_1"
    assert completed["payload"]["data"] == {"approved": True}
    assert completed["prev_hash"] == first["items"][1]["hash"]


def test_replay_verifies_and_shows_each_step(auth, reviewed):
    auditor = auth.as_("auditor")
    result = auditor.get(f"/api/instances/{reviewed}/replay").get_json()
    assert result["ok"] is True and result["divergence"] is None
    assert [s["kind"] for s in result["steps"]] == ["started", "task_claimed", "task_completed"]
    step = auditor.get(f"/api/instances/{reviewed}/replay/1").get_json()
    assert step["ready"] == ["review"] and step["data"]["order_id"] == "O-1001"
    assert auditor.get(f"/api/instances/{reviewed}/replay/9").status_code == 404


def test_replay_reports_tampering(auth, reviewed, sessions):
    from sqlalchemy import update

    from engine.models import AuditEvent

    allow_tampering(sessions)
    with sessions.begin() as session:
        session.execute(update(AuditEvent).where(AuditEvent.instance_id == reviewed,
                                                 AuditEvent.seq == 3)
                        .values(payload={"data": {"approved": False}}))
    result = auth.as_("auditor").get(f"/api/instances/{reviewed}/replay").get_json()
    assert result["ok"] is False and result["divergence"]["seq"] == 3


def test_suspend_resume_cancel(auth, reviewed):
    lead = auth.as_("cs_lead")
    assert auth.as_("customer_service_1").post(f"/api/instances/{reviewed}/suspend").status_code == 403
    suspended = lead.post(f"/api/instances/{reviewed}/suspend", json={"reason": "fraud check"})
    assert suspended.status_code == 200 and suspended.get_json()["status"] == "suspended"
    shipped = auth.as_("alice").post(f"/api/requests/{suspended.get_json()['business_key']}/shipped",
                                     json={"tracking_no": "SF1", "carrier": "SF"})
    assert shipped.status_code == 409
    assert lead.post(f"/api/instances/{reviewed}/resume").get_json()["status"] == "waiting"
    assert lead.post(f"/api/instances/{reviewed}/resume").status_code == 409
    cancelled = auth.as_("admin").post(f"/api/instances/{reviewed}/cancel", json={"reason": "dup"})
    assert cancelled.get_json()["status"] == "cancelled"
    again = lead.post(f"/api/instances/{reviewed}/cancel")
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"
    bad = lead.post(f"/api/instances/{reviewed}/suspend", json={"reason": 5})
    assert bad.status_code == 422


def test_retry_fixes_an_instance_in_error(auth, platform):
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(WEB_DATA / "fragile"), "owner")
        instance = platform.runtime.start(session, "fragile", {"amount": 10, "divisor": 0}, SYSTEM,
                                          business_key="FRAGILE-1")
        instance_id = instance.id
    lead = auth.as_("cs_lead")
    shown = lead.get(f"/api/instances/{instance_id}").get_json()
    assert shown["status"] == "error" and "division by zero" in shown["error"]
    bad = lead.post(f"/api/instances/{instance_id}/retry", json={"data": "divisor=2"})
    assert bad.status_code == 422 and error_of(bad)["details"]["field"] == "data"
    fixed = lead.post(f"/api/instances/{instance_id}/retry", json={"data": {"divisor": 2}})
    assert fixed.status_code == 200 and fixed.get_json()["status"] == "running"
    assert lead.post(f"/api/instances/{instance_id}/retry").status_code == 409
