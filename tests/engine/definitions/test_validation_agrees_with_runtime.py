"""Validation judges by the runtime's own rules: what it accepts runs, what the runtime would
refuse is reported at upload, with the file, line and element, in the runtime's words.

Each test here is a disagreement that once let a definition validate and then fail (or silently
do less) at run time: SLAs the business calendar cannot count, scripts and expressions the
sandbox refuses, timers SpiffWorkflow cannot read.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.access import SYSTEM
from engine.business_time import parse_duration
from engine.definitions import catalog
from engine.models import HumanTask
from tests.conftest import DATA, bundle_variant

SIMPLE = DATA / "simple"
REVIEW_SLA = 'name="sla" value="PT4H"'


def simple_variant(tmp_path, *replacements):
    folder = bundle_variant(SIMPLE, tmp_path / "variant", replacements)
    return catalog.Bundle.from_folder(folder), (folder / "simple.bpmn").read_text()


def line_of(text, needle):
    assert needle in text, f"test fixture changed: {needle!r} not found"
    return text[:text.index(needle)].count("\n") + 1


def only(problems, fragment):
    """The one problem whose message contains `fragment`."""
    found = [p for p in problems if fragment in p.message]
    assert len(found) == 1, f"expected one problem with {fragment!r}, got {problems}"
    return found[0]


# --- SLAs: the business calendar's parser decides --------------------------------------------

@pytest.mark.parametrize("sla", ["P1W", "P1M", "P1Y", "P2DT"])
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
    # The runtime reads a value not starting with "P" as the name of a data field: no due time.
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


def test_sla_field_named_with_a_capital_p_is_explained(tmp_path):
    bundle, _ = simple_variant(tmp_path, (REVIEW_SLA, 'name="sla" value="Promised_by"'))
    problem = only(catalog.validate(bundle), "sla 'Promised_by'")
    assert "starting with P is read as a duration" in problem.message
