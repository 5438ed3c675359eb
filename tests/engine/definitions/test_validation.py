"""Upload validation: every kind of problem, vendor files, hostile files and fuzzed input."""
import random
import time

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.definitions import xmlsafe
from engine.definitions.validation import Problem, executable_process_ids, validate_bundle
from engine.definitions.xmlsafe import XmlRefused, parse_xml
from tests.conftest import DATA

VENDOR = DATA / "vendor"
HOSTILE = DATA / "hostile"
TIMER_RULE = "timer expression must be a quoted ISO-8601 string or an expression over data"

BPMN = "return_request.bpmn"
DMN = "refund_policy.dmn"
VALID_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="return_request_definitions" targetNamespace="http://aftersales.example/bpmn">
  <bpmn:process id="return_request" name="Return request" isExecutable="true">
    <bpmn:laneSet id="return_request_lanes">
      <bpmn:lane id="lane_customer_service" name="customer_service">
        <bpmn:flowNodeRef>request_received</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>review_request</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>decide_refund</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>approved_gateway</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>wait_for_goods</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>compute_refund</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>refund_done</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>request_rejected</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="request_received" name="Return requested"/>
    <bpmn:sequenceFlow id="flow_to_review" sourceRef="request_received" targetRef="review_request"/>
    <bpmn:userTask id="review_request" name="Review the return request">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="form" value="review_request.json"/>
          <spiffworkflow:property name="sla" value="PT4H"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="flow_to_decide" sourceRef="review_request" targetRef="decide_refund"/>
    <bpmn:businessRuleTask id="decide_refund" name="Apply the refund policy">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>refund_policy</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="flow_to_gateway" sourceRef="decide_refund" targetRef="approved_gateway"/>
    <bpmn:exclusiveGateway id="approved_gateway" name="Approved?" default="flow_rejected"/>
    <bpmn:sequenceFlow id="flow_approved" name="yes" sourceRef="approved_gateway" targetRef="wait_for_goods">
      <bpmn:conditionExpression>approved == True</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="flow_rejected" name="no" sourceRef="approved_gateway" targetRef="request_rejected"/>
    <bpmn:intermediateCatchEvent id="wait_for_goods" name="Goods back in 4 hours">
      <bpmn:timerEventDefinition id="wait_for_goods_timer">
        <bpmn:timeDuration>"PT4H"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="flow_to_compute" sourceRef="wait_for_goods" targetRef="compute_refund"/>
    <bpmn:scriptTask id="compute_refund" name="Compute the refund">
      <bpmn:script>refund = round(amount * refund_rate, 2)</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="flow_to_done" sourceRef="compute_refund" targetRef="refund_done"/>
    <bpmn:endEvent id="refund_done" name="Refund computed"/>
    <bpmn:endEvent id="request_rejected" name="Request rejected"/>
  </bpmn:process>
</bpmn:definitions>
"""
VALID_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="refund_policy_definitions"
             name="Refund policy" namespace="http://aftersales.example/dmn">
  <decision id="refund_policy" name="Refund policy">
    <decisionTable id="refund_policy_table">
      <input id="input_reason" label="Reason">
        <inputExpression id="input_reason_expression" typeRef="string">
          <text>reason</text>
        </inputExpression>
      </input>
      <output id="output_approved" label="Approved" name="approved" typeRef="boolean"/>
      <output id="output_rate" label="Refund rate" name="refund_rate" typeRef="number"/>
      <rule id="rule_defective">
        <inputEntry id="rule_defective_reason"><text>"defective"</text></inputEntry>
        <outputEntry id="rule_defective_approved"><text>True</text></outputEntry>
        <outputEntry id="rule_defective_rate"><text>1.0</text></outputEntry>
      </rule>
      <rule id="rule_changed_mind">
        <inputEntry id="rule_changed_mind_reason"><text>"changed_mind"</text></inputEntry>
        <outputEntry id="rule_changed_mind_approved"><text>True</text></outputEntry>
        <outputEntry id="rule_changed_mind_rate"><text>0.9</text></outputEntry>
      </rule>
      <rule id="rule_other">
        <inputEntry id="rule_other_reason"><text>"other"</text></inputEntry>
        <outputEntry id="rule_other_approved"><text>False</text></outputEntry>
        <outputEntry id="rule_other_rate"><text>0</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""
FORMS = {"review_request.json": b'{"type": "object", "required": ["reason"], '
                                b'"properties": {"reason": {"type": "string"}}}'}
SCRIPT = "<bpmn:script>refund = round(amount * refund_rate, 2)</bpmn:script>"
SCRIPT_TASK = f"""<bpmn:scriptTask id="compute_refund" name="Compute the refund">
      {SCRIPT}
    </bpmn:scriptTask>"""


def edit(old, new, text=VALID_BPMN):
    assert old in text, f"test fixture changed: {old!r} not found"
    return text.replace(old, new, 1)


def line_of(text, needle):
    assert needle in text, f"test fixture changed: {needle!r} not found"
    return text[:text.index(needle)].count("\n") + 1


def check(bpmn=VALID_BPMN, dmn=VALID_DMN, forms=FORMS, **kwargs):
    return validate_bundle({BPMN: bpmn.encode(), DMN: dmn.encode()}, forms, **kwargs)


def only(problems, fragment):
    """The one problem whose message contains `fragment`."""
    found = [p for p in problems if fragment in p.message]
    assert len(found) == 1, f"expected one problem with {fragment!r}, got {problems}"
    return found[0]


def vendor_forms():
    return {path.name: path.read_bytes() for path in (VENDOR / "forms").glob("*.json")}


# --- the valid bundle and the Problem shape -----------------------------------------------

def test_valid_bundle_has_no_problems():
    assert check() == []


def test_problem_reads_file_line_element_message():
    problem = Problem("a.bpmn", 12, "task_1", "boom")
    assert str(problem) == "a.bpmn:12: [task_1] boom"
    assert str(Problem("a.bpmn", None, None, "boom")) == "a.bpmn: boom"
    assert problem.as_dict() == {"file": "a.bpmn", "line": 12, "element_id": "task_1",
                                 "message": "boom", "severity": "error"}
    warning = Problem("a.dmn", 3, "r2", "rows overlap", "warning")
    assert str(warning) == "a.dmn:3: [r2] warning: rows overlap"
    assert not warning.is_error and problem.is_error


def test_bad_arguments_become_a_problem_not_an_exception():
    problems = validate_bundle(None, None)
    assert len(problems) == 1 and "internal error" in problems[0].message


# --- XML and schema -----------------------------------------------------------------------

def test_malformed_xml_is_reported_with_its_line():
    bpmn = edit('<bpmn:endEvent id="refund_done"', '<bpmn:endEvent id=refund_done')
    problems = check(bpmn)
    assert len(problems) == 1
    assert problems[0].file == BPMN
    assert problems[0].line == line_of(bpmn, "id=refund_done")
    assert "not well-formed XML" in problems[0].message


def test_every_xsd_error_is_reported_with_line_and_id():
    bpmn = edit(' targetRef="compute_refund"', "")
    bpmn = edit('<bpmn:endEvent id="request_rejected"', '<bpmn:endEvent id="refund_done"', bpmn)
    problems = [p for p in check(bpmn) if "schema" in p.message]
    assert [(p.file, p.line, p.element_id) for p in problems] == [
        (BPMN, line_of(bpmn, 'id="flow_to_compute"'), "flow_to_compute"),
        (BPMN, line_of(bpmn, 'name="Request rejected"'), "refund_done"),
    ]
    assert "'targetRef' is required" in problems[0].message
    assert "bpmn:sequenceFlow" in problems[0].message  # namespaces shortened for people


def test_dmn_schema_errors_are_reported():
    dmn = edit("<rule id=\"rule_other\">", "<rulez id=\"rule_other\">", VALID_DMN)
    dmn = edit("</rule>\n    </decisionTable>", "</rulez>\n    </decisionTable>", dmn)
    problem = only(check(dmn=dmn), "DMN schema")
    assert (problem.file, problem.line, problem.element_id) == (
        DMN, line_of(dmn, "<rulez"), "rule_other")


def test_file_named_against_its_content():
    problems = validate_bundle({"refund_policy.bpmn": VALID_DMN.encode()}, {})
    assert [p.file for p in problems] == ["refund_policy.bpmn"]
    assert "name it *.dmn" in problems[0].message


def test_file_that_is_neither_bpmn_nor_dmn():
    problems = validate_bundle({"notes.bpmn": b"<html><body/></html>"}, {})
    assert [(p.file, p.line) for p in problems] == [("notes.bpmn", 1)]
    assert "not a BPMN 2.0 or DMN file" in problems[0].message


# --- references ---------------------------------------------------------------------------

def test_flow_to_a_missing_element():
    bpmn = edit('targetRef="compute_refund"', 'targetRef="compute_refnud"')
    problem = only(check(bpmn), "compute_refnud")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, 'id="flow_to_compute"'), "flow_to_compute")
    assert "targetRef" in problem.message
    assert "found two items" not in problem.message  # not the library's misleading text


def test_message_ref_to_an_undefined_message():
    bpmn = edit('<bpmn:startEvent id="request_received" name="Return requested"/>',
                '<bpmn:startEvent id="request_received" name="Return requested">\n'
                '      <bpmn:messageEventDefinition id="request_message" messageRef="return_msg"/>\n'
                '    </bpmn:startEvent>')
    problem = only(check(bpmn), "messageRef")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, 'messageRef="return_msg"'), "request_received")
    assert "'return_msg' names no message" in problem.message


CALL_ACTIVITY = ('<bpmn:callActivity id="compute_refund" name="Compute the refund" '
                 'calledElement="issue_refund"/>')
ISSUE_REFUND = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="issue_refund_defs"
                  targetNamespace="http://aftersales.example/bpmn">
  <bpmn:process id="issue_refund" isExecutable="true">
    <bpmn:startEvent id="refund_started"/>
    <bpmn:sequenceFlow id="flow_refund" sourceRef="refund_started" targetRef="refund_issued"/>
    <bpmn:endEvent id="refund_issued"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_call_activity_to_an_unknown_process():
    bpmn = edit(SCRIPT_TASK, CALL_ACTIVITY)
    problem = only(check(bpmn), "issue_refund")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, "<bpmn:callActivity"), "compute_refund")
    assert "neither in this upload nor already deployed" in problem.message


def test_call_activity_to_a_deployed_or_uploaded_process_is_fine():
    bpmn = edit(SCRIPT_TASK, CALL_ACTIVITY)
    assert check(bpmn, known_processes=["issue_refund"]) == []
    files = {BPMN: bpmn.encode(), DMN: VALID_DMN.encode(),
             "issue_refund.bpmn": ISSUE_REFUND.encode()}
    assert validate_bundle(files, FORMS) == []


def test_deployed_process_called_from_inside_a_subprocess_is_fine():
    # SpiffWorkflow forgets require_call_activity_specs=False when it recurses into subprocesses.
    bpmn = edit(SCRIPT_TASK, """<bpmn:subProcess id="compute_refund" name="Compute the refund">
      <bpmn:startEvent id="refund_begin"/>
      <bpmn:sequenceFlow id="flow_to_issue" sourceRef="refund_begin" targetRef="issue"/>
      <bpmn:callActivity id="issue" calledElement="issue_refund"/>
      <bpmn:sequenceFlow id="flow_to_end" sourceRef="issue" targetRef="refund_end"/>
      <bpmn:endEvent id="refund_end"/>
    </bpmn:subProcess>""")
    assert check(bpmn, known_processes=["issue_refund"]) == []
    assert only(check(bpmn), "issue_refund").element_id == "issue"


def test_boundary_event_attached_to_a_missing_activity():
    bpmn = edit('<bpmn:endEvent id="request_rejected" name="Request rejected"/>',
                '<bpmn:endEvent id="request_rejected" name="Request rejected"/>\n'
                '    <bpmn:boundaryEvent id="review_overdue" attachedToRef="review_requets">\n'
                '      <bpmn:timerEventDefinition id="review_overdue_timer">\n'
                '        <bpmn:timeDuration>"PT8H"</bpmn:timeDuration>\n'
                '      </bpmn:timerEventDefinition>\n'
                '    </bpmn:boundaryEvent>')
    problem = only(check(bpmn), "attachedToRef")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, '<bpmn:boundaryEvent'), "review_overdue")
    assert "'review_requets'" in problem.message


def test_default_flow_that_does_not_exist():
    bpmn = edit('default="flow_rejected"', 'default="flow_rejectd"')
    problems = check(bpmn)
    problem = only(problems, "default flow 'flow_rejectd' does not exist")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, 'id="approved_gateway"'), "approved_gateway")
    # Without its default, the "no" flow is a second unconditioned way out.
    assert only(problems, "has no condition").element_id == "flow_rejected"


def test_business_rule_task_calling_a_missing_decision():
    bpmn = edit(">refund_policy</spiffworkflow", ">refund_polcy</spiffworkflow")
    problem = only(check(bpmn), "refund_polcy")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, 'id="decide_refund"'), "decide_refund")
    assert "none of the upload's DMN files" in problem.message


# --- gateways and expressions -------------------------------------------------------------

def test_gateway_flow_without_condition_that_is_not_the_default():
    bpmn = edit("<bpmn:conditionExpression>approved == True</bpmn:conditionExpression>", "")
    problem = only(check(bpmn), "has no condition")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, 'id="flow_approved"'), "flow_approved")
    assert "'approved_gateway'" in problem.message


def test_condition_with_a_syntax_error():
    bpmn = edit("approved == True", "approved == = True")
    problem = only(check(bpmn), "condition")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, "<bpmn:conditionExpression>"), "flow_approved")
    assert "not a valid Python expression" in problem.message


def test_camunda_expression_in_a_condition_gets_a_hint():
    problem = only(check(edit("approved == True", "${approved}")), "condition")
    assert "JUEL" in problem.message


def test_script_syntax_error_points_at_the_script_line():
    bpmn = edit(SCRIPT, "<bpmn:script>rate = refund_rate\nrefund = round(amount * rate, 2\n"
                        "done = True</bpmn:script>")
    problem = only(check(bpmn), "syntax error")
    assert (problem.file, problem.element_id) == (BPMN, "compute_refund")
    assert problem.line in (line_of(bpmn, "refund = round"), line_of(bpmn, "done = True"))


def test_unquoted_timer_duration():
    bpmn = edit('<bpmn:timeDuration>"PT4H"</bpmn:timeDuration>',
                "<bpmn:timeDuration>PT4H</bpmn:timeDuration>")
    problem = only(check(bpmn), TIMER_RULE)
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, "<bpmn:timeDuration>"), "wait_for_goods")
    assert '"PT4H"' in problem.message


def test_timer_with_a_syntax_error_and_timer_over_data():
    bpmn = edit('"PT4H"</bpmn:timeDuration>', 'goods_deadline +</bpmn:timeDuration>')
    assert only(check(bpmn), TIMER_RULE).element_id == "wait_for_goods"
    assert check(edit('"PT4H"</bpmn:timeDuration>', "goods_deadline</bpmn:timeDuration>")) == []


# --- user tasks: lanes, forms, SLA --------------------------------------------------------

def test_user_task_in_a_lane_that_is_not_a_department():
    bpmn = edit('name="customer_service"', 'name="Kundendienst"')
    problem = only(check(bpmn), "not a department")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, 'id="review_request"'), "review_request")
    assert "'Kundendienst'" in problem.message


def test_user_task_in_no_lane():
    bpmn = edit("<bpmn:flowNodeRef>review_request</bpmn:flowNodeRef>", "")
    problem = only(check(bpmn), "in no lane")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, 'id="review_request"'), "review_request")


def test_departments_can_be_configured():
    assert check(departments={"customer_service"}) == []
    assert only(check(departments={"finance"}), "not a department").element_id == "review_request"


def test_user_task_without_a_form():
    bpmn = edit('<spiffworkflow:property name="form" value="review_request.json"/>', "")
    problem = only(check(bpmn), "has no form")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, 'id="review_request"'), "review_request")


@pytest.mark.parametrize("form, expected", [
    (None, "'review_request.json' is not in the upload's forms/ folder"),
    (b'{"type": "object",\n "properties": }', "is not valid JSON: Expecting value (line 2"),
    (b'{"type": "objekt"}', "is not a valid JSON Schema"),
    (b'["reason"]', "must be a JSON object"),
    ('{"type": "object"}'.encode("utf-16"), "is not UTF-8"),
])
def test_form_that_is_missing_or_broken(form, expected):
    forms = {} if form is None else {"review_request.json": form}
    problem = only(check(forms=forms), expected)
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(VALID_BPMN, 'id="review_request"'), "review_request")


def test_sla_that_is_neither_a_duration_nor_a_field():
    bpmn = edit('name="sla" value="PT4H"', 'name="sla" value="4 hours"')
    problem = only(check(bpmn), "sla")
    assert problem.element_id == "review_request"
    assert check(edit('name="sla" value="PT4H"', 'name="sla" value="review_deadline"')) == []


# --- DMN ----------------------------------------------------------------------------------

def test_dmn_rules_with_identical_inputs_overlap():
    dmn = edit('<text>"other"</text>', '<text>"defective"</text>', VALID_DMN)
    # SpiffWorkflow evaluates UNIQUE as first match: the table runs, so it is a warning.
    problem = only(check(dmn=dmn), "same input entries as rule 1 (rule_defective)")
    assert (problem.file, problem.line, problem.element_id, problem.severity) == (
        DMN, line_of(dmn, 'id="rule_other"'), "rule_other", "warning")
    assert "rule 1 (rule_defective) wins" in problem.message


def test_dmn_catch_all_rule_overlaps_the_others():
    dmn = edit('<text>"other"</text>', "<text>-</text>", VALID_DMN)
    problem = only(check(dmn=dmn), "matches every input")
    assert (problem.file, problem.line, problem.element_id, problem.severity) == (
        DMN, line_of(dmn, 'id="rule_other"'), "rule_other", "warning")
    assert "overlaps rule 1 (rule_defective)" in problem.message
    assert check(dmn=edit('<decisionTable id="refund_policy_table">',
                          '<decisionTable id="refund_policy_table" hitPolicy="FIRST">', dmn)) == []


@pytest.mark.parametrize("first, second, overlap", [
    ("&gt; 5", "&lt; 10", True), ("30", "&gt;= 25", True), ("&lt;= 5", "&gt;= 5", True),
    ("&lt; 5", "&gt;= 5", False), ('"gold"', '"silver"', False), ("1", "1.0", True),
    ("len(reason) &gt; 3", "&lt; 10", False),     # not simple: no warning rather than a false one
])
def test_dmn_rules_whose_conditions_intersect_overlap(first, second, overlap):
    dmn = edit('<text>reason</text>', '<text>amount</text>', VALID_DMN)
    dmn = edit('<text>"defective"</text>', f"<text>{first}</text>", dmn)
    dmn = edit('<text>"changed_mind"</text>', f"<text>{second}</text>", dmn)
    warnings = [p for p in check(dmn=dmn) if "overlaps" in p.message]
    if not overlap:
        assert warnings == []
        return
    [warning] = warnings
    assert (warning.element_id, warning.severity) == ("rule_changed_mind", "warning")
    assert warning.message.startswith("rule 2 (rule_changed_mind) overlaps rule 1 "
                                      "(rule_defective): some input matches both")


def test_dmn_table_without_rules():
    start, end = VALID_DMN.index("      <rule "), VALID_DMN.index("    </decisionTable>")
    dmn = VALID_DMN[:start] + VALID_DMN[end:]
    problem = only(check(dmn=dmn), "no rules")
    assert (problem.file, problem.line, problem.element_id) == (
        DMN, line_of(dmn, "<decisionTable"), "refund_policy_table")


# --- what only SpiffWorkflow finds, and everything at once --------------------------------

def test_library_validation_error_becomes_a_problem():
    bpmn = edit('<bpmn:startEvent id="request_received" name="Return requested"/>', "")
    bpmn = edit('<bpmn:sequenceFlow id="flow_to_review" sourceRef="request_received" '
                'targetRef="review_request"/>', "", bpmn)
    problem = only(check(bpmn), "No start event found")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(bpmn, '<bpmn:process id="return_request"'), "return_request")
    assert problem.message.startswith("SpiffWorkflow: ")


def test_unexpected_library_crash_becomes_a_problem(monkeypatch):
    def crash(self, process_id, required=True):
        raise RuntimeError("parser exploded")
    monkeypatch.setattr(SpiffBpmnParser, "get_spec", crash)
    problem = only(check(), "parser exploded")
    assert (problem.file, problem.element_id) == (BPMN, "return_request")
    assert "RuntimeError" in problem.message


def test_every_problem_is_reported_at_once():
    bpmn = edit('targetRef="compute_refund"', 'targetRef="compute_refnud"')
    bpmn = edit('"PT4H"</bpmn:timeDuration>', "PT4H</bpmn:timeDuration>", bpmn)
    bpmn = edit('name="customer_service"', 'name="Kundendienst"', bpmn)
    problems = check(bpmn, forms={})
    assert [p.element_id for p in problems] == [
        "review_request", "review_request", "wait_for_goods", "flow_to_compute"]
    assert problems == sorted(problems, key=lambda p: p.line)


def test_bundle_without_an_executable_process():
    bpmn = edit('isExecutable="true"', 'isExecutable="false"')
    problem = only(check(bpmn), "no executable process")
    assert problem.file == BPMN


def test_executable_process_ids():
    files = {name: (VENDOR / name).read_bytes()
             for name in ("two_pools.bpmn", "default_namespace.bpmn")}
    files["broken.bpmn"] = b"<bpmn:definitions"
    assert executable_process_ids(files) == [
        "receive_returned_parcel", "flowable_warranty_claim", "check_warranty"]


# --- files from other modelers ------------------------------------------------------------

@pytest.mark.parametrize("name", ["camunda_style.bpmn", "signavio_style.bpmn",
                                  "bpmn2_prefix.bpmn", "default_namespace.bpmn",
                                  "semantic_prefix.bpmn", "two_pools.bpmn"])
def test_vendor_file_is_accepted(name):
    assert validate_bundle({name: (VENDOR / name).read_bytes()}, vendor_forms()) == []


def test_camunda_form_key_alone_is_explained():
    text = (VENDOR / "camunda_style.bpmn").read_text()
    text = edit('<spiffworkflow:property name="form" value="offer_replacement.json"/>', "", text)
    problem = only(validate_bundle({"camunda_style.bpmn": text.encode()}, vendor_forms()),
                   "has no form")
    assert problem.element_id == "offer_replacement"
    assert "camunda:formKey 'camunda-forms:deployment:offer.form'" in problem.message


def test_complex_gateway_is_unsupported():
    name = "unsupported_complex_gateway.bpmn"
    text = (VENDOR / name).read_text()
    problems = validate_bundle({name: text.encode()}, {})
    assert [(p.file, p.line, p.element_id) for p in problems] == [
        (name, line_of(text, "<bpmn:complexGateway"), "two_of_three")]
    assert problems[0].message.startswith("unsupported: complex gateway")


@pytest.mark.parametrize("replacement, element_id, expected", [
    (SCRIPT_TASK + """
    <bpmn:boundaryEvent id="undo_refund" attachedToRef="compute_refund">
      <bpmn:compensateEventDefinition id="undo_refund_definition"/>
    </bpmn:boundaryEvent>""", "undo_refund_definition", "unsupported: compensation event"),
    (SCRIPT_TASK.replace('name="Compute the refund"',
                         'name="Compute the refund" isForCompensation="true"'),
     "compute_refund", "unsupported: compensation handler"),
])
def test_constructs_spiff_cannot_run_are_unsupported(replacement, element_id, expected):
    problem = only(check(edit(SCRIPT_TASK, replacement)), expected)
    assert (problem.file, problem.element_id) == (BPMN, element_id)


# --- hostile files ------------------------------------------------------------------------

def assert_refused_quickly(name, data, reason):
    started = time.perf_counter()
    problems = validate_bundle({name: data}, {})
    assert time.perf_counter() - started < 1.0
    assert len(problems) == 1, problems
    assert problems[0].file == name
    assert reason in problems[0].message
    assert "root:" not in str(problems)  # nothing of /etc/passwd leaks into a message
    return problems[0]


@pytest.mark.timing
@pytest.mark.parametrize("name, reason", [
    ("xxe_file.bpmn", "DOCTYPE"),
    ("xxe_network.bpmn", "DOCTYPE"),
    ("billion_laughs.bpmn", "DOCTYPE"),
    ("non_utf8.bpmn", "only UTF-8 is accepted"),
    ("xinclude.bpmn", "XInclude is not allowed"),
])
def test_hostile_file_is_refused(name, reason):
    problem = assert_refused_quickly(name, (HOSTILE / name).read_bytes(), reason)
    assert problem.line is not None


@pytest.mark.timing
def test_deep_nesting_is_refused():
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    assert_refused_quickly("deep_nesting.bpmn", deep, "nested deeper than 200 levels")


@pytest.mark.timing
def test_huge_file_is_refused_before_parsing():
    huge = b'<?xml version="1.0"?><a>' + b"x" * (3 * 1024 * 1024) + b"</a>"
    assert_refused_quickly("huge.bpmn", huge, "over the limit of 2,097,152 bytes")


@pytest.mark.timing
@pytest.mark.parametrize("data", [
    VALID_BPMN.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
    VALID_BPMN.replace("Return request", "Retour \xe9change").encode("latin-1"),
])
def test_other_encodings_are_refused(data):
    assert_refused_quickly(BPMN, data, "only UTF-8 is accepted")


def test_parser_resolves_no_entity_even_without_the_doctype_guard(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CANARY")
    monkeypatch.setattr(xmlsafe, "_refuse_doctype", lambda data, filename: None)
    data = (f'<!DOCTYPE a [<!ENTITY leak SYSTEM "file://{secret}">]>\n'
            '<a>&leak;</a>').encode()
    with pytest.raises(XmlRefused) as refused:
        parse_xml(data, "leak.bpmn")
    assert "TOP-SECRET-CANARY" not in str(refused.value)


def test_parse_xml_returns_a_tree_and_refuses_only_with_xml_refused():
    assert isinstance(parse_xml(VALID_BPMN.encode(), BPMN), etree._ElementTree)
    with pytest.raises(XmlRefused) as refused:
        parse_xml(b"<a><b></a>", "bad.bpmn")
    assert isinstance(refused.value, ValueError)
    assert (refused.value.filename, refused.value.line) == ("bad.bpmn", 1)


# --- fuzzing ------------------------------------------------------------------------------

def mutate(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    kind = rng.choice(("truncate", "flip", "delete", "duplicate", "insert"))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ rng.randrange(1, 256)]) + data[at + 1:]
    end = min(len(data), at + rng.randrange(1, 200))
    if kind == "delete":
        return data[:at] + data[end:]
    if kind == "duplicate":
        return data[:end] + data[at:end] + data[end:]
    token = rng.choice((b"<", b">", b"&", b'"', b"]]>", b"\xff", b"<!DOCTYPE a>", b"<x:y/>"))
    return data[:at] + token + data[at:]


def test_fuzzed_files_never_raise():
    rng = random.Random(20240501)
    bpmn, dmn = VALID_BPMN.encode(), VALID_DMN.encode()
    for _ in range(200):
        files = {BPMN: mutate(bpmn, rng), DMN: mutate(dmn, rng) if rng.random() < 0.3 else dmn}
        problems = validate_bundle(files, FORMS)
        assert isinstance(problems, list)
        assert all(isinstance(p, Problem) and p.file in files for p in problems), problems
        assert not [p for p in problems if "internal error" in p.message], problems
