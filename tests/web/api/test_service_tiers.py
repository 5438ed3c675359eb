"""Service tiers (engine/service_tiers.py): the routing table gives each request the tier it
needs, the request shows it, the KPIs count by it; admins give staff their tier."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock, orders
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from tests.conftest import ROOT
from tests.web.conftest import error_of, file_request, order_body

DAY = "from=2026-11-23&to=2026-11-23"


@pytest.fixture
def routed(auth, platform):
    """The product's processes; a normal return (L1), a VIP's return filed by customer service
    (L2) and a 3C repair (expert). Returns their numbers."""
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
        orders.upsert(session, "O-4001", order_body("C002", "3c", (("PHONE-1", 1, "1999.00"),)))
    normal = file_request(auth, "alice", order_id="O-1001")["number"]
    vip = file_request(auth, "customer_service_1", order_id="O-1004", customer_id="C001",
                       customer_tier="vip")["number"]
    repair = file_request(auth, "bob", order_id="O-4001", type="repair")["number"]
    return normal, vip, repair


def test_the_routing_table_sets_the_tier_each_request_needs(auth, routed):
    lead = auth.as_("cs_lead")
    assert [lead.get(f"/api/requests/{n}").get_json()["service_tier"] for n in routed] == \
        ["L1", "L2", "expert"]
    assert "service_tier" not in auth.as_("alice").get(f"/api/requests/{routed[0]}").get_json()


def test_a_customer_who_complained_in_the_last_30_days_gets_the_second_line(auth, platform):
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")

    def routed(number):
        request = auth.as_("cs_lead").get(f"/api/requests/{number}").get_json()
        return request["service_tier"], request["priority"]

    first = file_request(auth, "alice", order_id="O-1001", type="complaint")["number"]
    return_after = file_request(auth, "alice", order_id="O-1004")["number"]
    again = file_request(auth, "alice", order_id="O-1003", type="complaint")["number"]
    bobs = file_request(auth, "bob", order_id="O-1002", type="complaint")["number"]
    assert [routed(n) for n in (first, return_after, again, bobs)] == [
        ("L1", 3), ("L1", 3), ("L2", 2), ("L1", 3)]
    # The count is the platform's: a filing may not say it.
    told = auth.as_("alice").post("/api/requests", json={
        "order_id": "O-1001", "type": "complaint", "reason": "x", "repeat_complaints": 0})
    assert told.status_code == 422 and error_of(told)["details"]["field"] == "repeat_complaints"
    staff_told = auth.as_("customer_service_1").post("/api/requests", json={
        "order_id": "O-1001", "customer_id": "C001", "type": "complaint",
        "repeat_complaints": 0})
    assert staff_told.status_code == 422
    # Thirty-one days after the last of them, a complaint is a first one again.
    clock.advance(timedelta(days=31))
    auth.tokens.clear()                                 # theirs expired meanwhile
    later = file_request(auth, "alice", order_id="O-1001", type="complaint")["number"]
    assert routed(later) == ("L1", 3)


def test_kpis_and_reports_count_by_tier(auth, routed):
    by_tier = auth.as_("ops_head").get(f"/api/kpis?{DAY}").get_json()["by_tier"]
    assert {tier: f["requests"] for tier, f in by_tier.items()} == {"L1": 1, "L2": 1, "expert": 1}
    assert by_tier["expert"]["tasks"]["open"] == 1
    report = auth.as_("ops_head").get("/api/reports/2026-11").get_json()
    assert report["kpis"]["by_tier"] == by_tier


def test_admins_give_staff_their_tier(auth):
    admin = auth.as_("admin")
    given = admin.put("/api/users/customer_service_2/tier", json={"tier": "L2"})
    assert given.status_code == 200 and given.get_json() == {"username": "customer_service_2",
                                                             "tier": "L2"}
    assert admin.put("/api/users/repair_1/tier", json={"tier": "expert"}).status_code == 200
    listed = auth.as_("cs_lead").get("/api/tiers").get_json()["items"]
    assert [(r["username"], r["tier"]) for r in listed] == [("customer_service_2", "L2"),
                                                            ("repair_1", "expert")]
    wrong = admin.put("/api/users/customer_service_2/tier", json={"tier": "L3"})
    assert wrong.status_code == 422 and error_of(wrong)["details"]["field"] == "tier"
    customer = admin.put("/api/users/alice/tier", json={"tier": "L1"})
    assert customer.status_code == 422 and error_of(customer)["details"]["field"] == "username"
    assert admin.put("/api/users/nobody/tier", json={"tier": "L1"}).status_code == 404
    assert auth.as_("cs_lead").put("/api/users/customer_service_1/tier",
                                   json={"tier": "L2"}).status_code == 403


def test_the_task_list_filters_by_the_tier_the_request_needs(auth, routed):
    normal, vip, repair = routed
    expert = auth.as_("admin").get("/api/tasks", query_string={"tier": "expert"}).get_json()
    assert [t["request_number"] for t in expert["items"]] == [repair] and expert["total"] == 1
    assert [t["tier"] for t in expert["items"]] == ["expert"]          # each row says its tier
    l2 = auth.as_("finance_1").get("/api/tasks", query_string={"tier": "L2"}).get_json()
    assert {t["request_number"] for t in l2["items"]} == {vip}
    wrong = auth.as_("admin").get("/api/tasks", query_string={"tier": "L3"})
    assert wrong.status_code == 422 and error_of(wrong)["details"]["field"] == "tier"


def test_every_order_of_the_task_list_and_the_instance_give_each_task_its_requests_tier(auth,
                                                                                       routed):
    tiers = dict(zip(routed, ["L1", "L2", "expert"]))
    admin = auth.as_("admin")
    for sort in ("due", "priority", "age"):
        listed = admin.get("/api/tasks", query_string={"sort": sort}).get_json()["items"]
        assert {t["request_number"]: t["tier"] for t in listed if t["request_number"] in tiers} \
            == tiers, sort
    instance_id = admin.get(f"/api/requests/{routed[2]}").get_json()["instance_id"]
    shown = admin.get(f"/api/instances/{instance_id}").get_json()
    assert [t["tier"] for t in shown["tasks"]] == ["expert"]
