"""Timer operations over HTTP and the CLI with the real processes: a supervisor moves a
resolved complaint's wait for the customer's answer, fires it, then fires the 3-day wait before
the callback, so the callback task can be reached at once; each move is audited and replay
repeats it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from tests.conftest import ROOT
from tests.web.conftest import error_of, file_request, open_tasks

RESPONSE = {"complaint_response": "We are sorry.", "proposed_resolution": "coupon"}
RESOLUTION = {"complaint_resolution": "Coupon 20 CNY", "compensation_amount": 20}


@pytest.fixture
def complaint(auth, platform):
    """A complaint answered and resolved: it waits 3 days for the customer's confirmation."""
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
    filed = file_request(auth, "alice", order_id="O-1001", type="complaint")
    for bpmn_id, data in (("respond_to_complaint", RESPONSE), ("resolve_complaint", RESOLUTION)):
        complete(auth, filed["number"], bpmn_id, data)
    return filed


def complete(auth, number, bpmn_id, data):
    [task] = [t for t in open_tasks(auth, per_page=100)
              if t["request_number"] == number and t["bpmn_id"] == bpmn_id]
    done = auth.as_("customer_service_1").post(f"/api/tasks/{task['task_id']}/complete",
                                               json={"data": data})
    assert done.status_code == 200, done.get_json()


def waiting(auth, user="cs_lead", **params):
    response = auth.as_(user).get("/api/timers", query_string=params)
    assert response.status_code == 200, response.get_json()
    return {t["bpmn_id"]: t for t in response.get_json()["items"]}


def test_a_supervisor_moves_a_timer_then_fires_it_and_the_next(auth, complaint):
    timers = waiting(auth, instance_id=complaint["instance_id"])
    assert set(timers) == {"await_feedback"}
    lead = auth.as_("cs_lead")
    base = f"/api/instances/{complaint['instance_id']}/timers"
    later = (clock.now() + timedelta(days=5)).isoformat()
    moved = lead.post(f"{base}/{timers['await_feedback']['task_id']}/reschedule",
                      json={"due_at": later})
    assert moved.status_code == 200, moved.get_json()
    assert waiting(auth, instance_id=complaint["instance_id"])["await_feedback"]["due_at"] == later

    fired = lead.post(f"{base}/{timers['await_feedback']['task_id']}/fire",
                      json={"reason": "customer confirmed by phone"})
    assert fired.status_code == 200, fired.get_json()
    after = waiting(auth, instance_id=complaint["instance_id"])
    assert set(after) == {"wait_before_callback"}       # silence counts as confirmed
    again = lead.post(f"{base}/{after['wait_before_callback']['task_id']}/fire")
    assert again.status_code == 200, again.get_json()
    assert [t["bpmn_id"] for t in open_tasks(auth, per_page=100)
            if t["request_number"] == complaint["number"]] == ["callback_customer"]

    auditor = auth.as_("auditor")
    history = auditor.get(f"/api/instances/{complaint['instance_id']}/history").get_json()["items"]
    moves = [e for e in history if e["kind"] == "timer_rescheduled"]
    assert [(e["actor"], e["element"], e["payload"]["due_at"]) for e in moves] == [
        ("cs_lead", "await_feedback", later), ("cs_lead", "await_feedback", None),
        ("cs_lead", "wait_before_callback", None)]
    assert moves[1]["payload"]["reason"] == "customer confirmed by phone"
    assert auditor.get(f"/api/instances/{complaint['instance_id']}/replay").get_json()["ok"]


def test_refusals(auth, complaint):
    task_id = waiting(auth)["await_feedback"]["task_id"]
    base = f"/api/instances/{complaint['instance_id']}/timers"
    lead = auth.as_("cs_lead")
    naive = lead.post(f"{base}/{task_id}/reschedule", json={"due_at": "2026-12-01T10:00:00"})
    assert naive.status_code == 422 and error_of(naive)["details"]["field"] == "due_at"
    far = lead.post(f"{base}/{task_id}/reschedule", json={"due_at": "2099-01-01T00:00:00+00:00"})
    assert far.status_code == 422 and error_of(far)["details"]["field"] == "due_at"
    assert lead.post(f"{base}/no-such-timer/fire").status_code == 404
    for user in ("customer_service_1", "auditor", "alice"):
        assert auth.as_(user).post(f"{base}/{task_id}/fire").status_code == 403, user
        assert auth.as_(user).get("/api/timers").status_code == 403, user


def test_the_cli_lists_fires_and_moves_timers(auth, complaint, app):
    from click.testing import CliRunner

    from web.cli import main
    env = {"AFTERSALES_DATABASE_URL": app.extensions["aftersales"].settings.database_url,
           "AFTERSALES_SECRET_KEY": "x" * 40}
    runner = CliRunner()
    listed = runner.invoke(main, ["timers", "list", "--instance", str(complaint["instance_id"])],
                           env=env)
    assert listed.exit_code == 0, listed.output
    line = next(row for row in listed.output.splitlines() if "await_feedback" in row)
    task_id = line.split("\t")[3]
    fired = runner.invoke(main, ["timers", "fire", str(complaint["instance_id"]), task_id,
                                 "--by", "ops"], env=env)
    assert fired.exit_code == 0 and "fired" in fired.output, fired.output
    again = runner.invoke(main, ["timers", "fire", str(complaint["instance_id"]), task_id],
                          env=env)
    assert again.exit_code == 1 and "no timer" in again.output
