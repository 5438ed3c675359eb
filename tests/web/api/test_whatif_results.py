"""What-if results for supervisors over HTTP (GET /api/whatif-results): the last what-if an
owner ran on each draft, kept, and read by supervisors cut to the requests and work of the
departments they oversee; a supervisor of another department sees nothing of it, staff,
customers, owners and auditors are refused."""
from __future__ import annotations

import pytest

from engine import users
from tests.web.api.test_drafts import simple, start, stricter  # noqa: F401  (the fixture)
from tests.web.conftest import FAST_HASH, PASSWORD, error_of

# Supervisors of one department each (engine.config.SUPERVISES has no entry for them).
LEADS = {"wh_lead": "warehouse", "pur_lead": "procurement"}


@pytest.fixture
def leads(platform, simple):  # noqa: F811
    with platform.sessions.begin() as session:
        for name, department in LEADS.items():
            users.create_user(session, name, PASSWORD, "supervisor", department, None,
                              method=FAST_HASH)
    return simple


def tried(owner, files, title: str) -> int:
    """A draft of `files` with its what-if run over the last 30 days; its id."""
    draft = start(owner, title=title)
    saved = owner.put(f"/api/drafts/{draft['id']}", json={"files": files(draft["files"]),
                                                          "base_revision": 1})
    assert saved.status_code == 200, saved.get_json()
    assert owner.post(f"/api/drafts/{draft['id']}/whatif", json={"days": 30}).status_code == 200
    return draft["id"]


def double_check(files):
    """The refund is confirmed by the warehouse (a task double_check) instead of finance."""
    text = files["simple.bpmn"].replace('"confirm"', '"double_check"') \
        .replace(">confirm<", ">double_check<").replace('name="finance"', 'name="warehouse"')
    return {**files, "simple.bpmn": text}


def test_supervisors_read_the_last_whatif_cut_to_their_departments(auth, leads):
    owner = auth.as_("owner")
    strict = tried(owner, stricter, "Stricter refunds")
    moved = tried(owner, double_check, "Warehouse confirms")

    # Management oversees every department: both drafts, every figure.
    listed = auth.as_("ops_head").get("/api/whatif-results").get_json()["items"]
    assert [(r["draft"]["id"], r["examined"], r["diverging"]) for r in listed] == [
        (moved, 1, 1), (strict, 1, 1)]
    whole = auth.as_("ops_head").get(f"/api/whatif-results/{moved}").get_json()
    assert whole["departments_seen"] is None and (whole["revision"], whole["run_by"]) == (2, "owner")
    assert whole["departments"] == [{"department": "finance", "more": 0, "fewer": 1},
                                    {"department": "warehouse", "more": 1, "fewer": 0}]
    [item] = whole["items"]
    assert (item["business_key"], item["more"], item["fewer"]) == (
        "AS-LARGE", ["double_check"], ["confirm"])
    assert set(item["divergence"]) == {"seq", "kind", "element", "problem"}   # not the data

    # Customer service did the review of AS-LARGE: it sees the request, not finance's work.
    cs = auth.as_("cs_lead").get(f"/api/whatif-results/{strict}").get_json()
    assert cs["departments_seen"] == ["customer_service", "cs_supervisor"]
    assert [(i["business_key"], i["fewer"]) for i in cs["items"]] == [("AS-LARGE", [])]
    assert (cs["examined"], cs["diverging"], cs["departments"], cs["tasks"]) == (1, 1, [], [])

    # The warehouse never touched AS-LARGE, but the second draft would give it a task there.
    warehouse = auth.as_("wh_lead")
    assert [r["draft"]["id"] for r in warehouse.get("/api/whatif-results").get_json()["items"]] \
        == [moved]
    mine = warehouse.get(f"/api/whatif-results/{moved}").get_json()
    assert [(i["more"], i["fewer"]) for i in mine["items"]] == [(["double_check"], [])]
    assert mine["departments"] == [{"department": "warehouse", "more": 1, "fewer": 0}]
    assert [(t["task"], t["name"]) for t in mine["tasks"]] == [("double_check", "Confirm refund")]
    hidden = warehouse.get(f"/api/whatif-results/{strict}")
    assert hidden.status_code == 404 and error_of(hidden)["details"]["field"] == "draft"

    # Procurement has nothing to do with either draft: it sees nothing at all.
    procurement = auth.as_("pur_lead")
    assert procurement.get("/api/whatif-results").get_json()["items"] == []
    for draft_id in (strict, moved):
        assert procurement.get(f"/api/whatif-results/{draft_id}").status_code == 404


def test_a_new_run_replaces_the_result_and_a_newer_revision_shows(auth, leads):
    owner = auth.as_("owner")
    draft_id = tried(owner, stricter, "Stricter refunds")
    files = owner.get(f"/api/drafts/{draft_id}?revision=1").get_json()["files"]
    assert owner.put(f"/api/drafts/{draft_id}", json={"files": double_check(files),
                                                       "base_revision": 2}).status_code == 200
    lead = auth.as_("ops_head")
    shown = lead.get(f"/api/whatif-results/{draft_id}").get_json()
    assert (shown["revision"], shown["draft"]["revision"]) == (2, 3)     # tried before the save
    assert [d["department"] for d in shown["departments"]] == ["finance"]
    assert owner.post(f"/api/drafts/{draft_id}/whatif", json={"days": 30}).status_code == 200
    again = lead.get(f"/api/whatif-results/{draft_id}").get_json()
    assert again["revision"] == 3 and [d["department"] for d in again["departments"]] == [
        "finance", "warehouse"]
    assert len(lead.get("/api/whatif-results").get_json()["items"]) == 1
    # A run that cannot be made (days out of range) keeps the result as it was.
    assert owner.post(f"/api/drafts/{draft_id}/whatif", json={"days": 0}).status_code == 422
    assert lead.get(f"/api/whatif-results/{draft_id}").get_json()["revision"] == 3


def test_only_supervisors_and_admins_read_whatif_results(auth, leads):
    draft_id = tried(auth.as_("owner"), stricter, "Stricter refunds")
    for user in ("customer_service_1", "finance_1", "alice", "owner", "auditor", "courier"):
        for path in ("/api/whatif-results", f"/api/whatif-results/{draft_id}"):
            assert auth.as_(user).get(path).status_code == 403, (user, path)
    assert auth.as_("admin").get(f"/api/whatif-results/{draft_id}").status_code == 200
    assert auth.as_("ops_head").get("/api/whatif-results/999999").status_code == 404
    assert auth.as_("ops_head").get("/api/whatif-results/99999999999999999999999"
                                    ).status_code == 404
    assert auth.as_("ops_head").get("/api/whatif-results?department=x").status_code == 422
