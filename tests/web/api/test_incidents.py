"""The one failure path over HTTP: every verb against the failing corpus (tests/data/failing).

A command that cannot be applied is never a 500: the client gets a 422 naming the problem and
the element, the instance is in error with its incident (an audit event with the actor and the
input), the history still verifies, and an operator's retry with corrected data, skip or cancel
moves it on.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import clock, instances
from engine.access import SYSTEM
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.errors import Conflict, StepFailed
from engine.jobs import timers
from engine.models import HumanTask
from engine.runtime import incidents, steps
from tests.conftest import DATA
from tests.web.conftest import error_of
from web.cli import main

STAFF, LEAD = "customer_service_1", "cs_lead"

# (process, start data, form that fails, what the answer names, element, corrected form)
COMPLETIONS = [
    ("post_script", {"total": 100}, {"parts": 0}, "division by zero", "count_parts",
     {"parts": 4}),
    ("data_output", {}, {}, "'receipt'", "record_receipt", {"receipt": "R-1"}),
    ("mi_input", {}, {}, "TypeError: 'NoneType' object is not iterable", "list_parts",
     {"parts": ["hinge", "screen"]}),
]


@pytest.fixture
def failing(platform, world):
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "failing"), "owner")

    def start(process, data, key):
        with incidents.transaction(platform.sessions) as session:
            return platform.runtime.start(session, process, data, SYSTEM, business_key=key).id
    return start


def open_task(sessions, instance_id):
    with sessions() as session:
        row = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()
        return row.task_id, row.bpmn_id


def history(auth, instance_id):
    response = auth.as_(LEAD).get(f"/api/instances/{instance_id}/history?per_page=100")
    assert response.status_code == 200
    return response.get_json()["items"]


def assert_verifies(auth, instance_id):
    result = auth.as_("auditor").get(f"/api/instances/{instance_id}/replay").get_json()
    assert result["ok"] is True, result["divergence"]


def assert_incident(auth, instance_id, *, kind, element, problem, actor):
    shown = auth.as_(LEAD).get(f"/api/instances/{instance_id}").get_json()
    assert shown["status"] == "error" and element in shown["error"] and problem in shown["error"]
    last = history(auth, instance_id)[-1]
    assert last["kind"] == "incident" and last["actor"] == actor
    assert last["payload"]["kind"] == kind and last["payload"]["element"] == element
    items = auth.as_("admin").get("/api/incidents").get_json()["items"]
    mine = [i for i in items if i["kind"] == "instance" and i["instance_id"] == instance_id]
    assert len(mine) == 1 and mine[0]["operation"] == kind and mine[0]["element"] == element
    assert_verifies(auth, instance_id)
    return last


@pytest.mark.parametrize("process,data,bad,problem,element,good", COMPLETIONS,
                         ids=[c[0] for c in COMPLETIONS])
def test_a_completion_that_fails_is_an_incident_retried_with_corrected_data(
        auth, platform, failing, process, data, bad, problem, element, good):
    instance_id = failing(process, data, f"{process}-1")
    task_id, _ = open_task(platform.sessions, instance_id)
    answer = auth.as_(STAFF).post(f"/api/tasks/{task_id}/complete", json={"data": bad})
    assert answer.status_code == 422
    error = error_of(answer)
    assert error["code"] == "step_failed" and problem in error["message"]
    assert element in error["message"] and error["details"]["element"] == element
    incident = assert_incident(auth, instance_id, kind="task_completed", element=element,
                               problem=problem, actor=STAFF)
    assert incident["payload"]["input"]["payload"]["data"] == bad
    assert open_task(platform.sessions, instance_id)[0] == task_id     # the task is still open

    lead = auth.as_(LEAD)
    again = lead.post(f"/api/instances/{instance_id}/retry", json={"data": bad})
    assert again.status_code == 422 and error_of(again)["code"] == "step_failed"
    assert history(auth, instance_id)[-1]["actor"] == LEAD             # a second incident

    fixed = lead.post(f"/api/instances/{instance_id}/retry", json={"data": good})
    assert fixed.status_code == 200, fixed.get_json()
    assert (fixed.get_json()["status"], fixed.get_json()["error"]) == ("running", None)
    assert open_task(platform.sessions, instance_id)[1] == "confirm"
    done = history(auth, instance_id)[-1]
    assert (done["kind"], done["actor"], done["payload"]["data"]) == ("task_completed", LEAD, good)
    assert_verifies(auth, instance_id)
    assert lead.post(f"/api/instances/{instance_id}/retry").status_code == 409
    assert all(i["instance_id"] != instance_id or i["kind"] != "instance"
               for i in auth.as_("admin").get("/api/incidents").get_json()["items"])


def test_skip_drops_the_failed_completion_and_the_task_stays_open(auth, platform, failing):
    instance_id = failing("post_script", {"total": 100}, "skip-1")
    task_id, _ = open_task(platform.sessions, instance_id)
    staff = auth.as_(STAFF)
    assert staff.post(f"/api/tasks/{task_id}/complete", json={"data": {"parts": 0}}).status_code == 422
    assert staff.post(f"/api/tasks/{task_id}/complete",
                      json={"data": {"parts": 2}}).status_code == 409   # in error: operator first
    assert auth.as_(STAFF).post(f"/api/instances/{instance_id}/skip").status_code == 403
    skipped = auth.as_(LEAD).post(f"/api/instances/{instance_id}/skip", json={"reason": "typo"})
    assert skipped.status_code == 200 and skipped.get_json()["status"] == "running"
    last = history(auth, instance_id)[-1]
    assert (last["kind"], last["actor"], last["payload"]["reason"]) == \
        ("incident_skipped", LEAD, "typo")
    assert_verifies(auth, instance_id)
    assert auth.as_(LEAD).post(f"/api/instances/{instance_id}/skip").status_code == 409
    done = staff.post(f"/api/tasks/{task_id}/complete", json={"data": {"parts": 2}})
    assert done.status_code == 200 and open_task(platform.sessions, instance_id)[1] == "confirm"


def test_aftersales_audit_verify_accepts_an_instance_with_incidents(auth, platform, failing,
                                                                    db_url, monkeypatch):
    instance_id = failing("data_output", {}, "CLI-1")
    task_id, _ = open_task(platform.sessions, instance_id)
    assert auth.as_(STAFF).post(f"/api/tasks/{task_id}/complete", json={"data": {}}).status_code == 422
    assert auth.as_(LEAD).post(f"/api/instances/{instance_id}/skip").status_code == 200
    assert auth.as_(STAFF).post(f"/api/tasks/{task_id}/complete", json={"data": {}}).status_code == 422
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    result = CliRunner().invoke(main, ["audit", "verify", str(instance_id)],
                                catch_exceptions=False)
    assert result.exit_code == 0 and result.output.startswith("ok:"), result.output


def test_a_message_whose_payload_breaks_a_script_is_retried_with_a_corrected_payload(
        auth, platform, failing):
    instance_id = failing("message_payload", {}, "SLOT-1")
    answer = auth.as_("admin").post("/api/messages", json={
        "name": "slot_booked", "correlation": "SLOT-1",
        "payload": {"start": "nine", "end": "ten"}})
    assert answer.status_code == 422 and "invalid literal" in error_of(answer)["message"]
    incident = assert_incident(auth, instance_id, kind="message_delivered", element="wait_slot",
                               problem="invalid literal", actor="admin")
    assert incident["payload"]["input"]["payload"]["payload"] == {"start": "nine", "end": "ten"}
    fixed = auth.as_(LEAD).post(f"/api/instances/{instance_id}/retry",
                                json={"data": {"start": "9", "end": "11"}})
    assert fixed.status_code == 200 and fixed.get_json()["status"] == "running"
    assert open_task(platform.sessions, instance_id)[1] == "confirm"
    assert history(auth, instance_id)[-1]["kind"] == "message_delivered"
    assert_verifies(auth, instance_id)


def test_a_condition_that_raises_is_retried_with_corrected_data(auth, platform, failing):
    instance_id = failing("condition", {}, "COND-1")
    task_id, _ = open_task(platform.sessions, instance_id)
    answer = auth.as_(STAFF).post(f"/api/tasks/{task_id}/complete", json={"data": {"note": "x"}})
    assert answer.status_code == 422 and "urgency" in error_of(answer)["message"]
    assert_incident(auth, instance_id, kind="task_completed", element="urgent",
                    problem="NameError", actor=STAFF)
    fixed = auth.as_(LEAD).post(f"/api/instances/{instance_id}/retry",
                                json={"data": {"note": "x", "urgency": 1}})
    assert fixed.status_code == 200 and fixed.get_json()["status"] == "running"
    assert open_task(platform.sessions, instance_id)[1] == "confirm"
    assert_verifies(auth, instance_id)


def test_a_timer_whose_steps_fail_is_an_incident(auth, platform, failing):
    instance_id = failing("timer_script", {}, "TIMER-NO-PARTS")
    clock.advance(timedelta(hours=2))
    assert timers.run_due(platform.sessions, platform.runtime) == 0
    assert_incident(auth, instance_id, kind="timer_fired", element="cool_off",
                    problem="not iterable", actor="system")
    cancelled = auth.as_(LEAD).post(f"/api/instances/{instance_id}/cancel", json={"reason": "x"})
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert_verifies(auth, instance_id)


def test_a_start_that_fails_stores_nothing(platform, failing):
    with pytest.raises(StepFailed) as failed:                 # the API answers it with 422
        failing("mi_at_start", {}, "MI-START")
    assert failed.value.instance_id is None and failed.value.recorded is False
    assert "starting the process failed" in failed.value.message
    assert "not iterable" in failed.value.message
    with platform.sessions() as session:
        assert instances.id_of_business_key(session, "MI-START") is None
    started = failing("mi_at_start", {"parts": ["hinge"]}, "MI-START")
    assert open_task(platform.sessions, started)[1] == "confirm"


def test_a_start_whose_input_cannot_be_applied_stores_nothing(platform, failing, monkeypatch):
    def broken(*args):
        def apply(_workflow):
            raise KeyError("request_no")
        return apply
    monkeypatch.setattr(steps, "start", broken)
    with pytest.raises(StepFailed) as failed:
        failing("post_script", {"total": 1}, "NOPE-1")
    assert failed.value.instance_id is None and "request_no" in failed.value.message
    assert "starting the process failed" in failed.value.message
    with platform.sessions() as session:
        assert incidents.open_incidents(session) == []


def test_a_cancel_that_fails_is_an_incident_and_retry_cancels(auth, platform, failing, monkeypatch):
    instance_id = failing("post_script", {"total": 100}, "CANCEL-1")
    real = steps.cancel

    def broken():
        def apply(_workflow):
            raise RuntimeError("cancel hook failed")
        return apply
    monkeypatch.setattr(steps, "cancel", broken)
    answer = auth.as_(LEAD).post(f"/api/instances/{instance_id}/cancel", json={"reason": "dup"})
    assert answer.status_code == 422 and "cancel hook failed" in error_of(answer)["message"]
    shown = auth.as_(LEAD).get(f"/api/instances/{instance_id}").get_json()
    assert shown["status"] == "error" and "cancel hook failed" in shown["error"]
    assert history(auth, instance_id)[-1]["payload"]["kind"] == "cancelled"
    monkeypatch.setattr(steps, "cancel", real)
    bad = auth.as_(LEAD).post(f"/api/instances/{instance_id}/retry", json={"data": {"x": 1}})
    assert bad.status_code == 422 and error_of(bad)["details"]["field"] == "data"
    retried = auth.as_(LEAD).post(f"/api/instances/{instance_id}/retry")
    assert retried.status_code == 200 and retried.get_json()["status"] == "cancelled"
    assert_verifies(auth, instance_id)


def _explode(monkeypatch):
    """Make firing the timers of the instances whose data says explode raise (not a
    WorkflowException: the failure is in applying the command, not in the engine's steps)."""
    real = steps.timers

    def timers_apply():
        inner = real()

        def apply(workflow):
            if any(task.data.get("explode") for task in workflow.get_tasks()):
                raise ValueError("slot times are not times")
            return inner(workflow)
        return apply
    monkeypatch.setattr(steps, "timers", timers_apply)


@pytest.mark.parametrize("job", ["run_due", "fire_due_timers"])
def test_a_timer_whose_firing_fails_is_an_incident_and_the_others_fire(
        auth, platform, failing, monkeypatch, job):
    broken = failing("timer_script", {"parts": ["a"], "explode": True}, "TIMER-BAD")
    fine = failing("timer_script", {"parts": ["a"]}, "TIMER-OK")
    _explode(monkeypatch)
    clock.advance(timedelta(hours=2))
    if job == "run_due":
        assert timers.run_due(platform.sessions, platform.runtime) == 1
    else:
        with platform.sessions.begin() as session:
            assert platform.runtime.fire_due_timers(session) == 1
    assert open_task(platform.sessions, fine)[1] == "confirm"
    assert_incident(auth, broken, kind="timer_fired", element="cool_off",
                    problem="slot times are not times", actor="system")
    monkeypatch.undo()
    skipped = auth.as_(LEAD).post(f"/api/instances/{broken}/skip")
    assert skipped.status_code == 200 and skipped.get_json()["status"] == "waiting"
    assert_verifies(auth, broken)


def test_an_incident_is_not_recorded_over_a_newer_state(platform, failing):
    instance_id = failing("post_script", {"total": 100}, "RACE-1")
    stale = StepFailed("completing the task failed at count_parts: boom", incident={
        "kind": "task_completed", "element": "count_parts", "message": "boom", "actor": STAFF,
        "input": {"element": "count_parts", "task_id": None, "payload": {}},
        "instance_id": instance_id, "version": 0})
    with pytest.raises(Conflict):
        with platform.sessions.begin() as session:
            incidents.record(session, stale)
