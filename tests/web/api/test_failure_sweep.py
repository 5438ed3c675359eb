"""Every engine verb over HTTP with a fault injected where no check can catch it: never a 500.

The failing corpus (tests/data/failing) breaks inside SpiffWorkflow; here the fault is ours: a
hook of the runtime (as the request sync is) raises while the verb writes back. A verb that
changes the workflow becomes the instance's incident (422 naming the fault, the instance in
error, the history verifying); a verb that changes no workflow (claim, release, reassign,
suspend, resume, skip) is refused with a 422 and changes nothing; a migration reports the
instance it could not move. The outbox's reply that an instance cannot take is one incident of
the instance, not a second one of the outbox.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.jobs import outbox
from engine.runtime import services
from tests.conftest import DATA
from tests.web.api.test_incidents import (  # noqa: F401 (failing is a fixture)
    LEAD,
    STAFF,
    assert_verifies,
    failing,
    history,
    open_task,
)
from tests.web.conftest import error_of

FAULT = "the request record could not be kept in step"


class Fault:
    """A runtime hook that raises while armed."""

    def __init__(self):
        self.armed = False

    def __call__(self, session, instance, workflow, event):
        if self.armed:
            raise RuntimeError(FAULT)


@pytest.fixture
def fault(platform, monkeypatch):
    hook = Fault()
    monkeypatch.setattr(platform.runtime, "hooks", [*platform.runtime.hooks, hook])
    return hook


def shown(auth, instance_id):
    return auth.as_(LEAD).get(f"/api/instances/{instance_id}").get_json()


def refused(answer, status=422):
    assert answer.status_code == status, answer.get_json()
    assert FAULT in error_of(answer)["message"]


def claimed_by(auth, task_id):
    return auth.as_(LEAD).get(f"/api/tasks/{task_id}").get_json()["task"]["claimed_by"]


def assert_unchanged(auth, instance_id, before):
    now = shown(auth, instance_id)
    assert (now["status"], now["version"]) == (before["status"], before["version"])
    assert len(history(auth, instance_id)) == before["events"]


def snapshot(auth, instance_id):
    return dict(shown(auth, instance_id), events=len(history(auth, instance_id)))


# (verb, who, path under /api with {task} and {instance}, body) of the commands that change
# no workflow: refused, nothing recorded.
REFUSED = [
    ("claim", STAFF, "/tasks/{task}/claim", None),
    ("reassign", LEAD, "/tasks/{task}/reassign", {"assignee": "customer_service_2"}),
    ("suspend", LEAD, "/instances/{instance}/suspend", {"reason": "checking"}),
]


@pytest.mark.parametrize("verb,who,path,body", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_command_that_changes_no_workflow_is_refused_and_changes_nothing(
        auth, platform, failing, fault, verb, who, path, body):
    instance_id = failing("post_script", {"total": 100}, f"REFUSE-{verb}")
    task_id, _ = open_task(platform.sessions, instance_id)
    before = snapshot(auth, instance_id)
    fault.armed = True
    refused(auth.as_(who).post("/api" + path.format(task=task_id, instance=instance_id),
                               json=body or {}))
    fault.armed = False
    assert_unchanged(auth, instance_id, before)
    assert claimed_by(auth, task_id) is None
    assert_verifies(auth, instance_id)


def test_release_and_resume_that_fail_leave_the_claim_and_the_suspension(
        auth, platform, failing, fault):
    instance_id = failing("post_script", {"total": 100}, "REFUSE-2")
    task_id, _ = open_task(platform.sessions, instance_id)
    assert auth.as_(STAFF).post(f"/api/tasks/{task_id}/claim").status_code == 200
    fault.armed = True
    refused(auth.as_(STAFF).post(f"/api/tasks/{task_id}/release"))
    fault.armed = False
    assert claimed_by(auth, task_id) == STAFF
    assert auth.as_(LEAD).post(f"/api/instances/{instance_id}/suspend").status_code == 200
    fault.armed = True
    refused(auth.as_(LEAD).post(f"/api/instances/{instance_id}/resume"))
    fault.armed = False
    assert shown(auth, instance_id)["status"] == "suspended"
    assert auth.as_(LEAD).post(f"/api/instances/{instance_id}/resume").status_code == 200
    assert_verifies(auth, instance_id)


def _complete(auth, platform, instance_id):
    task_id, _ = open_task(platform.sessions, instance_id)
    return auth.as_(STAFF).post(f"/api/tasks/{task_id}/complete", json={"data": {"parts": 4}})


def _message(auth, platform, instance_id):
    return auth.as_("admin").post("/api/messages", json={
        "name": "slot_booked", "correlation": "INCIDENT-message",
        "payload": {"start": "9", "end": "11"}})


def _fire(auth, platform, instance_id):
    [timer] = auth.as_(LEAD).get(f"/api/timers?instance_id={instance_id}").get_json()["items"]
    return auth.as_(LEAD).post(f"/api/instances/{instance_id}/timers/{timer['task_id']}/fire",
                               json={"reason": "customer called"})


def _reschedule(auth, platform, instance_id):
    [timer] = auth.as_(LEAD).get(f"/api/timers?instance_id={instance_id}").get_json()["items"]
    due = (clock.now() + timedelta(minutes=5)).isoformat()
    return auth.as_(LEAD).post(
        f"/api/instances/{instance_id}/timers/{timer['task_id']}/reschedule",
        json={"due_at": due})


def _cancel(auth, platform, instance_id):
    return auth.as_(LEAD).post(f"/api/instances/{instance_id}/cancel", json={"reason": "dup"})


# (verb, process, start data, the call) of the commands that change the workflow.
INCIDENTS = [
    ("complete", "post_script", {"total": 100}, _complete),
    ("message", "message_payload", {}, _message),
    ("fire", "timer_script", {"parts": ["a"]}, _fire),
    ("reschedule", "timer_script", {"parts": ["a"]}, _reschedule),
    ("cancel", "post_script", {"total": 100}, _cancel),
]


@pytest.mark.parametrize("verb,process,data,call", INCIDENTS, ids=[i[0] for i in INCIDENTS])
def test_a_command_that_fails_while_writing_back_is_an_incident_retried_and_skipped(
        auth, platform, failing, fault, verb, process, data, call):
    instance_id = failing(process, data, f"INCIDENT-{verb}")
    before = snapshot(auth, instance_id)
    fault.armed = True
    refused(call(auth, platform, instance_id))
    now = shown(auth, instance_id)
    assert now["status"] == "error" and FAULT in now["error"]
    assert now["version"] == before["version"] + 1          # the incident alone was written
    assert history(auth, instance_id)[-1]["kind"] == "incident"
    refused(auth.as_(LEAD).post(f"/api/instances/{instance_id}/retry"))
    refused(auth.as_(LEAD).post(f"/api/instances/{instance_id}/skip"))
    assert shown(auth, instance_id)["status"] == "error"    # the refused skip changed nothing
    fault.armed = False
    retried = auth.as_(LEAD).post(f"/api/instances/{instance_id}/retry")
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["status"] != "error"
    assert_verifies(auth, instance_id)


def test_a_migration_that_fails_on_the_way_reports_the_instance_and_leaves_it(
        auth, platform, failing, fault):
    instance_id = failing("post_script", {"total": 100}, "MOVE-1")
    source = (DATA / "failing" / "post_script.bpmn").read_bytes()
    renamed = source.replace(b'name="Count parts"', b'name="Count the parts"')
    forms = Bundle.from_folder(DATA / "failing").forms
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_files(
            [("post_script.bpmn", renamed), *((f"forms/{n}", b) for n, b in forms.items())]),
            "owner")
    before = snapshot(auth, instance_id)
    fault.armed = True
    answer = auth.as_("owner").post("/api/definitions/post_script/migrations",
                                    json={"from": 1, "to": 2, "instance_ids": [instance_id]})
    fault.armed = False
    assert answer.status_code == 200, answer.get_json()
    [item] = answer.get_json()["items"]
    assert item["moved"] is False and FAULT in item["reasons"][0]
    assert_unchanged(auth, instance_id, before)
    moved = auth.as_("owner").post("/api/definitions/post_script/migrations",
                                   json={"from": 1, "to": 2, "instance_ids": [instance_id]})
    assert moved.get_json()["moved"] == 1
    assert_verifies(auth, instance_id)


def test_a_reply_the_instance_cannot_take_is_one_incident_and_the_effect_is_not_repeated(
        auth, platform, failing, monkeypatch):
    instance_id = failing("message_payload", {}, "REPLY-1")
    calls = []

    def courier(session, row, settings):
        calls.append(row.id)
        return {"booking": "PK-1"}, outbox.Reply("slot_booked", {"start": "nine", "end": "ten"})
    monkeypatch.setitem(outbox._ADAPTERS_OVERRIDE, "courier.book_slot", courier)
    with platform.sessions.begin() as session:
        services.write_intents(session, instance_id, "REPLY-1", [services.Intent(
            "courier.book_slot", "REPLY-1:slot", {}, "wait_slot")], clock.now())
    for _ in range(platform.runtime.settings.outbox_max_attempts + 1):
        outbox.dispatch_due(platform.sessions, platform.runtime)
        clock.advance(timedelta(hours=1))
    assert len(calls) == 1                       # the courier booked once
    items = auth.as_("admin").get("/api/incidents").get_json()["items"]
    assert [(i["kind"], i["instance_id"]) for i in items] == [("instance", instance_id)]
    assert items[0]["operation"] == "message_delivered" and "invalid literal" in items[0]["last_error"]
    fixed = auth.as_(LEAD).post(f"/api/instances/{instance_id}/retry",
                                json={"data": {"start": "9", "end": "11"}})
    assert fixed.status_code == 200 and fixed.get_json()["status"] == "running"
    assert open_task(platform.sessions, instance_id)[1] == "confirm"
    assert_verifies(auth, instance_id)
