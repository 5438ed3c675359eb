"""After-sales reports (售后报告): weekly, monthly and quarterly, on schedule and on demand.

A period is named as people write it: `2026-W48` (an ISO week), `2026-11` (a month),
`2026-Q4` (a quarter), in the platform's time zone, [first day 00:00, day after the last
00:00). A report holds, for that range:
* `kpis`: engine.kpis.compute for the range, exactly what GET /api/kpis (the dashboard) answers
  for the same from/to: requests, response and resolution times, CSAT, complaint rate, money,
  and SLA (task breach rates) overall, by category and by department; its open-task figures are
  a snapshot at `generated_at`;
* `feedback`: the classes of what customers said (engine.feedback.counts);
* `top_skus`: the SKUs with the highest problem rate (engine.quality.top);
* `repurchase`: who ordered again within 30 and 90 days, beside CSAT (engine.repurchase.rates).
The scheduler stores each period's report once the period is over (`generate_due`); a report
asked for on demand is computed then (`build`) and stored only when asked. It downloads as a
workbook of one sheet per section (engine/report_workbook.py, openpyxl).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, feedback, kpis, quality, repurchase
from engine.errors import InvalidInput
from engine.models import Report

KINDS = ("weekly", "monthly", "quarterly")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
TOP_SKUS = 10


@dataclass(frozen=True)
class Period:
    name: str          # 2026-W48, 2026-11, 2026-Q4
    kind: str          # weekly, monthly, quarterly
    first: date
    after: date        # the day after the last

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        """[start, end) in UTC of the period's days in time zone `tz`. Raises InvalidInput
        (field "period") when that leaves datetime's years (0001-01 east of UTC)."""
        zone = ZoneInfo(tz)
        try:
            return tuple(datetime.combine(day, time(), zone).astimezone(ZoneInfo("UTC"))
                         for day in (self.first, self.after))
        except OverflowError:
            raise InvalidInput(f"period {self.name} lies beyond the calendar's first or last "
                               "day", field="period") from None

    def previous(self) -> Period:
        return containing(self.kind, self.first - timedelta(days=1))


def parse(text) -> Period:
    """The period `text` names. Raises InvalidInput (field "period") for anything else."""
    text = str(text or "").strip().upper()
    try:
        if m := _QUARTER.fullmatch(text):
            year, quarter = int(m[1]), int(m[2])
            return _quarter(year, quarter)
        if m := _WEEK.fullmatch(text):
            first = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return Period(text, "weekly", first, first + timedelta(days=7))
        if m := _MONTH.fullmatch(text):
            first = date(int(m[1]), int(m[2]), 1)
            return Period(text, "monthly", first, _next_month(first))
    except (OverflowError, ValueError):     # no such day, or one after 9999-12-31 (9999-W52)
        pass
    raise InvalidInput("period must be a week (2026-W48), a month (2026-11) or a quarter "
                       "(2026-Q4)", field="period")


def containing(kind: str, day: date) -> Period:
    """The period of `kind` that holds `day`."""
    if kind == "weekly":
        year, week, _ = day.isocalendar()
        return parse(f"{year}-W{week:02d}")
    if kind == "monthly":
        return parse(f"{day:%Y-%m}")
    return _quarter(day.year, (day.month - 1) // 3 + 1)


def _quarter(year: int, quarter: int) -> Period:
    first = date(year, 3 * quarter - 2, 1)
    return Period(f"{year}-Q{quarter}", "quarterly", first,
                  _next_month(_next_month(_next_month(first))))


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def build(session: Session, period: Period, tz: str, now: datetime | None = None) -> dict:
    """The report of `period` computed now (see the module docstring)."""
    now = now or clock.now()
    start, end = period.bounds(tz)
    return {"period": period.name, "kind": period.kind, "from": start.isoformat(),
            "to": end.isoformat(), "generated_at": now.isoformat(),
            "kpis": kpis.compute(session, start, end, now=now),
            "feedback": feedback.counts(session, start, end),
            "top_skus": quality.top(session, start, end, TOP_SKUS),
            "repurchase": repurchase.rates(session, start, end, now=now)}


def store(session: Session, report: dict, by: str) -> Report:
    """Keep `report` as its period's report (replacing an earlier one of that period)."""
    row = session.scalars(select(Report).where(Report.period == report["period"])).first()
    if row is None:
        row = Report(period=report["period"], kind=report["kind"])
        session.add(row)
    row.figures, row.generated_by = report, by
    row.generated_at = clock.parse(report["generated_at"])
    session.flush()
    return row


def stored(session: Session, name: str) -> dict | None:
    row = session.scalars(select(Report).where(Report.period == parse(name).name)).first()
    return row.figures if row is not None else None


def of_period(session: Session, name: str, tz: str) -> dict:
    """The stored report of the period `name`, else the one computed now; "stored" says which.
    Raises InvalidInput (field "period") for a name that is no period."""
    period = parse(name)
    found = stored(session, period.name)
    if found is not None:
        return {**found, "stored": True}
    return {**build(session, period, tz), "stored": False}


def listed(session: Session) -> list[dict]:
    """The stored reports, newest first: {period, kind, generated_at, generated_by}."""
    return [{"period": r.period, "kind": r.kind, "generated_at": r.generated_at,
             "generated_by": r.generated_by}
            for r in session.scalars(select(Report).order_by(Report.generated_at.desc(),
                                                             Report.id.desc()))]


def generate_due(session: Session, tz: str, now: datetime | None = None) -> list[str]:
    """Store the report of each kind's last finished period that has none yet; returns the
    periods generated (the scheduler's job: safe to run as often as it likes)."""
    now = now or clock.now()
    today = now.astimezone(ZoneInfo(tz)).date()
    made = []
    for kind in KINDS:
        period = containing(kind, today).previous()
        if session.scalar(select(Report.id).where(Report.period == period.name)) is None:
            store(session, build(session, period, tz, now), "scheduler")
            made.append(period.name)
    return made
