"""The quality watch (engine/jobs/procurement.py): a SKU over the problem-rate threshold gets one
supplier-quality review for procurement, with the evidence, once per window."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock, orders
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.jobs.scheduler import PlatformScheduler
from tests.conftest import ROOT
from tests.web.conftest import file_request, open_tasks, order_body

KETTLE = (("KETTLE-1", 1, "199.00"),)


@pytest.fixture
def kettles(auth, platform):
    """Four kettles sold this month, three of them back for repair (one said to be of poor
    quality), and one repair of another product; an hour later. Returns the watch job."""
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_paths([ROOT / "bpmn" / "quality_review.bpmn"]),
                       "owner")
        for n in range(1, 5):
            orders.upsert(session, f"O-300{n}", order_body("C001", "3c", KETTLE))
    for n, reason in ((1, "用了两天就坏了，质量太差"), (2, "不加热"), (3, "开关失灵")):
        file_request(auth, "alice", order_id=f"O-300{n}", type="repair", reason=reason)
    file_request(auth, "alice", order_id="O-1003", type="repair")
    clock.advance(timedelta(hours=1))
    return PlatformScheduler(platform.sessions, platform.runtime)


def test_a_sku_over_the_threshold_goes_to_procurement_once(auth, kettles):
    assert kettles.run_quality_watch() == ["KETTLE-1"]     # SKU-O-1003: one problem only
    assert kettles.run_quality_watch() == []
    [task] = open_tasks(auth, "procurement_1")
    assert (task["bpmn_id"], task["department"]) == ("review_supplier_quality", "procurement")
    repair = {t["task_id"] for t in open_tasks(auth, "repair_1")}
    assert len(repair) == 4 and task["task_id"] not in repair
    data = auth.as_("procurement_1").get(f"/api/tasks/{task['task_id']}").get_json()["data"]
    assert (data["sku"], data["orders"], data["problems"], data["problem_rate"]) == \
        ("KETTLE-1", 4, 3, 0.75)
    first = data["evidence"][-1]
    assert first["problems"] == ["quality_feedback", "repair"]
    assert first["feedback"] == [{"text": "用了两天就坏了，质量太差", "classes": ["质量问题"]}]
    done = auth.as_("procurement_1").post(f"/api/tasks/{task['task_id']}/complete", json={
        "data": {"supplier_action": "claim_from_supplier", "supplier_finding": "bad batch"}})
    assert done.status_code == 200, done.get_json()


def test_a_new_window_may_review_the_sku_again(auth, kettles):
    assert kettles.run_quality_watch() == ["KETTLE-1"]
    clock.advance(timedelta(days=31))
    assert kettles.run_quality_watch() == []      # the old problems left the window
    for user in ("alice", "procurement_1"):        # a month on, the sign-ins have expired
        auth.login(user, fresh=True)
    with kettles.sessions.begin() as session:
        for n in range(5, 8):
            orders.upsert(session, f"O-300{n}", order_body("C001", "3c", KETTLE))
    for n in range(5, 8):
        file_request(auth, "alice", order_id=f"O-300{n}", type="repair", reason="坏了")
    clock.advance(timedelta(hours=1))
    assert kettles.run_quality_watch() == ["KETTLE-1"]
    assert len(open_tasks(auth, "procurement_1")) == 2


def test_below_the_threshold_nothing_opens(auth, kettles, platform):
    kettles.runtime.settings = platform.settings.with_(quality_rate_percent=80)
    assert kettles.run_quality_watch() == []
    assert open_tasks(auth, "procurement_1") == []
