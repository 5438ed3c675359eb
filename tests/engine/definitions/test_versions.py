"""Versions of a process: the list, element-level diffs, and which running instances a change hits."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.access import SYSTEM, Actor
from engine.definitions import catalog, versions
from engine.definitions.bundle import Bundle
from engine.definitions.validation import validate_bundle
from engine.errors import NotFound
from engine.models import HumanTask
from tests.conftest import DATA, bundle_variant

SIMPLE = DATA / "simple"
V2 = DATA / "versions" / "v2"
V3 = DATA / "versions" / "v3"
CS = Actor("cs_1", "staff", "customer_service")


def deploy_with_comment(sessions, folder, actor, comment):
    with sessions.begin() as session:
        return catalog.deploy(session, Bundle.from_folder(folder), actor, comment)


def changed_bundle(tmp_path, replacements):
    """A copy of tests/data/simple with text replaced in simple.bpmn."""
    return bundle_variant(SIMPLE, tmp_path / "changed", replacements)


def test_list_versions_shows_who_deployed_what(sessions, deploy):
    deploy(SIMPLE, actor="alice")
    deploy_with_comment(sessions, V2, "bob", "rename review, stricter refunds")
    with sessions() as session:
        listed = versions.list_versions(session, "simple")
        with pytest.raises(NotFound, match="ghost"):
            versions.list_versions(session, "ghost")
    assert [(v["version"], v["deployed_by"], v["comment"]) for v in listed] == [
        (1, "alice", None), (2, "bob", "rename review, stricter refunds")]
    assert listed[0]["sha"] != listed[1]["sha"] and len(listed[0]["sha"]) == 64


def test_diff_names_added_removed_and_changed_elements(sessions, deploy):
    deploy(SIMPLE)
    deploy(V2)
    with sessions() as session:
        result = versions.diff(session, "simple", 1, 2)
    assert [e["id"] for e in result.added] == ["assess"]
    assert [e["id"] for e in result.removed] == ["mark_timeout", "review"]
    changed = {e["id"]: e["changes"] for e in result.changed}
    assert sorted(changed) == ["confirm", "decide", "init", "review_timeout"]
    assert changed["decide"]["conditions"] == {
        "from": {"f_yes": "approved == True", "(default)": "f_no"},
        "to": {"f_yes": "approved == True and amount <= 1000", "(default)": "f_no"}}
    assert changed["confirm"]["sla"] == {"from": "P2D", "to": "P1D"}
    assert changed["confirm"]["form_schema"]["to"]["required"] == ["confirmed", "reference"]
    assert changed["review_timeout"]["attached_to"] == {"from": "review", "to": "assess"}
    assert changed["init"] == {"outgoing": {"from": {"f2": "review"}, "to": {"f2": "assess"}}}


def test_diff_sees_lane_timer_script_message_and_name_changes(sessions, deploy, tmp_path):
    deploy(SIMPLE)
    renamed = changed_bundle(tmp_path, [
        ("<bpmn:timeDuration>\"P1D\"</bpmn:timeDuration>", "<bpmn:timeDuration>\"P2D\"</bpmn:timeDuration>"),
        ("label = f\"req {request_no}\"", "label = f\"request {request_no}\""),
        ('<bpmn:message id="refund_result_message" name="refund_result"/>',
         '<bpmn:message id="refund_result_message" name="refund_settled"/>'),
        ("<bpmn:flowNodeRef>confirm</bpmn:flowNodeRef>\n", ""),
        ("<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>",
         "<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>\n        <bpmn:flowNodeRef>confirm</bpmn:flowNodeRef>"),
        ('name="Confirm refund"', 'name="Confirm the refund"'),
    ])
    # A message caught under a new name needs the schema of that name.
    (renamed / "messages" / "refund_settled.json").write_bytes(
        (renamed / "messages" / "refund_result.json").read_bytes())
    deploy(renamed)
    with sessions() as session:
        result = versions.diff(session, "simple", 1, 2)
    changed = {e["id"]: e["changes"] for e in result.changed}
    assert not result.added and not result.removed
    assert changed["review_timeout"] == {"timer": {"from": {"timeDuration": '"P1D"'},
                                                   "to": {"timeDuration": '"P2D"'}}}
    assert changed["init"]["scripts"]["to"] == {"script": 'count = 0\nlabel = f"request {request_no}"'}
    assert changed["wait_refund"] == {"messages": {"from": ["refund_result"], "to": ["refund_settled"]}}
    assert changed["confirm"] == {"name": {"from": "Confirm refund", "to": "Confirm the refund"},
                                  "lane": {"from": "finance", "to": "customer_service"}}


def test_diff_of_a_condition_only_change_and_unknown_versions(sessions, deploy):
    deploy(SIMPLE)
    deploy(V3)
    with sessions() as session:
        result = versions.diff(session, "simple", 1, 2)
        assert versions.diff(session, "simple", 2, 2).is_empty()
        with pytest.raises(NotFound, match="no version 9"):
            versions.diff(session, "simple", 1, 9)
    assert [e["id"] for e in result.changed] == ["decide"] and not result.added and not result.removed


def test_impact_lists_instances_standing_on_removed_or_changed_elements(sessions, deploy, run):
    deploy(SIMPLE)
    at_review = run("start", "simple", {"request_no": "AS-1", "amount": 10.0}, SYSTEM).id
    waiting = run("start", "simple", {"request_no": "AS-2", "amount": 10.0}, SYSTEM).id
    done = run("start", "simple", {"request_no": "AS-3", "amount": 10.0}, SYSTEM).id
    with sessions() as session:
        tasks = dict(session.execute(select(HumanTask.instance_id, HumanTask.task_id)).all())
    run("complete", tasks[waiting], {"approved": True}, CS)
    run("complete", tasks[done], {"approved": False}, CS)
    deploy(V2)
    deploy(V3)
    with sessions() as session:
        hit = versions.impact(session, "simple", 1, 2)
        assert versions.impact(session, "simple", 1, 3) == []    # nobody waits at the gateway
    assert hit == [{"instance_id": at_review, "business_key": "AS-1", "status": "running",
                    "elements": [
                        {"element": "review", "state": "READY", "change": "removed", "what": []},
                        {"element": "review_timeout", "state": "WAITING", "change": "changed",
                         "what": ["attached_to", "outgoing"]}]}]


def test_compile_sources_does_not_touch_the_definition_cache(sessions, deploy):
    [deployed] = [d for d in deploy(SIMPLE) if d.process_key == "simple"]
    catalog._cache.clear()
    with sessions() as session:
        row = catalog.version_row(session, "simple", 1)
        compiled = catalog.compile_sources("simple", row.sources, row.forms,
                                            definition_id=deployed.definition_id, version=1)
    assert compiled.tasks["review"].form == "review.json"
    assert compiled.form_schema("review")["required"] == ["approved"]
    assert catalog._cache == {}


CALLER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="caller" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ship"/>
    <bpmn:callActivity id="ship" name="Ship" calledElement="{called}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="ship" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""
ROUTING = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="r" name="r" namespace="n">
  <decision id="route" name="Route"><decisionTable id="t"><output id="o" name="route"/>
    <rule id="r1"><outputEntry id="e1"><text>"{route}"</text></outputEntry></rule>
  </decisionTable></decision>
</definitions>"""


def test_diff_sees_called_element_and_decision_table_changes():
    before = versions.elements({"caller.bpmn": CALLER.format(called="shipping"),
                                "routing.dmn": ROUTING.format(route="refund")}, {})
    after = versions.elements({"caller.bpmn": CALLER.format(called="express_shipping"),
                               "routing.dmn": ROUTING.format(route="repair")}, {})
    result = versions.diff_sources("caller", 1, 2, before, after)
    changed = {e["id"]: sorted(e["changes"]) for e in result.changed}
    assert changed == {"route": ["decision"], "ship": ["called_element"]}
    assert result.changed[1]["changes"]["called_element"] == {"from": "shipping",
                                                              "to": "express_shipping"}


PLAIN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="claim" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{first}"/>
    {documents}
    <bpmn:task id="assess" name="Assess the claim"/>
    <bpmn:sequenceFlow id="f3" sourceRef="assess" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""
DOCUMENTS = """<bpmn:adHocSubProcess id="collect_documents" name="Collect the documents">
      <bpmn:task id="ask_for_invoice" name="Ask for the invoice"/>
    </bpmn:adHocSubProcess>
    <bpmn:sequenceFlow id="f2" sourceRef="collect_documents" targetRef="assess"/>"""


def test_diff_sees_an_added_ad_hoc_subprocess():
    # The diff reads flow nodes by the same names as validation, which accepts ad-hoc subprocesses.
    v1 = PLAIN.format(first="assess", documents="")
    v2 = PLAIN.format(first="collect_documents", documents=DOCUMENTS)
    assert validate_bundle({"claim.bpmn": v2.encode()}, {}) == []
    result = versions.diff_sources("claim", 1, 2, versions.elements({"claim.bpmn": v1}, {}),
                                   versions.elements({"claim.bpmn": v2}, {}))
    assert [(e["id"], e["type"]) for e in result.added] == [
        ("ask_for_invoice", "task"), ("collect_documents", "adHocSubProcess")]
