"""Task lists and task actions over HTTP."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import update

from engine import clock, department_settings, tasks
from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.definitions.validation import tasks as validation_tasks
from engine.models import HumanTask, ServiceRequest
from engine.runtime.verbs import Runtime
from tests.conftest import DATA
from tests.web.conftest import error_of, file_request, open_tasks


@pytest.fixture
def three(auth):
    """Three requests: a return (customer_service review), a repair (repair diagnose) and a
    complaint (customer_service respond, SLA PT2H)."""
    filed = [file_request(auth, "alice", order_id="O-1001", type="return_refund"),
             file_request(auth, "alice", order_id="O-1003", type="repair"),
             file_request(auth, "bob", order_id="O-1002", type="complaint")]
    return {t["bpmn_id"]: t for t in open_tasks(auth)} | {"filed": filed}


def test_staff_see_their_department_sorted_by_due(auth, three):
    cs = auth.as_("customer_service_1").get("/api/tasks").get_json()
    assert [t["bpmn_id"] for t in cs["items"]] == ["respond", "review"]     # PT2H before PT4H
    assert cs["total"] == 2
    row = cs["items"][0]
    assert set(row) >= {"task_id", "bpmn_id", "name", "request_number", "process", "department",
                        "priority", "created_at", "due_at", "sla_status", "claimed_by", "instance_id"}
    assert row["sla_status"] == "on_time" and row["process"] == "aftersales_request"
    repair = auth.as_("repair_1").get("/api/tasks").get_json()["items"]
    assert [t["bpmn_id"] for t in repair] == ["diagnose"]
    assert auth.as_("finance_1").get("/api/tasks").get_json()["items"] == []


def test_sla_status_moves_from_on_time_to_at_risk_to_breached(auth, three):
    cs = auth.as_("customer_service_1")
    clock.advance(timedelta(hours=1, minutes=40))        # 80% of PT2H has passed
    statuses = {t["bpmn_id"]: t["sla_status"] for t in cs.get("/api/tasks").get_json()["items"]}
    assert statuses == {"respond": "at_risk", "review": "on_time"}
    clock.advance(timedelta(minutes=20))
    overdue = cs.get("/api/tasks?overdue=true").get_json()["items"]
    assert [(t["bpmn_id"], t["sla_status"]) for t in overdue] == [("respond", "breached")]
    assert [t["bpmn_id"] for t in cs.get("/api/tasks?at_risk=true").get_json()["items"]] == []


def test_filters_sorts_and_paging(auth, three):
    admin = auth.as_("admin")
    get = lambda query: admin.get(f"/api/tasks?{query}").get_json()  # noqa: E731
    assert [t["bpmn_id"] for t in get("department=repair")["items"]] == ["diagnose"]
    assert [t["bpmn_id"] for t in get("sort=age")["items"]] == ["review", "diagnose", "respond"]
    page = get("per_page=2&page=2")
    assert page["total"] == 3 and [t["bpmn_id"] for t in page["items"]] == ["diagnose"]
    assert get("process=aftersales_request")["total"] == 3 and get("process=other")["total"] == 0
    later = (clock.now() + timedelta(hours=3)).isoformat()
    assert [t["bpmn_id"] for t in get(f"due_to={later.replace('+', '%2B')}")["items"]] == ["respond"]
    for query, field in (("sort=random", "sort"), ("per_page=500", "per_page"),
                         ("overdue=maybe", "overdue"), ("due_from=yesterday", "due_from"),
                         ("department=marketing", "department"), ("colour=red", "colour"),
                         ("created_from=9999-12-31T23:59:59-14:00", "created_from"),
                         ("due_to=0001-01-01T00:00:00%2B14:00", "due_to")):
        response = admin.get(f"/api/tasks?{query}")
        assert response.status_code == 422 and error_of(response)["details"]["field"] == field


def test_assignee_filters(auth, three):
    cs = auth.as_("customer_service_1")
    cs.post(f"/api/tasks/{three['review']['task_id']}/claim")
    assert [t["bpmn_id"] for t in cs.get("/api/tasks?assignee=me").get_json()["items"]] == ["review"]
    assert [t["bpmn_id"] for t in cs.get("/api/tasks?assignee=unassigned").get_json()["items"]] == ["respond"]
    lead = auth.as_("cs_lead").get("/api/tasks?assignee=customer_service_1").get_json()["items"]
    assert [t["claimed_by"] for t in lead] == ["customer_service_1"]


def test_other_departments_tasks_are_403(auth, three):
    finance = auth.as_("finance_1")
    assert finance.get("/api/tasks?department=customer_service").status_code == 403
    task_id = three["review"]["task_id"]
    for method, path in (("get", ""), ("post", "/claim"), ("post", "/release"),
                         ("get", "/comments"), ("get", "/attachments")):
        response = getattr(finance, method)(f"/api/tasks/{task_id}{path}")
        assert response.status_code == 403, path
    complete = finance.post(f"/api/tasks/{task_id}/complete", json={"data": {"approved": True}})
    assert complete.status_code == 403


def test_task_shows_form_schema_data_and_request(auth, three):
    shown = auth.as_("customer_service_1").get(f"/api/tasks/{three['review']['task_id']}").get_json()
    assert shown["task"]["status"] == "open" and shown["task"]["sla_status"] == "on_time"
    assert shown["form_schema"]["required"] == ["approved"]
    assert shown["data"]["order_id"] == "O-1001" and shown["data"]["amount"] == "299.00"
    assert shown["request"]["number"] == three["filed"][0]["number"]
    assert shown["comments"] == [] and shown["attachments"] == []
    assert isinstance(shown["task"]["version"], int)


@pytest.mark.parametrize("blank", ["   ", "\t\n", "\u3000"])
def test_a_required_text_of_only_spaces_is_refused_naming_the_field(auth, three, blank):
    task_id = three["respond"]["task_id"]
    cs = auth.as_("customer_service_1")
    refused = cs.post(f"/api/tasks/{task_id}/complete", json={"data": {"resolution": blank}})
    assert refused.status_code == 422, refused.get_json()
    assert error_of(refused)["details"]["field"] == "resolution"
    assert task_id in [t["task_id"] for t in open_tasks(auth)]          # nothing changed


def test_claim_release_complete_and_their_conflicts(auth, three):
    task_id = three["review"]["task_id"]
    one, two = auth.as_("customer_service_1"), auth.as_("customer_service_2")
    claimed = one.post(f"/api/tasks/{task_id}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["claimed_by"] == "customer_service_1"
    taken = two.post(f"/api/tasks/{task_id}/claim")
    assert taken.status_code == 409 and "customer_service_1" in error_of(taken)["message"]
    assert two.post(f"/api/tasks/{task_id}/complete", json={"data": {"approved": True}}).status_code == 409
    assert two.post(f"/api/tasks/{task_id}/release").status_code == 403
    released = one.post(f"/api/tasks/{task_id}/release")
    assert released.status_code == 200 and released.get_json()["claimed_by"] is None
    assert one.post(f"/api/tasks/{task_id}/release").status_code == 409
    version = one.get(f"/api/tasks/{task_id}").get_json()["task"]["version"]
    stale = one.post(f"/api/tasks/{task_id}/complete",
                     json={"data": {"approved": True}, "version": version - 1})
    assert stale.status_code == 409 and "reload" in error_of(stale)["message"]
    invalid = one.post(f"/api/tasks/{task_id}/complete", json={"data": {"approved": "yes"}})
    assert invalid.status_code == 422 and error_of(invalid)["details"]["field"] == "approved"
    done = one.post(f"/api/tasks/{task_id}/complete",
                    json={"data": {"approved": True}, "version": version})
    assert done.status_code == 200
    assert done.get_json()["status"] == "waiting" and done.get_json()["next_tasks"] == []
    again = one.post(f"/api/tasks/{task_id}/complete", json={"data": {"approved": True}})
    assert again.status_code == 409 and "already completed" in error_of(again)["message"]
    after = one.get(f"/api/tasks/{task_id}").get_json()
    assert after["task"]["status"] == "completed" and after["data"] == {"approved": True}


def test_a_department_that_requires_a_claim_refuses_an_unclaimed_completion(auth, three):
    """The department's rule holds over the API as on the pages (engine/department_settings)."""
    with auth.client.application.extensions["aftersales"].sessions.begin() as session:
        department_settings.set_claim_required(session, Actor("cs_lead", "supervisor",
                                                              "cs_supervisor"),
                                               "customer_service", True, clock.now())
    task_id = three["review"]["task_id"]
    one = auth.as_("customer_service_1")
    refused = one.post(f"/api/tasks/{task_id}/complete", json={"data": {"approved": True}})
    assert refused.status_code == 409 and "claim the task" in error_of(refused)["message"]
    assert one.get(f"/api/tasks/{task_id}").get_json()["task"]["status"] != "completed"
    assert one.post(f"/api/tasks/{task_id}/claim").status_code == 200
    done = one.post(f"/api/tasks/{task_id}/complete", json={"data": {"approved": True}})
    assert done.status_code == 200, done.get_json()


def test_supervisor_reassigns_staff_may_not(auth, three):
    task_id = three["review"]["task_id"]
    denied = auth.as_("customer_service_1").post(f"/api/tasks/{task_id}/reassign",
                                                 json={"assignee": "customer_service_2"})
    assert denied.status_code == 403
    lead = auth.as_("cs_lead")
    moved = lead.post(f"/api/tasks/{task_id}/reassign", json={"assignee": "customer_service_2"})
    assert moved.status_code == 200 and moved.get_json()["claimed_by"] == "customer_service_2"
    ghost = lead.post(f"/api/tasks/{task_id}/reassign", json={"assignee": "ghost"})
    assert ghost.status_code == 422 and error_of(ghost)["details"]["field"] == "assignee"
    customer = lead.post(f"/api/tasks/{task_id}/reassign", json={"assignee": "alice"})
    assert customer.status_code == 422
    back = lead.post(f"/api/tasks/{task_id}/reassign", json={"assignee": None})
    assert back.get_json()["claimed_by"] is None
    repair = lead.post(f"/api/tasks/{three['diagnose']['task_id']}/reassign",
                       json={"assignee": "customer_service_2"})
    assert repair.status_code == 403                       # cs_supervisor does not oversee repair


def test_bulk_reassign_is_all_or_nothing(auth, three):
    cs_tasks = [three["review"]["task_id"], three["respond"]["task_id"]]
    lead = auth.as_("cs_lead")
    refused = lead.post("/api/tasks/reassign", json={
        "task_ids": cs_tasks + [three["diagnose"]["task_id"]], "assignee": "customer_service_2"})
    assert refused.status_code == 403
    assert error_of(refused)["details"]["index"] == 2
    assert {t["claimed_by"] for t in open_tasks(auth)} == {None}
    done = lead.post("/api/tasks/reassign", json={"task_ids": cs_tasks, "assignee": "customer_service_2"})
    assert done.status_code == 200 and len(done.get_json()["reassigned"]) == 2
    mine = auth.as_("customer_service_2").get("/api/tasks?assignee=me").get_json()
    assert mine["total"] == 2
    empty = lead.post("/api/tasks/reassign", json={"task_ids": [], "assignee": "customer_service_2"})
    assert empty.status_code == 422 and error_of(empty)["details"]["field"] == "task_ids"


def test_reassigned_staff_sees_and_completes_a_task_of_another_department(auth, three):
    auth.as_("ops_head").post(f"/api/tasks/{three['diagnose']['task_id']}/reassign",
                              json={"assignee": "customer_service_1"})
    cs = auth.as_("customer_service_1")
    assert "diagnose" in [t["bpmn_id"] for t in cs.get("/api/tasks").get_json()["items"]]
    done = cs.post(f"/api/tasks/{three['diagnose']['task_id']}/complete", json={"data": {"quote": 0}})
    assert done.status_code == 200


def test_a_completions_next_tasks_are_the_open_tasks_of_its_instance(auth, three, platform):
    """engine.tasks.next_tasks (read in no transaction once a completion committed) answers as
    open_tasks_of does in a session: the same rows, each with its own tier or else its
    request's (as the task list gives them)."""
    with platform.sessions.begin() as session:
        session.execute(update(HumanTask).where(HumanTask.bpmn_id == "respond")
                        .values(tier="L2"))
        session.execute(update(ServiceRequest).values(service_tier="expert"))
    head = Actor("ops_head", "supervisor", "management")
    with platform.sessions() as session:
        for filed in three["filed"]:
            expected = tasks.open_tasks_of(session, head, filed["instance_id"])
            assert tasks.next_tasks(platform.engine, head, filed["instance_id"]) == expected
            listed = [t for t in open_tasks(auth, "ops_head") if t["instance_id"] == filed["instance_id"]]
            assert [t["tier"] for t in listed] == [t["tier"] for t in expected]
            assert [t["tier"] for t in expected] == (
                ["L2"] if expected[0]["bpmn_id"] == "respond" else ["expert"])
        cs = Actor("customer_service_1", "staff", "customer_service")
        repair = three["filed"][1]["instance_id"]
        assert tasks.next_tasks(platform.engine, cs, repair) == []      # repair's task


def test_a_form_deployed_with_a_ref_to_nothing_refuses_the_completion_naming_the_field(
        auth, platform, tmp_path, monkeypatch):
    """As a form deployed before validation followed $refs: completing its task was a 500
    (jsonschema's PointerToNowhere); now a 422 naming the field, and the task stays open."""
    bundle = tmp_path / "simple"
    shutil.copytree(DATA / "simple", bundle)
    (bundle / "forms" / "review.json").write_text(json.dumps({
        "type": "object", "required": ["approved"], "properties": {
            "approved": {"type": "boolean"}, "note": {"$ref": "#/definitions/nowhere"}}}))
    monkeypatch.setattr(validation_tasks, "ref_errors", lambda schema: [])
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(bundle), "owner")
        Runtime(platform.settings).start(session, "simple", {"request_no": "AS-REF",
                                                             "amount": 10.0}, SYSTEM)
    [task] = open_tasks(auth, process="simple")
    refused = auth.as_("customer_service_1").post(
        f"/api/tasks/{task['task_id']}/complete", json={"data": {"approved": True, "note": "x"}})
    assert refused.status_code == 422, refused.get_json()
    error = error_of(refused)
    assert error["details"]["field"] == "note" and "cannot be checked" in error["message"]
    assert [t["task_id"] for t in open_tasks(auth, process="simple")] == [task["task_id"]]
