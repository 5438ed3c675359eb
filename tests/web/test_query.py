"""Query strings of the task list turned into filters: each refusal names its parameter."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.errors import InvalidInput
from web import query


@pytest.mark.parametrize("args, field", [({"sort": "name"}, "sort"), ({"page": "0"}, "page"),
                                         ({"priority": "high"}, "priority"),
                                         ({"created_from": "monday"}, "created_from"),
                                         ({"whatever": "1"}, "whatever")])
def test_task_filters_names_the_parameter(args, field):
    with pytest.raises(InvalidInput) as refused:
        query.task_filters(args)
    assert refused.value.field == field


def test_task_filters_reads_times_with_zones():
    filters, sort, page, per_page = query.task_filters(
        {"due_from": "2026-11-23T10:00:00 08:00", "overdue": "true", "per_page": "50"})
    assert filters.due_from == clock.parse("2026-11-23T02:00:00+00:00")
    assert (filters.overdue, sort, page, per_page) == (True, "due", 1, 50)


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), ("No", False)])
def test_booleans(value, expected):
    assert query.boolean(value, "overdue") is expected


def test_an_unknown_department_is_refused_by_name():
    with pytest.raises(InvalidInput) as refused:
        query.task_filters({"department": "marketing"})
    assert refused.value.field == "department"


def test_date_range_uses_local_days():
    start, end = query.date_range("2026-11-23", "2026-11-23", "Asia/Shanghai")
    assert start.isoformat() == "2026-11-22T16:00:00+00:00"
    assert end - start == timedelta(days=1)
    start, end = query.date_range(None, None, "Asia/Shanghai")
    assert end == clock.now() and end - start == timedelta(days=30)
    with pytest.raises(InvalidInput):
        query.date_range("2000-01-01", "2026-01-01", "Asia/Shanghai")


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                   "10000-01-01T00:00:00"])
def test_a_time_beyond_the_calendar_once_in_utc_is_refused_by_name(value):
    with pytest.raises(InvalidInput) as refused:
        query.instant(value, "due_from")
    assert refused.value.field == "due_from"


@pytest.mark.parametrize("start, end, field", [("0001-01-01", None, "from"),
                                               (None, "9999-12-31", "to"),
                                               ("2026-11-01", "9999-12-31T23:59:59-14:00", "to")])
def test_a_day_at_the_calendars_edge_is_refused_by_name(start, end, field):
    with pytest.raises(InvalidInput) as refused:
        query.date_range(start, end, "Asia/Shanghai")
    assert refused.value.field == field
