"""Customer feedback on the record (engine/feedback.py) through the API: what customers say when
they file, reopen and rate is kept on the request, classified, shown and searchable; the
taxonomy is deployed in versions."""
from __future__ import annotations

import json

import pytest

from engine.feedback_taxonomy import SHIPPED
from tests.conftest import ROOT
from tests.sql_trace import statements_sent
from tests.web.conftest import error_of, file_request, open_tasks

TAXONOMY = json.loads((ROOT / "bpmn" / SHIPPED).read_text(encoding="utf-8"))


@pytest.fixture
def complaint(auth):
    """Bob's complaint about rude service, answered, reopened because the refund is late, and
    rated with a comment about slow replies; returns its number."""
    filed = file_request(auth, "bob", order_id="O-1002", type="complaint",
                         reason="客服态度太差了，还挂我电话")
    [task] = open_tasks(auth)
    done = auth.as_("customer_service_1").post(f"/api/tasks/{task['task_id']}/complete",
                                               json={"data": {"resolution": "apology"}})
    assert done.status_code == 200, done.get_json()
    bob = auth.as_("bob")
    assert bob.post(f"/api/requests/{filed['number']}/feedback", json={
        "confirmed": False, "comment": "退款到现在还没到账"}).status_code == 200
    assert bob.post(f"/api/requests/{filed['number']}/rating", json={
        "score": 2, "comment": "客服回复太慢，等了一天才回"}).status_code == 200
    return filed["number"]


def test_the_customers_words_are_on_the_request_with_their_classes(auth, complaint):
    shown = auth.as_("customer_service_2").get(f"/api/requests/{complaint}").get_json()
    said = [(f["kind"], f["text"], f["classes"]) for f in shown["feedback"]]
    assert said == [("complaint", "客服态度太差了，还挂我电话", ["客服态度差"]),
                    ("reopen", "退款到现在还没到账", ["退款慢"]),
                    ("rating", "客服回复太慢，等了一天才回", ["响应慢"])]
    assert {f["taxonomy_version"] for f in shown["feedback"]} == {1}


def test_customers_see_their_words_but_not_the_classes(auth, complaint):
    shown = auth.as_("bob").get(f"/api/requests/{complaint}").get_json()
    assert [f["text"] for f in shown["feedback"]][0] == "客服态度太差了，还挂我电话"
    assert all(set(f) == {"kind", "text", "at"} for f in shown["feedback"])


def test_a_filing_reason_in_english_is_classified(auth):
    filed = file_request(auth, "alice", reason="The box arrived crushed and the item was broken")
    [said] = auth.as_("admin").get(f"/api/requests/{filed['number']}").get_json()["feedback"]
    assert (said["kind"], said["classes"]) == ("filing", ["快递破损"])


def test_feedback_is_searchable_by_class_words_and_kind(auth, complaint):
    file_request(auth, "alice", reason="does not fit")
    lead = auth.as_("cs_lead")
    by_class = lead.get("/api/feedback", query_string={"class": "退款慢"}).get_json()
    assert [(f["request_no"], f["kind"]) for f in by_class["items"]] == [(complaint, "reopen")]
    by_words = lead.get("/api/feedback", query_string={"q": "客服 太慢"}).get_json()
    assert [f["text"] for f in by_words["items"]] == ["客服回复太慢，等了一天才回"]
    fitting = lead.get("/api/feedback", query_string={"kind": "filing"}).get_json()
    assert [(f["text"], f["classes"]) for f in fitting["items"]] == [("does not fit", ["其他"])]
    assert lead.get("/api/feedback").get_json()["total"] == 4
    wrong = lead.get("/api/feedback", query_string={"kind": "praise"})
    assert wrong.status_code == 422 and error_of(wrong)["details"]["field"] == "kind"


def test_only_those_who_read_every_request_search_feedback(auth, complaint):
    assert auth.as_("auditor").get("/api/feedback").status_code == 200
    assert auth.as_("ops_head").get("/api/feedback").status_code == 200
    finance = auth.as_("finance_1").get("/api/feedback")
    assert finance.status_code == 403
    assert auth.as_("bob").get("/api/feedback").status_code == 403


def test_the_taxonomy_is_deployed_in_versions(auth, complaint):
    owner = auth.as_("owner")
    before = owner.get("/api/feedback/taxonomy").get_json()
    assert before["version"] == 1 and [v["deployed_by"] for v in before["versions"]] == ["system"]
    same = owner.post("/api/feedback/taxonomy", json=TAXONOMY)
    assert same.status_code == 200 and same.get_json()["version"] == 1
    edited = json.loads(json.dumps(TAXONOMY))
    edited["classes"][0]["rules"].append("龟速")
    new = owner.post("/api/feedback/taxonomy", json=edited)
    assert new.status_code == 201 and new.get_json()["version"] == 2
    tried = owner.post("/api/feedback/classify", json={"texts": ["快递龟速", "很好"]}).get_json()
    assert [t["classes"] for t in tried["items"]] == [["物流慢"], ["其他"]]
    assert auth.as_("auditor").post("/api/feedback/taxonomy", json=edited).status_code == 403


def test_filings_are_classified_by_the_newest_version_reading_its_source_once(auth, platform):
    """Every filing that says something asks for the taxonomy in force; its source, a JSON
    document, is read only to build that version's classifier, once per process."""
    file_request(auth, "alice", order_id="O-1001", reason="快递太慢了")
    with statements_sent(platform.engine) as sent:
        file_request(auth, "alice", order_id="O-1003", reason="快递太慢了")
    [read] = [s for s in sent if "FROM feedback_taxonomy" in s]
    assert "feedback_taxonomy.sha256" in read and "feedback_taxonomy.source" not in read
    edited = json.loads(json.dumps(TAXONOMY))
    edited["classes"][0]["rules"].append("龟速")
    assert auth.as_("owner").post("/api/feedback/taxonomy", json=edited).status_code == 201
    number = file_request(auth, "bob", order_id="O-1002", reason="快递龟速")["number"]
    [said] = auth.as_("customer_service_2").get(f"/api/requests/{number}").get_json()["feedback"]
    assert said["classes"] == ["物流慢"] and said["taxonomy_version"] == 2


def test_a_bad_taxonomy_is_refused_naming_the_field(auth):
    broken = json.loads(json.dumps(TAXONOMY))
    broken["classes"][2]["rules"][1] = "质量+"
    refused = auth.as_("owner").post("/api/feedback/taxonomy", json=broken)
    assert refused.status_code == 422
    assert error_of(refused)["details"]["field"] == "classes[2].rules[1]"
    twice = json.loads(json.dumps(TAXONOMY))
    twice["classes"][1]["name"] = twice["classes"][0]["name"]
    refused = auth.as_("owner").post("/api/feedback/classify", json={"texts": ["x"],
                                                                     "taxonomy": twice})
    assert refused.status_code == 422
    assert error_of(refused)["details"]["field"] == "classes[1].name"
    assert auth.as_("owner").get("/api/feedback/taxonomy").get_json()["versions"] == []


def test_a_taxonomy_whose_model_is_no_object_is_refused_naming_it(auth):
    owner = auth.as_("owner")
    for path, body in (("/api/feedback/taxonomy", dict(TAXONOMY, model="x")),
                       ("/api/feedback/classify", {"texts": ["x"],
                                                   "taxonomy": dict(TAXONOMY, model="x")})):
        refused = owner.post(path, json=body)
        assert refused.status_code == 422 and error_of(refused)["details"]["field"] == "model"
    assert owner.get("/api/feedback/taxonomy").get_json()["versions"] == []
