"""Validation judges by the runtime's own rules: what it accepts runs, what the runtime would
refuse is reported at upload, with the file, line and element, in the runtime's words.

Each test here is a disagreement that once let a definition validate and then fail (or silently
do less) at run time: SLAs the business calendar cannot count, scripts and expressions the
sandbox refuses, timers SpiffWorkflow cannot read.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from engine.access import SYSTEM
from engine.business_time import BusinessCalendar, parse_duration
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.models import HumanTask
from engine.runtime.task_rows import sla_times
from tests.conftest import DATA, bundle_variant

SIMPLE = DATA / "simple"
REVIEW_SLA = 'name="sla" value="PT4H"'


def simple_variant(tmp_path, *replacements):
    folder = bundle_variant(SIMPLE, tmp_path / "variant", replacements)
    return Bundle.from_folder(folder), (folder / "simple.bpmn").read_text()


def line_of(text, needle):
    assert needle in text, f"test fixture changed: {needle!r} not found"
    return text[:text.index(needle)].count("\n") + 1


def only(problems, fragment):
    """The one problem whose message contains `fragment`."""
    found = [p for p in problems if fragment in p.message]
    assert len(found) == 1, f"expected one problem with {fragment!r}, got {problems}"
    return found[0]


# --- SLAs: the business calendar's parser decides --------------------------------------------

@pytest.mark.parametrize("sla", ["P1W", "P1M", "P1Y", "P2DT", "P3000000D", "PT8785H"])
def test_sla_the_calendar_refuses_is_refused_with_the_calendars_reason(tmp_path, sla):
    bundle, text = simple_variant(tmp_path, (REVIEW_SLA, f'name="sla" value="{sla}"'))
    with pytest.raises(ValueError) as refused:
        parse_duration(sla)
    problem = only(catalog.validate(bundle), f"sla {sla!r}")
    assert (problem.file, problem.line, problem.element_id) == (
        "simple.bpmn", line_of(text, 'id="review"'), "review")
    assert str(refused.value) in problem.message
    assert "no due time" in problem.message


@pytest.mark.parametrize("sla, hours", [("PT4H", 4), ("PT1.5H", 1.5), ("P1DT2H30M", 11.5)])
def test_sla_that_validates_gets_a_due_time(tmp_path, sessions, runtime, sla, hours):
    bundle, _ = simple_variant(tmp_path, (REVIEW_SLA, f'name="sla" value="{sla}"'))
    assert catalog.validate(bundle) == []
    with sessions.begin() as session:
        catalog.deploy(session, bundle, "owner")
        instance = runtime.start(session, "simple", {"request_no": "AS-1", "amount": 10},
                                 SYSTEM)
    with sessions() as session:
        task = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()
    # Monday 10:00 Shanghai, working hours 9-18: P1DT2H30M is Tuesday 12:30, 11.5 working hours.
    assert task.due_at is not None
    assert runtime.calendar.working_time_between(task.created_at, task.due_at).total_seconds() \
        == hours * 3600


@pytest.mark.parametrize("sla", ["pt4h", " PT4H"])
def test_sla_the_runtime_would_read_as_a_field_name_is_refused(tmp_path, sla):
    # The runtime (task_rows.sla_times) reads a value not starting with "P" as the name of a
    # data field: no due time.
    bundle, _ = simple_variant(tmp_path, (REVIEW_SLA, f'name="sla" value="{sla}"'))
    problem = only(catalog.validate(bundle), f"sla {sla!r}")
    assert problem.element_id == "review"
    assert "write 'PT4H'" in problem.message


def test_sla_field_is_a_top_level_name_of_the_task_data(tmp_path):
    bundle, _ = simple_variant(tmp_path, (REVIEW_SLA, 'name="sla" value="respond_sla"'))
    assert catalog.validate(bundle) == []
    # The runtime looks up task.data["customer.sla"]; it does not walk into customer.
    bundle, _ = simple_variant(tmp_path / "dotted",
                               (REVIEW_SLA, 'name="sla" value="customer.sla"'))
    problem = only(catalog.validate(bundle), "sla 'customer.sla'")
    assert problem.element_id == "review" and "dotted path is not followed" in problem.message


def test_sla_field_holding_a_duration_past_the_bound_gets_no_due_time():
    # Only the run knows a field's value: the runtime reads it with the same bounded parser, so
    # the task gets no due time at once (P3000000D was seconds of stepping, then OverflowError).
    opened = datetime(2024, 3, 4, 10, tzinfo=timezone.utc)
    calendar = BusinessCalendar()
    assert sla_times("respond_sla", {"respond_sla": "P3000000D"}, opened, calendar, 0.8) == (
        None, None)
    due, _ = sla_times("respond_sla", {"respond_sla": "P3660D"}, opened, calendar, 0.8)
    assert calendar.working_time_between(opened, due) == timedelta(hours=9 * 3660)


def test_sla_field_named_with_a_capital_p_is_explained(tmp_path):
    bundle, _ = simple_variant(tmp_path, (REVIEW_SLA, 'name="sla" value="Promised_by"'))
    problem = only(catalog.validate(bundle), "sla 'Promised_by'")
    assert "starting with P is read as a duration" in problem.message


# --- scripts and expressions: the sandbox's own checks decide --------------------------------

INIT_SCRIPT = '<bpmn:script>count = 0\nlabel = f"req {request_no}"</bpmn:script>'


@pytest.mark.parametrize("statement, reason", [
    ("import os", "import statements are not allowed"),
    ("_count = 1", '"_count" is an invalid variable name'),
    ("try:\n  x = 1\nexcept Exception:\n  x = 2", "try statements"),
    ("data = open('/etc/passwd').read()", '"open()" is not allowed'),
    ("kind = label.__class__", '"__class__" is an invalid attribute name'),
])
def test_script_the_sandbox_refuses_is_refused_at_its_line(tmp_path, statement, reason):
    script = f'<bpmn:script>count = 0\n{statement}\nlabel = f"req {{request_no}}"</bpmn:script>'
    bundle, text = simple_variant(tmp_path, (INIT_SCRIPT, script))
    problem = only(catalog.validate(bundle), reason)
    assert (problem.file, problem.line, problem.element_id) == (
        "simple.bpmn", line_of(text, statement.splitlines()[0]), "init")
    assert problem.message.startswith("script is refused by the script sandbox on its line 2")


def test_pre_and_post_scripts_are_checked_by_the_sandbox(tmp_path):
    review = '<bpmn:userTask id="review" name="Review request">\n      <bpmn:extensionElements>'
    scripts = ("\n        <spiffworkflow:preScript>seen = True\nimport sys</spiffworkflow:preScript>"
               "\n        <spiffworkflow:postScript>_done = True</spiffworkflow:postScript>")
    bundle, text = simple_variant(tmp_path, (review, review + scripts))
    problems = catalog.validate(bundle)
    pre = only(problems, "spiffworkflow:preScript")
    assert (pre.line, pre.element_id) == (line_of(text, "import sys"), "review")
    assert "import statements are not allowed" in pre.message
    post = only(problems, "spiffworkflow:postScript")
    assert (post.line, post.element_id) == (line_of(text, "_done = True"), "review")


def test_condition_the_sandbox_refuses_is_refused(tmp_path):
    bundle, text = simple_variant(tmp_path, ("approved == True", "approved.__class__ == bool"))
    problem = only(catalog.validate(bundle), "condition")
    assert (problem.line, problem.element_id) == (line_of(text, "approved.__class__"), "f_yes")
    assert "refused by the script sandbox" in problem.message
    assert '"__class__" is an invalid attribute name' in problem.message


def test_service_task_parameter_the_sandbox_refuses_is_refused(tmp_path):
    bundle, text = simple_variant(tmp_path, ('value="amount"', 'value="getattr(amount, \'real\')"'))
    problem = only(catalog.validate(bundle), "service task parameter 'amount'")
    assert (problem.line, problem.element_id) == (line_of(text, "getattr("), "refund")
    assert '"getattr()" is not allowed' in problem.message


def test_ordinary_scripts_and_expressions_still_validate(tmp_path):
    script = ('<bpmn:script>count = 0\nfor item in [1, 2]:\n    count += item\n'
              'label = f"req {request_no}"</bpmn:script>')
    bundle, _ = simple_variant(tmp_path, (INIT_SCRIPT, script),
                               ("approved == True", "approved == True and amount &lt; 1000"))
    assert catalog.validate(bundle) == []


# --- timers: the sandbox evaluates them, SpiffWorkflow reads their value ----------------------

REVIEW_TIMER = '<bpmn:timeDuration>"P1D"</bpmn:timeDuration>'


@pytest.mark.parametrize("timer, expected", [
    ('<bpmn:timeDuration>"P1W2D"</bpmn:timeDuration>', "timeDuration 'P1W2D' is not a duration"),
    ('<bpmn:timeDuration>"P99999999999Y"</bpmn:timeDuration>', "at most ten years"),
    ('<bpmn:timeDuration>"P3000000D"</bpmn:timeDuration>', "'P3000000D' is not a duration such "
                                                           'as "PT4H", "P3D" or "P1W" (timer '
                                                           "duration 'P3000000D' is too long: "
                                                           "a timer waits at most ten years"),
    ('<bpmn:timeDuration>"P11Y"</bpmn:timeDuration>', "at most ten years (P3660D)"),
    ('<bpmn:timeDuration>"P-1D"</bpmn:timeDuration>', "is negative"),
    ('<bpmn:timeDuration>"-PT4H"</bpmn:timeDuration>', "is negative"),
    ('<bpmn:timeCycle>"R/2030-01-01T00:00:00Z/P3000000D"</bpmn:timeCycle>', "at most ten years"),
    ('<bpmn:timeCycle>"R/9999-12-31T00:00:00Z/P2D"</bpmn:timeCycle>',
     "(its dates would fall outside the years 1 to 9999)"),
    ('<bpmn:timeDuration>4</bpmn:timeDuration>', "4 evaluates to int 4, not to ISO-8601 text"),
    ('<bpmn:timeDate>"2030-02-30T10:00:00+08:00"</bpmn:timeDate>', "day is out of range"),
    ('<bpmn:timeDate>"PT4H"</bpmn:timeDate>', "a timeDate needs a date-time"),
    ('<bpmn:timeCycle>"R3/PT1H/PT2H"</bpmn:timeCycle>', "is not a repeating interval"),
    ('<bpmn:timeCycle>"R/PT0S"</bpmn:timeCycle>', "interval longer than nothing"),
    ('<bpmn:timeCycle>"R-1/PT1H"</bpmn:timeCycle>', "negative number of times"),
    ('<bpmn:timeDate>"2030-13-01T00:00:00Z"</bpmn:timeDate>', "month must be in 1..12"),
    ('<bpmn:timeDuration>_deadline</bpmn:timeDuration>', "refused by the script sandbox"),
])
def test_timer_spiffworkflow_cannot_read_is_refused(tmp_path, timer, expected):
    bundle, text = simple_variant(tmp_path, (REVIEW_TIMER, timer))
    problem = only(catalog.validate(bundle), expected)
    assert (problem.line, problem.element_id) == (line_of(text, timer), "review_timeout")


@pytest.mark.parametrize("timer", [
    '<bpmn:timeDuration>"P1W"</bpmn:timeDuration>',   # calendar time: weeks are fine here
    '<bpmn:timeDuration>"PT1.5H"</bpmn:timeDuration>',
    '<bpmn:timeDate>"2030-01-31T17:00:00+08:00"</bpmn:timeDate>',
    '<bpmn:timeCycle>"R3/PT1H"</bpmn:timeCycle>',
    '<bpmn:timeDuration>"P3000D"</bpmn:timeDuration>',   # bounded by datetime, not by policy
    '<bpmn:timeDuration>review_deadline</bpmn:timeDuration>',   # over data: read at run time
])
def test_timer_spiffworkflow_reads_validates(tmp_path, timer):
    bundle, _ = simple_variant(tmp_path, (REVIEW_TIMER, timer))
    assert catalog.validate(bundle) == []


# --- DMN: the runtime evaluates decision tables in the same sandbox ---------------------------

DECIDING = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="deciding_definitions" targetNamespace="http://aftersales.example/bpmn">
  <bpmn:process id="deciding" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
    <bpmn:businessRuleTask id="decide" name="Decide the route">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>route</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""
ROUTE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="route_definitions"
             name="Route" namespace="http://aftersales.example/dmn">
  <decision id="route" name="Route">
    <decisionTable id="route_table" hitPolicy="FIRST">
      <input id="input_amount"><inputExpression id="input_amount_expression" typeRef="number">
        <text>amount</text></inputExpression></input>
      <input id="input_tier"><inputExpression id="input_tier_expression" typeRef="string">
        <text>tier</text></inputExpression></input>
      <output id="output_route" name="route" typeRef="string"/>
      <rule id="rule_big">
        <inputEntry id="rule_big_amount"><text>&gt; 1000</text></inputEntry>
        <inputEntry id="rule_big_tier"><text>-</text></inputEntry>
        <outputEntry id="rule_big_route"><text>"supervisor"</text></outputEntry>
      </rule>
      <rule id="rule_gold">
        <inputEntry id="rule_gold_amount"><text>0 &lt; ? &lt;= 1000</text></inputEntry>
        <inputEntry id="rule_gold_tier"><text>"gold"</text></inputEntry>
        <outputEntry id="rule_gold_route"><text>"fast_lane"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>"""


def validate_deciding(dmn=ROUTE):
    return catalog.validate(Bundle({"deciding.bpmn": DECIDING.encode(),
                                            "route.dmn": dmn.encode()}))


def replaced(old, new, text=ROUTE):
    assert old in text, f"test fixture changed: {old!r} not found"
    return text.replace(old, new, 1)


def test_ordinary_decision_table_validates():
    assert validate_deciding() == []


def test_output_entry_is_an_expression_not_a_statement():
    # SpiffWorkflow's parser accepts any Python there; the runtime evaluates it as an expression.
    dmn = replaced('<text>"fast_lane"</text>', '<text>route = "fast_lane"</text>')
    problem = only(validate_deciding(dmn), "output entry")
    assert (problem.file, problem.line, problem.element_id) == (
        "route.dmn", line_of(dmn, 'route = "fast_lane"'), "rule_gold")
    assert "not a valid Python expression" in problem.message


@pytest.mark.parametrize("old, new, element_id, expected", [
    ('<text>"supervisor"</text>', "<text>tier.__class__</text>", "rule_big",
     'output entry \'tier.__class__\' is refused by the script sandbox'),
    ("<text>tier</text>", "<text>_tier</text>", "input_tier",
     "input expression '_tier' is refused by the script sandbox"),
    ('<text>"gold"</text>', '<text>"gold".__class__</text>', "rule_gold",
     "the rule's test '(tier) == (\"gold\".__class__)' is refused by the script sandbox"),
    ("<text>0 &lt; ? &lt;= 1000</text>", "<text>?.__class__ == int</text>", "rule_gold",
     "the rule's test 'dmninputexpr.__class__ == int' is refused by the script sandbox"),
])
def test_decision_table_python_the_sandbox_refuses_is_refused(old, new, element_id, expected):
    dmn = replaced(old, new)
    problem = only(validate_deciding(dmn), expected)
    assert (problem.file, problem.line, problem.element_id) == (
        "route.dmn", line_of(dmn, new), element_id)


def test_dmn_file_is_named_as_deployment_recognises_it():
    # Deployment loads a file as DMN only when its name ends in ".dmn", lower case.
    problems = catalog.validate(Bundle({"deciding.bpmn": DECIDING.encode(),
                                                "route.DMN": ROUTE.encode()}))
    problem = only(problems, "name it *.dmn")
    assert problem.file == "route.DMN"
