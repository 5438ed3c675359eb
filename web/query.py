"""Query strings and form fields turned into typed values: each parser raises InvalidInput
naming the parameter, so a typo is a clear 422 (or a page's field error), never a silent match
of everything."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from engine import clock, config
from engine.errors import InvalidInput
from engine.kpis import MAX_RANGE_DAYS
from engine.service_requests import SERVICE_TIERS
from engine.tasklist import MAX_PER_PAGE, SORTS, Filters


def task_filters(args: Mapping[str, str]) -> tuple[Filters, str, int, int]:
    """(filters, sort, page, per_page) of a task list from query-string values."""
    args = plain(args)
    known = set(Filters.__dataclass_fields__) | {"sort", "page", "per_page"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise InvalidInput(f"unknown parameter '{unknown[0]}'", field=unknown[0])
    values: dict = {}
    for name in ("department", "assignee", "process"):
        if args.get(name):
            values[name] = text(args[name], name)
    if values.get("department") and values["department"] not in config.DEPARTMENTS:
        raise InvalidInput(f"department must be one of {', '.join(config.DEPARTMENTS)}",
                           field="department")
    for name in ("overdue", "at_risk"):
        if args.get(name):
            values[name] = boolean(args[name], name)
    if args.get("priority"):
        values["priority"] = integer(args["priority"], "priority", 1, 9)
    if args.get("tier"):
        if args["tier"] not in SERVICE_TIERS:
            raise InvalidInput(f"tier must be one of {', '.join(SERVICE_TIERS)}", field="tier")
        values["tier"] = args["tier"]
    for name in ("created_from", "created_to", "due_from", "due_to"):
        if args.get(name):
            values[name] = instant(args[name], name)
    sort = args.get("sort") or "due"
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", field="sort")
    page, per_page = paging(args)
    return Filters(**values), sort, page, per_page


def paging(args: Mapping[str, str], default_per_page: int = 25) -> tuple[int, int]:
    args = plain(args)
    page = integer(args.get("page") or "1", "page", 1, 1_000_000)
    per_page = integer(args.get("per_page") or str(default_per_page), "per_page", 1,
                       MAX_PER_PAGE)
    return page, per_page


def plain(args: Mapping[str, str]) -> dict[str, str]:
    """The first value of each parameter, as a dict: asking werkzeug's MultiDict for a name it
    lacks builds an HTTP exception (BadRequestKeyError) before `get` answers None, a dozen per
    task list."""
    return args if type(args) is dict else {name: args[name] for name in args}


def boolean(value: str, name: str) -> bool:
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true or false", field=name)


def integer(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number", field=name) from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}", field=name)
    return number


_YEARS = "within the years 1 to 9999"


def instant(value: str, name: str) -> datetime:
    """The time `value` names, in UTC. Raises InvalidInput naming `name`, also for a time
    that moved to UTC leaves the years 1-9999 (clock.parse: 9999-12-31T23:59:59-14:00)."""
    try:
        stripped = str(value).strip().replace("Z", "+00:00")
        if "T" in stripped:     # a '+' of a zone offset arrives as ' ' when not URL-encoded
            stripped = re.sub(r" (\d{2}:?\d{2})$", r"+\1", stripped)
        return clock.parse(stripped)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO-8601 date or time {_YEARS}",
                           field=name) from None


def text(value: str, name: str) -> str:
    value = str(value).strip()
    if not value or len(value) > 200:
        raise InvalidInput(f"{name} must be 1 to 200 characters", field=name)
    return value


def date_range(start: str | None, end: str | None, tz: str, now: datetime | None = None
               ) -> tuple[datetime, datetime]:
    """[start, end) of the `from` and `to` parameters: ISO dates or times, a date alone meaning
    that whole day in time zone `tz`. Defaults: the last 30 days up to now. Raises InvalidInput
    naming `from` or `to`."""
    now = now or clock.now()
    zone = ZoneInfo(tz)
    end_at = _day_or_instant(end, "to", zone, end_of_day=True) if end else now
    start_at = _day_or_instant(start, "from", zone) if start else end_at - timedelta(days=30)
    if start_at >= end_at:
        raise InvalidInput("'from' must be before 'to'", field="from")
    if end_at - start_at > timedelta(days=MAX_RANGE_DAYS):
        raise InvalidInput(f"the range may span at most {MAX_RANGE_DAYS} days", field="from")
    return start_at, end_at


def _day_or_instant(value: str, name: str, zone: ZoneInfo, end_of_day: bool = False) -> datetime:
    """The start of day `value` in `zone` (of the next day if `end_of_day`), or the time it
    names, in UTC. Raises InvalidInput naming `name`, also at the calendar's edges, where the
    day after 9999-12-31 or 0001-01-01 in UTC+8 moved to UTC is an OverflowError."""
    stripped = str(value).strip()
    try:
        if len(stripped) == 10:
            day = datetime.fromisoformat(stripped).replace(tzinfo=zone)
            return (day + timedelta(days=1) if end_of_day else day).astimezone(timezone.utc)
        return clock.parse(stripped.replace("Z", "+00:00"))
    except (OverflowError, ValueError):
        raise InvalidInput(f"'{name}' must be an ISO-8601 date or time {_YEARS}",
                           field=name) from None
