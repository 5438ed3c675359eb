"""Business time: working hours, weekends, holidays and make-up workdays in one time zone.

Owns the arithmetic behind SLAs such as "first response within PT4H, resolution within P2D":
the due instant of a business duration, the working time elapsed between two instants (KPIs),
and whether an SLA is on time, at risk or breached. Everything here is a pure function of its
arguments: callers pass `now` (from engine.clock) and receive aware UTC datetimes.

Working time is [start_hour, end_hour) local wall-clock time on working days. A working day is
a weekday in `workdays` that is not a holiday, or any date in `extra_workdays` (the Chinese 调休
Saturdays/Sundays). Every loop steps at most one day at a time.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ZERO = timedelta(0)
# The longest business duration the calendar counts. No SLA runs ten years: a longer one is a
# typo, and `add` would step day by day for seconds to reach it (P3000000D ran past the year
# 9999 after ~2.5 s with an OverflowError). P3660D (ten years of 366 days, counted as working
# days, so about fourteen calendar years) and PT8784H (a leap year of hours; longer is written
# in days) each take the calendar milliseconds, even with one working hour a week.
MAX_DAYS = 3660
MAX_TIME = timedelta(hours=8784)
# Give up looking for the next working day after this many consecutive non-working days.
_MAX_GAP_DAYS = 3 * 366
# The longest a timer waits, in calendar days: ten years, as for SLAs. SpiffWorkflow counts the
# months of a timer's duration one by one ('P999999999Y' looped for minutes holding the database's
# write lock), so every timer duration is bounded by `timer_duration_error` before it sees one.
MAX_TIMER_DAYS = MAX_DAYS
# Each designator in days (a year of 366 days, a month of 30.5: 'P10Y' and 'P120M' are ten years).
_DAYS_PER = {"Y": 366, "M": 30.5, "W": 7, "D": 1, "TH": 1 / 24, "TM": 1 / 1440, "TS": 1 / 86400}
_TIMER_PART = re.compile(r"(\d+(?:[.,]\d*)?)([YMWDHS])")
_MAX_TIMER_TEXT = 64
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(
    rf"P(?:(?P<days>\d+)D)?"
    rf"(?:T(?=\d)(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?")


def parse_duration(text: str) -> tuple[int, timedelta]:
    """Split an ISO-8601 business duration into (working days, working time).

    'P2D' -> (2, 0:00), 'PT4H' -> (0, 4:00), 'P1DT2H30M' -> (1, 2:30), 'PT1.5H' -> (0, 1:30).
    Years, months and weeks are refused: how many working days they hold is policy, not arithmetic.
    So are durations past the bound the calendar counts: more than MAX_DAYS (3660) working days,
    or a time part over MAX_TIME (8784 hours).
    Raises ValueError naming the text when it is not such a duration.
    """
    match = _DURATION.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"invalid business duration {text!r}: expected ISO-8601 such as "
                         "'PT4H', 'PT30M', 'P2D' or 'P1DT2H'")
    too_long = ValueError(f"business duration {text!r} is too long: the business calendar "
                          f"counts at most P{MAX_DAYS}D of working days and "
                          f"PT{MAX_TIME // timedelta(hours=1)}H of working time")
    try:
        days = int(match["days"] or 0)  # ValueError past Python's 4300 digits
        rest = timedelta(hours=float(match["hours"] or 0), minutes=float(match["minutes"] or 0),
                         seconds=float(match["seconds"] or 0))
    except (OverflowError, ValueError):
        raise too_long from None
    if days > MAX_DAYS or rest > MAX_TIME:
        raise too_long
    return days, rest


def timer_cycle_error(text) -> str | None:
    """Why the ISO-8601 repeating interval `text` of a timeCycle ('R3/PT1H',
    'R/2030-01-31T09:00:00+08:00/P1D') is refused before SpiffWorkflow reads it, or None.

    Refused: its durations when `timer_duration_error` refuses them, a negative number of
    repetitions ('R-1/PT1H': write 'R/' to repeat without end), and an interval of no length
    ('R/PT0S'): each firing would be due again at once, so the timer job would fire it without
    pause. Whether the rest is well-formed is left to SpiffWorkflow's parser.
    """
    if not isinstance(text, str):
        return f"a timer cycle must be ISO-8601 text, not {type(text).__name__}"
    head, _, rest = text.strip().upper().partition("/")
    if head.startswith("R-"):
        return (f"timer cycle {text!r} repeats a negative number of times; write R/ to repeat "
                "without end")
    for part in rest.replace("--", "/").split("/"):  # as SpiffWorkflow splits the interval
        if not part.lstrip("+-").startswith("P"):
            continue
        refused = timer_duration_error(part)
        if refused is not None:
            return refused
        if all(float(number.replace(",", ".") or 0) == 0
               for number, _ in _TIMER_PART.findall(part)):
            return (f"timer cycle {text!r} repeats every {part}: a repeating timer needs an "
                    "interval longer than nothing")
    return None


def timer_duration_error(text) -> str | None:
    """Why the ISO-8601 duration `text` of a timer (a timeDuration, or a duration in a
    timeCycle) is refused before SpiffWorkflow reads it, or None when it may read it.

    Refused: text that is not a string, negative durations ('-P1D', 'P-1D'), durations longer
    than MAX_TIMER_DAYS (3660 days, ten years; 'P999999999Y', 'P3000000D') and absurdly long text.
    Whether the rest is well-formed is left to SpiffWorkflow's parser.
    """
    if not isinstance(text, str):
        return f"a timer duration must be ISO-8601 text, not {type(text).__name__}"
    if len(text) > _MAX_TIMER_TEXT:
        return f"timer duration {text[:20]!r}... is too long a text"
    upper = text.strip().upper()
    if "-" in upper:
        return f"timer duration {text!r} is negative: a timer cannot wait less than nothing"
    days = 0.0
    date_part, _, time_part = upper.partition("T")
    for prefix, part in (("", date_part), ("T", time_part)):
        for number, designator in _TIMER_PART.findall(part):
            days += float(number.replace(",", ".")) * _DAYS_PER.get(prefix + designator, 1)
    if days > MAX_TIMER_DAYS:
        return (f"timer duration {text!r} is too long: a timer waits at most ten years "
                f"(P{MAX_TIMER_DAYS}D)")
    return None


def read_calendar_file(path) -> tuple[list[date], list[date]]:
    """(holidays, make-up workdays) listed in the calendar file at `path`.

    Either JSON, {"holidays": ["2026-10-01", ...], "extra_workdays": ["2026-09-27", ...]}, or
    text with one date a line followed by its kind, "holiday" (节假日) or "workday" (调休上班):

        # National Day 国庆节
        2026-10-01 holiday
        2026-09-27 workday

    Blank lines and text after '#' are ignored. Raises ValueError naming the file and the line
    (or key) that cannot be read; a missing file is an error too, not an empty calendar.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"calendar file {path}: cannot be read ({err})") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ValueError(f"calendar file {path}: not valid JSON ({err})") from None
        unknown = set(data) - {"holidays", "extra_workdays"}
        if unknown:
            raise ValueError(f"calendar file {path}: unknown keys {sorted(unknown)}; expected "
                             "'holidays' and 'extra_workdays'")
        found = []
        for key in ("holidays", "extra_workdays"):
            values = data.get(key, [])
            if not isinstance(values, list):
                raise ValueError(f"calendar file {path}: {key} must be a list of ISO dates")
            found.append([_as_date(v, f"date in {key} of {path}") for v in values])
        return found[0], found[1]
    holidays, extra = [], []
    kinds = {"holiday": holidays, "workday": extra, "extra_workday": extra}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2 or words[1].lower() not in kinds:
            raise ValueError(f"calendar file {path}, line {number}: expected a date and "
                             f"'holiday' or 'workday', got {line.strip()!r}")
        kinds[words[1].lower()].append(_as_date(words[0], f"date on line {number} of {path}"))
    return holidays, extra


def sla_status(due_at: datetime | None, at_risk_at: datetime | None, now: datetime) -> str:
    """'breached' once now >= due_at, 'at_risk' once now >= at_risk_at, else 'on_time'
    (the rule shared by the task lists, which store both instants, and BusinessCalendar)."""
    if due_at is not None and now >= due_at:
        return "breached"
    if at_risk_at is not None and now >= at_risk_at:
        return "at_risk"
    return "on_time"


def _utc(dt: datetime) -> datetime:
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {dt!r}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"business time needs a timezone-aware datetime, got naive {dt.isoformat()}")
    return dt.astimezone(timezone.utc)


def _as_date(value: date | str, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid {what} {value!r}: expected an ISO date such as '2024-10-01'") from None


class BusinessCalendar:
    """The working time of one organisation; immutable once built."""

    def __init__(self, tz: str = "Asia/Shanghai", start_hour: int = 9, end_hour: int = 18,
                 workdays=(0, 1, 2, 3, 4), holidays=(), extra_workdays=()):
        try:
            self.tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        if not 0 <= start_hour < end_hour <= 24:
            raise ValueError(f"working hours {start_hour}-{end_hour} must satisfy 0 <= start < end <= 24")
        if not set(workdays) <= set(range(7)):
            raise ValueError(f"workdays {tuple(workdays)!r} must be weekday numbers 0 (Monday) to 6")
        self.start_hour, self.end_hour = start_hour, end_hour
        self.workdays = frozenset(workdays)
        self.holidays = frozenset(_as_date(d, "holiday") for d in holidays)
        self.extra_workdays = frozenset(_as_date(d, "extra workday") for d in extra_workdays)
        if both := self.holidays & self.extra_workdays:
            raise ValueError("dates both holiday and extra workday: "
                             + ", ".join(sorted(d.isoformat() for d in both)))

    @classmethod
    def from_settings(cls, settings) -> "BusinessCalendar":
        """The calendar described by an engine.config.Settings: its holidays and make-up
        workdays (AFTERSALES_HOLIDAYS, AFTERSALES_EXTRA_WORKDAYS) together with those of its
        calendar file (AFTERSALES_CALENDAR_FILE, see `read_calendar_file`).
        Raises ValueError naming the file or the date that cannot be read."""
        holidays = list(settings.holidays)
        extra = list(getattr(settings, "extra_workdays", ()))
        path = getattr(settings, "calendar_file", None)
        if path is not None:
            more_holidays, more_extra = read_calendar_file(path)
            holidays += more_holidays
            extra += more_extra
        return cls(tz=settings.timezone, start_hour=settings.work_start_hour,
                   end_hour=settings.work_end_hour, holidays=holidays, extra_workdays=extra)

    def __repr__(self) -> str:
        return (f"BusinessCalendar({self.tz.key!r}, {self.start_hour}-{self.end_hour}, "
                f"workdays={sorted(self.workdays)}, {len(self.holidays)} holidays, "
                f"{len(self.extra_workdays)} extra workdays)")

    # -- days ---------------------------------------------------------------------------------

    def special_days(self, start: date, end: date) -> list[tuple[date, str]]:
        """The holidays and make-up workdays from `start` to `end` (both included), in date
        order, as (date, "holiday" | "extra_workday")."""
        days = [(d, "holiday") for d in self.holidays if start <= d <= end]
        days += [(d, "extra_workday") for d in self.extra_workdays if start <= d <= end]
        return sorted(days)

    def is_workday(self, day: date) -> bool:
        """True when `day` (a local date) has working hours."""
        if day in self.extra_workdays:
            return True
        return day.weekday() in self.workdays and day not in self.holidays

    def _next_workday(self, day: date) -> date:
        for _ in range(_MAX_GAP_DAYS):
            day += timedelta(days=1)
            if self.is_workday(day):
                return day
        raise ValueError(f"{self!r} has no working day in the {_MAX_GAP_DAYS} days after {day}")

    def _at(self, day: date, wall: timedelta) -> datetime:
        """The UTC instant at local wall-clock time `wall` after midnight of `day`."""
        local = datetime.combine(day, time()) + wall
        return local.replace(tzinfo=self.tz).astimezone(timezone.utc)

    def _hours(self, day: date) -> tuple[datetime, datetime]:
        return (self._at(day, timedelta(hours=self.start_hour)),
                self._at(day, timedelta(hours=self.end_hour)))

    def _local_date(self, t: datetime) -> date:
        return t.astimezone(self.tz).date()

    def _align(self, t: datetime) -> tuple[date, datetime]:
        """`t` itself when it lies within a working day's [open, close], else the next opening."""
        day = self._local_date(t)
        if self.is_workday(day):
            opening, closing = self._hours(day)
            if t <= closing:
                return day, max(t, opening)
        day = self._next_workday(day)
        return day, self._hours(day)[0]

    def outlook(self, today: date, months: int = 3) -> dict:
        """What the calendar holds from `today` to the end of the month `months` months ahead,
        as people read it: the
        time zone, the working hours, the weekdays worked, and every holiday and make-up
        workday in that span (dates as ISO text, weekdays 0 = Monday)."""
        if not 1 <= months <= 24:
            raise ValueError(f"months {months!r} must be between 1 and 24")
        year, month = divmod(today.month + months, 12)
        end = date(today.year + year, month + 1, 1) - timedelta(days=1)
        return {"timezone": self.tz.key,
                "working_hours": {"start": f"{self.start_hour:02d}:00",
                                  "end": f"{self.end_hour:02d}:00"},
                "workdays": sorted(self.workdays),
                "from": today.isoformat(), "to": end.isoformat(),
                "days": [{"date": d.isoformat(), "weekday": d.weekday(), "kind": kind}
                         for d, kind in self.special_days(today, end)]}

    def today(self, now: datetime) -> date:
        """The local date at instant `now`."""
        return self._local_date(_utc(now))

    # -- instants -----------------------------------------------------------------------------

    def is_working_time(self, dt: datetime) -> bool:
        """True when `dt` lies inside working hours (opening included, closing excluded)."""
        t = _utc(dt)
        day = self._local_date(t)
        if not self.is_workday(day):
            return False
        opening, closing = self._hours(day)
        return opening <= t < closing

    def add(self, start: datetime, duration: timedelta | str) -> datetime:
        """The aware UTC instant `duration` of business time after `start`.

        `duration` is an ISO-8601 string ('PT4H', 'P2D', 'P1DT2H') or a timedelta of working time
        (timedelta(days=1) is 24 working hours; write 'P1D' for one working day). A day moves to
        the same wall-clock time on the next working day, so 'P2D' from Friday 15:00 is Tuesday
        15:00. A start outside working hours counts from the next opening. The result is the
        earliest instant with that much working time, so 'PT1H' from 17:00 gives 18:00 that day.
        Raises ValueError for a bad or negative duration, or a naive `start`.
        """
        days, rest = parse_duration(duration) if isinstance(duration, str) else (0, duration)
        if not isinstance(rest, timedelta) or rest < _ZERO:
            raise ValueError(f"business duration must be a non-negative timedelta or ISO-8601 text, "
                             f"got {duration!r}")
        day, t = self._align(_utc(start))
        if days:
            wall = t.astimezone(self.tz).replace(tzinfo=None) - datetime.combine(day, time())
            if t == self._hours(day)[0]:
                # Same instant of working time, but the earliest: the close of the day before.
                days, wall = days - 1, timedelta(hours=self.end_hour)
            for _ in range(days):
                day = self._next_workday(day)
            opening, closing = self._hours(day)
            t = min(max(self._at(day, wall), opening), closing)
        while True:
            closing = self._hours(day)[1]
            if t + rest <= closing:
                return t + rest
            rest -= closing - t
            day = self._next_workday(day)
            t = self._hours(day)[0]

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """The working time from `a` to `b`; negative when `b` is before `a`."""
        a, b = _utc(a), _utc(b)
        if b < a:
            return -self.working_time_between(b, a)
        total, day, last = _ZERO, self._local_date(a), self._local_date(b)
        while day <= last:
            if self.is_workday(day):
                opening, closing = self._hours(day)
                total += max(_ZERO, min(closing, b) - max(opening, a))
            day += timedelta(days=1)
        return total

    # -- SLAs ---------------------------------------------------------------------------------

    def at_risk_at(self, created_at: datetime, due_at: datetime, fraction: float) -> datetime:
        """The aware UTC instant when `fraction` of the SLA's working time has elapsed.

        Never later than `due_at`. Raises ValueError unless 0 <= fraction <= 1.
        """
        if not 0 <= fraction <= 1:
            raise ValueError(f"at-risk fraction {fraction!r} must be between 0 and 1")
        due = _utc(due_at)
        total = self.working_time_between(created_at, due)
        if total <= _ZERO:
            return due
        return min(self.add(created_at, total * fraction), due)

    def sla_status(self, created_at: datetime, due_at: datetime, now: datetime,
                   at_risk_fraction: float = 0.8) -> str:
        """'breached' once `now` >= `due_at`; 'at_risk' once `at_risk_fraction` of the SLA's
        working time has elapsed (from `at_risk_at`, so a warning timer and this status agree);
        else 'on_time'."""
        return sla_status(_utc(due_at), self.at_risk_at(created_at, due_at, at_risk_fraction),
                          _utc(now))
