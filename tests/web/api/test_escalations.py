"""Escalations in business time, through the API, with a frozen clock (issue 16, items 5 and 7).

The calendar: Asia/Shanghai, 09:00-18:00 on weekdays; Monday 2026-11-30 is a holiday (by the
setting) and Sunday 2026-12-06 a make-up workday (by the calendar file). A complaint filed on
Friday 2026-11-27 at 17:00 has 4 business hours to get its response: one on Friday, then the
weekend and the holiday pass, three on Tuesday, so it is due Tuesday at 12:00. It needs L1, so
it goes up a level each 4 business hours from then: handed to L2 at 12:00, to an expert at
16:00, escalated to the supervisor on Wednesday at 11:00 and to management at 15:00. The SLA
watch runs as the scheduler runs it (engine.jobs.sla.check with the clock); everything else is
the API's. Customer service's customer_service_1 is an expert, customer_service_2 is L1. Each
case runs on SQLite and on PostgreSQL.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine import clock
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.jobs import sla, timers
from engine.models import Outbox
from tests.conftest import ROOT
from tests.web.conftest import file_request, open_tasks
from web import create_app

SHANGHAI = ZoneInfo("Asia/Shanghai")
RESPONSE = {"complaint_response": "We are sorry.", "proposed_resolution": "coupon"}
RESOLUTION = {"complaint_resolution": "Coupon 20 CNY", "compensation_amount": 20}


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """That wall-clock time in Shanghai, as the UTC instant the platform's clock tells."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


def utc_text(at: datetime) -> str:
    return at.isoformat()


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, db_url, tmp_path):
    """The app on SQLite, and on PostgreSQL when AFTERSALES_TEST_PG_URL is set."""
    if request.param == "postgresql":
        db_url = request.getfixturevalue("pg_url")
    calendar_file = tmp_path / "calendar.txt"
    calendar_file.write_text("# 调休\n2026-12-06 workday\n", encoding="utf-8")
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "holidays": ("2026-11-30",), "calendar_file": calendar_file,
                      "token_ttl_hours": 24 * 60, "TESTING": True, "SQL_DURABLE": False})
    yield app
    app.extensions["aftersales"].engine.dispose()


@pytest.fixture
def desk(auth, platform):
    """The product's processes deployed; the clock at Friday 2026-11-27 17:00 in Shanghai."""
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
    clock.freeze(local(27, 17))
    given = auth.as_("admin").put("/api/users/customer_service_1/tier", json={"tier": "expert"})
    assert given.status_code == 200, given.get_json()
    return Desk(auth, platform)


class Desk:
    def __init__(self, auth, platform):
        self.auth, self.platform = auth, platform

    def at(self, when: datetime) -> dict:
        """Move the clock to `when`, fire the timers due and run the SLA watch; returns what
        the watch did."""
        clock.freeze(when)
        timers.run_due(self.platform.sessions, self.platform.runtime)
        return sla.check(self.platform.sessions, self.platform.runtime, clock.now())

    def tasks(self, number: str) -> dict:
        """The open tasks of request `number` and of its escalations: {bpmn id: task}."""
        found = {}
        for task in open_tasks(self.auth, per_page=100):
            if task["request_number"] == number or \
                    task["request_number"].startswith(f"ESC-{number}-"):
                assert task["bpmn_id"] not in found, f"two open {task['bpmn_id']} tasks"
                found[task["bpmn_id"]] = task
        return found

    def tier(self, number: str, bpmn_id: str) -> str:
        """The service tier open task `bpmn_id` of request `number` needs now."""
        return self.tasks(number)[bpmn_id]["tier"]

    def escalations(self, number: str) -> list[str]:
        """The departments of the open escalation tasks of request `number`, sorted."""
        return sorted(t["department"] for t in open_tasks(self.auth, per_page=100)
                      if t["request_number"].startswith(f"ESC-{number}-"))

    def complete(self, number: str, bpmn_id: str, data: dict, user="customer_service_1"):
        task = self.tasks(number)[bpmn_id]
        done = self.auth.as_(user).post(f"/api/tasks/{task['task_id']}/complete",
                                        json={"data": data})
        assert done.status_code == 200, done.get_json()

    def history(self, instance_id: int) -> list[dict]:
        response = self.auth.as_("auditor").get(f"/api/instances/{instance_id}/history",
                                                query_string={"per_page": 100})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"]

    def verifies(self, instance_id: int) -> bool:
        replay = self.auth.as_("auditor").get(f"/api/instances/{instance_id}/replay").get_json()
        return replay["ok"] is True


def test_a_friday_complaint_goes_up_the_tiers_then_escalates_once_per_level(desk):
    filed = file_request(desk.auth, "alice", order_id="O-1001", type="complaint")
    number = filed["number"]
    respond = desk.tasks(number)["respond_to_complaint"]
    assert respond["due_at"] == utc_text(local(1, 12, month=12))    # Tuesday 12:00
    assert respond["tier"] == "L1"
    for night_and_holiday in (local(27, 21), local(28, 1), local(30, 12), local(1, 11, 59, 12)):
        desk.at(night_and_holiday)
        assert desk.tier(number, "respond_to_complaint") == "L1", night_and_holiday

    assert desk.at(local(1, 12, 1, 12))["escalated"] == 1
    assert desk.tier(number, "respond_to_complaint") == "L2"
    assert desk.escalations(number) == []
    desk.at(local(1, 15, 59, 12))
    assert desk.tier(number, "respond_to_complaint") == "L2"
    desk.at(local(1, 16, 1, 12))
    assert desk.tier(number, "respond_to_complaint") == "expert"
    assert desk.escalations(number) == []
    desk.at(local(2, 10, 59, 12))                   # Tuesday 16-18, Wednesday 9-11
    assert desk.escalations(number) == []
    desk.at(local(2, 11, 1, 12))
    assert desk.escalations(number) == ["cs_supervisor"]
    desk.at(local(2, 14, 59, 12))
    assert desk.escalations(number) == ["cs_supervisor"]
    desk.at(local(2, 15, 1, 12))
    assert desk.escalations(number) == ["cs_supervisor", "management"]
    # A week later nothing new: the level was escalated once, and escalation tasks, however
    # late themselves (their own SLA is 2 and 4 hours), are never escalated.
    for later in (local(3, 12, month=12), local(9, 12, month=12)):
        assert desk.at(later)["escalated"] == 0
        assert desk.escalations(number) == ["cs_supervisor", "management"]
    escalation = desk.tasks(number)["handle_sla_breach"]
    assert escalation["due_at"] == utc_text(local(2, 13, 1, 12))       # its own SLA, shown
    assert desk.tier(number, "respond_to_complaint") == "expert"

    kinds = [(e["kind"], e["payload"].get("level"), e["payload"].get("escalated"))
             for e in desk.history(filed["instance_id"]) if e["kind"].startswith("sla_")]
    assert kinds == [("sla_at_risk", None, None), ("sla_tier_raised", "L2", None),
                     ("sla_tier_raised", "expert", None),
                     ("sla_escalated", "cs_supervisor", True),
                     ("sla_escalated", "management", True)]
    with desk.platform.sessions() as session:      # each level notified the department
        notes = session.execute(select(Outbox.payload).where(
            Outbox.operation == "notify.staff", Outbox.business_key == number)
            .order_by(Outbox.id)).scalars().all()
    assert [(n["template"], n["department"]) for n in notes] == [
        (kind, "customer_service") for kind, _, _ in kinds]
    assert desk.verifies(filed["instance_id"])
    assert desk.verifies(escalation["instance_id"])


def test_a_task_handed_to_l2_is_taken_from_l1_and_only_l2_or_above_may_take_it(desk):
    filed = file_request(desk.auth, "alice", order_id="O-1001", type="complaint")
    number = filed["number"]
    task_id = desk.tasks(number)["respond_to_complaint"]["task_id"]
    junior, senior = desk.auth.as_("customer_service_2"), desk.auth.as_("customer_service_1")
    assert junior.post(f"/api/tasks/{task_id}/claim").status_code == 200      # L1 takes L1
    desk.at(local(1, 12, 1, 12))
    [raised] = [e for e in desk.history(filed["instance_id"])
                if e["kind"] == "sla_tier_raised"]
    assert raised["actor"] == "system"
    assert {k: raised["payload"][k] for k in ("level", "previous", "released")} == {
        "level": "L2", "previous": "L1", "released": "customer_service_2"}
    assert desk.tasks(number)["respond_to_complaint"]["claimed_by"] is None

    l2 = desk.auth.as_("admin").get("/api/tasks", query_string={"tier": "L2"}).get_json()
    assert [t["task_id"] for t in l2["items"]] == [task_id]
    l1 = desk.auth.as_("admin").get("/api/tasks", query_string={"tier": "L1"}).get_json()
    assert task_id not in [t["task_id"] for t in l1["items"]]
    refused = junior.post(f"/api/tasks/{task_id}/claim")
    assert refused.status_code == 403
    assert "handed to L2" in refused.get_json()["error"]["message"]
    completed = junior.post(f"/api/tasks/{task_id}/complete", json={"data": RESPONSE})
    assert completed.status_code == 403
    assert senior.post(f"/api/tasks/{task_id}/claim").status_code == 200     # an expert may
    desk.at(local(1, 16, 1, 12))
    assert desk.tasks(number)["respond_to_complaint"]["claimed_by"] == "customer_service_1"
    desk.complete(number, "respond_to_complaint", RESPONSE)
    assert desk.verifies(filed["instance_id"])


def test_the_sla_breach_of_another_task_does_not_escalate_the_level_again(desk):
    filed = file_request(desk.auth, "alice", order_id="O-1001", type="complaint")
    number = filed["number"]
    for level_at in (local(1, 12, 1, 12), local(1, 16, 1, 12), local(2, 11, 1, 12)):
        desk.at(level_at)
    assert desk.escalations(number) == ["cs_supervisor"]
    # Answered late; the resolution (2 business days from the answer) is late too, and goes
    # up its own ladder from L1 (2 business days, 18 working hours, a level; Sunday 12-06 is
    # a make-up workday).
    desk.complete(number, "respond_to_complaint", RESPONSE)
    resolve = desk.tasks(number)["resolve_complaint"]
    assert (resolve["due_at"], resolve["tier"]) == (utc_text(local(4, 11, 1, 12)), "L1")
    desk.at(local(4, 11, 2, 12))
    assert desk.tier(number, "resolve_complaint") == "L2"
    desk.at(local(7, 11, 2, 12))
    assert desk.tier(number, "resolve_complaint") == "expert"
    desk.at(local(9, 11, 2, 12))
    assert desk.escalations(number) == ["cs_supervisor"]
    breaches = [e["payload"] for e in desk.history(filed["instance_id"])
                if e["kind"] == "sla_escalated" and e["payload"]["level"] == "cs_supervisor"]
    assert [(b["task"], b["escalated"]) for b in breaches] == [
        ("Respond to complaint 响应投诉", True), ("Resolve complaint 解决投诉", False)]
    assert desk.verifies(filed["instance_id"])


def test_resolving_closes_the_open_escalations_and_the_request_resolves(desk):
    filed = file_request(desk.auth, "alice", order_id="O-1001", type="complaint")
    number = filed["number"]
    for level_at in (local(1, 12, 1, 12), local(1, 16, 1, 12), local(2, 11, 1, 12),
                     local(2, 15, 1, 12)):
        desk.at(level_at)
    assert desk.escalations(number) == ["cs_supervisor", "management"]
    escalation_ids = {t["instance_id"] for t in desk.tasks(number).values()
                      if t["request_number"].startswith("ESC-")}
    desk.complete(number, "respond_to_complaint", RESPONSE)
    desk.complete(number, "resolve_complaint", RESOLUTION)
    assert desk.escalations(number) == ["cs_supervisor", "management"]  # not resolved yet
    confirmed = desk.auth.as_("alice").post(f"/api/requests/{number}/feedback",
                                            json={"confirmed": True})
    assert confirmed.status_code == 200, confirmed.get_json()

    assert desk.escalations(number) == []
    request = desk.auth.as_("admin").get(f"/api/requests/{number}").get_json()
    assert request["status"] == "resolved"
    for escalation_id in escalation_ids:
        instance = desk.auth.as_("admin").get(f"/api/instances/{escalation_id}").get_json()
        assert instance["status"] == "cancelled"
        [closed] = [e for e in desk.history(escalation_id) if e["kind"] == "cancelled"]
        assert closed["actor"] == "system"
        assert closed["payload"]["reason"] == f"request {number} is resolved"
        assert desk.verifies(escalation_id)

    desk.at(local(5, 15, 2, 12))                      # 3 days after: the callback
    desk.complete(number, "callback_customer", {"callback_done": True})
    rated = desk.auth.as_("alice").post(f"/api/requests/{number}/rating", json={"score": 4})
    assert rated.status_code == 200, rated.get_json()
    request = desk.auth.as_("admin").get(f"/api/requests/{number}").get_json()
    assert request["status"] == "closed"
    assert desk.verifies(filed["instance_id"])


def test_suspended_over_the_weekend_and_holiday_the_sla_keeps_its_time(desk):
    filed = file_request(desk.auth, "alice", order_id="O-1001", type="complaint")
    number, instance_id = filed["number"], filed["instance_id"]
    lead = desk.auth.as_("cs_lead")
    clock.freeze(local(27, 17, 30))               # half an hour used, 3.5 business hours left
    assert lead.post(f"/api/instances/{instance_id}/suspend",
                     json={"reason": "waiting for the courier's report"}).status_code == 200
    desk.at(local(1, 13, month=12))               # the due time passed while suspended
    assert desk.tier(number, "respond_to_complaint") == "L1"
    assert [e for e in desk.history(instance_id) if e["kind"].startswith("sla_")] == []
    assert lead.post(f"/api/instances/{instance_id}/resume", json={}).status_code == 200

    respond = desk.tasks(number)["respond_to_complaint"]
    assert respond["due_at"] == utc_text(local(1, 16, 30, 12))    # Tuesday 13:00 + 3.5 h
    [resumed] = [e for e in desk.history(instance_id) if e["kind"] == "resumed"]
    assert resumed["payload"]["sla_paused_seconds"] == 4.5 * 3600  # Fri 0.5 h + Tue 4 h
    desk.at(local(1, 16, 29, 12))
    assert desk.tier(number, "respond_to_complaint") == "L1"
    desk.at(local(1, 16, 31, 12))
    assert desk.tier(number, "respond_to_complaint") == "L2"
    # The expert: its 4 business hours once more after the moved due time, Wednesday 11:30;
    # suspended from 9:00 to 10:00 that morning, an hour later.
    clock.freeze(local(2, 9, month=12))
    assert lead.post(f"/api/instances/{instance_id}/suspend",
                     json={"reason": "the customer asked to wait"}).status_code == 200
    desk.at(local(2, 10, month=12))
    assert lead.post(f"/api/instances/{instance_id}/resume", json={}).status_code == 200
    desk.at(local(2, 12, 29, 12))
    assert desk.tier(number, "respond_to_complaint") == "L2"
    desk.at(local(2, 12, 31, 12))
    assert desk.tier(number, "respond_to_complaint") == "expert"
    desk.at(local(2, 16, 29, 12))
    assert desk.escalations(number) == []
    desk.at(local(2, 16, 31, 12))
    assert desk.escalations(number) == ["cs_supervisor"]
    assert desk.verifies(instance_id)


def test_the_routing_table_sla_reaches_refund_and_repair_tasks(desk):
    # Fresh food arrived damaged: the routing table answers within 1 hour (the approval's own
    # SLA is 4 hours), so it is due at Friday 18:00.
    fresh = file_request(desk.auth, "alice", order_id="O-1003", type="return_refund",
                         damage=True)
    approve = desk.tasks(fresh["number"])["approve_refund"]
    assert approve["due_at"] == utc_text(local(27, 18))
    # A 3C repair: the diagnosis (its own SLA 1 day: Tuesday 17:00) is the first response,
    # due within 4 business hours (Tuesday 12:00) ...
    repair = file_request(desk.auth, "alice", order_id="O-1001", type="repair")
    diagnose = desk.tasks(repair["number"])["diagnose"]
    assert diagnose["due_at"] == utc_text(local(1, 12, month=12))
    # ... and the whole repair within 48 business hours (with the Sunday make-up workday,
    # Monday 12-07 at 11:00): a repair started that morning is due then, not in 2 days.
    clock.freeze(local(7, 10, month=12))
    desk.complete(repair["number"], "diagnose", {"fault_found": True, "diagnosis": "battery",
                                                 "estimated_cost": 100, "in_warranty": True},
                  user="repair_1")
    repair_item = desk.tasks(repair["number"])["repair_item"]
    assert repair_item["due_at"] == utc_text(local(7, 11, month=12))
    assert desk.verifies(repair["instance_id"])


def test_a_make_up_workday_counts(desk):
    clock.freeze(local(4, 17, month=12))          # Friday; Sunday 12-06 is a workday
    filed = file_request(desk.auth, "alice", order_id="O-1001", type="complaint")
    respond = desk.tasks(filed["number"])["respond_to_complaint"]
    assert respond["due_at"] == utc_text(local(6, 12, month=12))
    desk.at(local(6, 12, 1, month=12))
    assert desk.tier(filed["number"], "respond_to_complaint") == "L2"
    assert desk.verifies(filed["instance_id"])


def test_the_calendar_over_the_api(desk):
    response = desk.auth.as_("customer_service_1").get("/api/calendar",
                                                       query_string={"months": 1})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["timezone"] == "Asia/Shanghai"
    assert body["working_hours"] == {"start": "09:00", "end": "18:00"}
    assert body["workdays"] == [0, 1, 2, 3, 4]
    assert (body["from"], body["to"]) == ("2026-11-27", "2026-12-31")
    assert body["days"] == [{"date": "2026-11-30", "weekday": 0, "kind": "holiday"},
                            {"date": "2026-12-06", "weekday": 6, "kind": "extra_workday"}]
    assert desk.auth.as_("alice").get("/api/calendar").status_code == 403
    bad = desk.auth.as_("cs_lead").get("/api/calendar", query_string={"months": 99})
    assert bad.status_code == 422
