"""Timer operations over HTTP and the CLI with the real processes: a supervisor fires a
complaint's escalation timer now or moves it; each move is audited and replay repeats it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from tests.conftest import ROOT
from tests.web.conftest import error_of, file_request


@pytest.fixture
def complaint(auth, platform):
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
    filed = file_request(auth, "alice", order_id="O-1001", type="complaint")
    return filed


def waiting(auth, user="cs_lead", **params):
    response = auth.as_(user).get("/api/timers", query_string=params)
    assert response.status_code == 200, response.get_json()
    return {t["bpmn_id"]: t for t in response.get_json()["items"]}


def test_a_supervisor_fires_an_escalation_now_and_moves_another(auth, complaint):
    timers = waiting(auth, instance_id=complaint["instance_id"])
    assert {"escalate_to_supervisor", "escalate_to_management"} <= set(timers)
    lead = auth.as_("cs_lead")
    base = f"/api/instances/{complaint['instance_id']}/timers"
    fired = lead.post(f"{base}/{timers['escalate_to_supervisor']['task_id']}/fire",
                      json={"reason": "customer called twice"})
    assert fired.status_code == 200, fired.get_json()
    after = waiting(auth, instance_id=complaint["instance_id"])
    assert "escalate_to_supervisor" not in after
    tasks = auth.as_("admin").get("/api/tasks", query_string={"per_page": 100}).get_json()["items"]
    assert any(t["request_number"] == complaint["number"] and t["department"] == "cs_supervisor"
               for t in tasks)

    later = (clock.now() + timedelta(days=1)).isoformat()
    moved = lead.post(f"{base}/{after['escalate_to_management']['task_id']}/reschedule",
                      json={"due_at": later})
    assert moved.status_code == 200, moved.get_json()
    assert waiting(auth, instance_id=complaint["instance_id"])[
        "escalate_to_management"]["due_at"] == later

    auditor = auth.as_("auditor")
    history = auditor.get(f"/api/instances/{complaint['instance_id']}/history").get_json()["items"]
    moves = [e for e in history if e["kind"] == "timer_rescheduled"]
    assert [(e["actor"], e["element"], e["payload"]["due_at"]) for e in moves] == [
        ("cs_lead", "escalate_to_supervisor", None), ("cs_lead", "escalate_to_management", later)]
    assert moves[0]["payload"]["reason"] == "customer called twice"
    assert auditor.get(f"/api/instances/{complaint['instance_id']}/replay").get_json()["ok"]


def test_refusals(auth, complaint):
    task_id = waiting(auth)["escalate_to_management"]["task_id"]
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
    line = next(row for row in listed.output.splitlines() if "escalate_to_supervisor" in row)
    task_id = line.split("\t")[3]
    fired = runner.invoke(main, ["timers", "fire", str(complaint["instance_id"]), task_id,
                                 "--by", "ops"], env=env)
    assert fired.exit_code == 0 and "fired" in fired.output, fired.output
    again = runner.invoke(main, ["timers", "fire", str(complaint["instance_id"]), task_id],
                          env=env)
    assert again.exit_code == 1 and "no timer" in again.output
