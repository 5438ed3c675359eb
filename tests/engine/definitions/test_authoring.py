"""What the owners' editor asks as an owner types: deploy's own rules, and what a value means."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine import clock
from engine.business_time import BusinessCalendar
from engine.definitions import authoring
from engine.errors import InvalidInput
from tests.conftest import DATA

# A Wednesday 10:00 in Shanghai (02:00 UTC): working hours 9-18.
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)
CALENDAR = BusinessCalendar()


def check(kind, text):
    return authoring.check(kind, text, CALENDAR, NOW)


def test_an_sla_shows_its_due_time_in_business_hours():
    four_hours = check("sla", "PT4H")
    assert four_hours["ok"] and four_hours["preview"]["due_at"] == "2026-11-25T06:00:00+00:00"
    # 10 hours from 10:00 with a 9-hour day: 8 today, 2 tomorrow from 09:00 -> Thursday 11:00.
    assert check("sla", "PT10H")["preview"]["due_at"] == "2026-11-26T03:00:00+00:00"
    assert check("sla", "due_in")["preview"] == {"field": "due_in"}


def test_an_sla_the_calendar_cannot_count_is_refused_as_deploy_refuses_it():
    week = check("sla", "P1W")
    assert not week["ok"] and "P1W" in week["error"] and week["preview"] is None
    assert "write 'PT4H'" in check("sla", "pt4h")["error"]


def test_conditions_and_scripts_are_judged_by_the_sandbox():
    assert check("expression", "amount > 2000") == {"kind": "expression", "ok": True,
                                                     "error": None, "preview": None}
    assert "sandbox" in check("expression", "__import__('os')")["error"]
    assert "not valid Python" in check("expression", "amount >")["error"]
    assert "import" in check("script", "import os")["error"]
    assert check("script", "total = amount * 2")["ok"]


def test_timers_show_the_parsed_value():
    # Timers count calendar time from the clock, as the runtime starts them.
    assert check("timeDuration", '"PT2H"')["preview"] == {
        "value": "PT2H", "due_at": (clock.now() + timedelta(hours=2)).isoformat()}
    cycle = check("timeCycle", '"R3/PT1H"')["preview"]
    assert (cycle["repetitions"], cycle["interval_seconds"]) == (3, 3600.0)
    assert 'write "PT2H"' in check("timeDuration", "PT2H")["error"]
    assert not check("timeCycle", '"R/PT0S"')["ok"]
    assert check("timeDuration", "deadline") == {"kind": "timeDuration", "ok": True,
                                                 "error": None, "preview": None}


@pytest.mark.parametrize("kind, text", [("nope", "x"), ("sla", 5), ("script", "x" * 20_001)])
def test_bad_questions_name_the_field(kind, text):
    with pytest.raises(InvalidInput) as refused:
        check(kind, text)
    assert refused.value.field in ("kind", "text")


def test_the_vocabulary_lists_what_a_process_may_name(sessions, deploy):
    deploy(DATA / "simple")
    with sessions() as session:
        vocabulary = authoring.vocabulary(session)
    assert "finance" in vocabulary["departments"]
    assert {"review.json", "confirm.json"} <= set(vocabulary["forms"])
    assert "refund_result" in vocabulary["messages"]
    assert "payment.refund" in [o["operation"] for o in vocabulary["operations"]]
