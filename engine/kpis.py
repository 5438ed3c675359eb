"""Service KPIs over a date range, computed in SQL from service_request, human_task and audit_event.

Definitions (the range is [start, end), times in UTC):

* requests: requests opened in the range. Every request figure below is about these requests.
* first_response_hours: opened_at -> first_response_at (the first task a person completed),
  in wall-clock hours: avg and p50 (median) over the requests that have one.
* resolution_hours: opened_at -> resolved_at (the flow set an outcome), avg and p50.
* resolution_rate: requests resolved by the end of the range / requests opened in the range.
* csat: average score (1-5) and number of ratings.
* complaint_rate: complaints / requests.
* money (overall only): the ledger's refunds paid and pending, claw-backs paid and the number of
  failed payments of these requests, as decimal text ("259.00").
* tasks: `completed` = user tasks completed in the range; `completed_late` = those completed
  after the due time recorded with the completion (task_completed payload `due_at`);
  `completed_breach_rate` = completed_late / completed_with_due (tasks without an SLA are left
  out); `open`, `open_overdue`, `open_breach_rate` are a snapshot of the open tasks now.

Grouping: `by_category` splits by the request's category, `by_tier` by the service tier the
routing table gave the request (L1, L2, expert; "none" for requests routed before tiers).
`by_department` gives, per department, the task figures of its own tasks, and the request
figures of the requests it worked on (those with an open or completed task of the department). A task's department is its lane:
`human_task.department` while open, the `department` recorded with its completion after.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from engine import clock, config, money
from engine.errors import InvalidInput
from engine.models import AuditEvent, HumanTask, Ledger, ServiceRequest
from engine.money import ZERO
from engine.service_requests import CATEGORIES

SR = ServiceRequest
MAX_RANGE_DAYS = 3660


def compute(session: Session, start: datetime, end: datetime, category: str | None = None,
            department: str | None = None, now: datetime | None = None) -> dict:
    """The KPI figures overall, by category and by department (see the module docstring)."""
    kpi, where, overall_where = _scope(session, start, end, category, department, now)
    departments = (department,) if department else config.DEPARTMENTS
    overall = _overall(kpi, overall_where, category, department)
    by_category = kpi.requests(overall_where, SR.category)
    tasks_by_category = kpi.tasks(category, department, "category")
    by_department = {}
    tasks_by_department = kpi.tasks(category, department, "department")
    for dept in departments:
        figures = kpi.requests(where + [kpi.worked_on(dept)], None).get(None) or _empty_requests()
        figures["tasks"] = tasks_by_department.get(dept) or _empty_tasks()
        by_department[dept] = figures
    for name, figures in by_category.items():
        figures["tasks"] = tasks_by_category.get(name) or _empty_tasks()
    by_tier = kpi.requests(overall_where, SR.service_tier)
    tasks_by_tier = kpi.tasks(category, department, "tier")
    for name, figures in by_tier.items():
        figures["tasks"] = tasks_by_tier.get(name) or _empty_tasks()
    overall["money"] = _money(session, overall_where)
    return {"from": start.isoformat(), "to": end.isoformat(),
            "filters": {"category": category, "department": department},
            "overall": overall, "by_category": dict(sorted(by_category.items())),
            "by_department": by_department,
            "by_tier": {name or "none": by_tier[name] for name in sorted(by_tier, key=str)}}


def overall(session: Session, start: datetime, end: datetime, category: str | None = None,
            department: str | None = None, now: datetime | None = None) -> dict:
    """compute()'s "overall" figures (requests and tasks, without money) alone: what each
    bucket of the dashboard's trend needs, without the breakdowns by category, department and
    tier."""
    kpi, _where, overall_where = _scope(session, start, end, category, department, now)
    return _overall(kpi, overall_where, category, department)


def _scope(session, start, end, category, department, now):
    """(the range's _Kpi, the requests' conditions, those of the overall figures); raises
    InvalidInput naming an unknown category or department."""
    if category is not None and category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    if department is not None and department not in config.DEPARTMENTS:
        raise InvalidInput(f"department must be one of {', '.join(config.DEPARTMENTS)}",
                           field="department")
    kpi = _Kpi(session, start, end, now or clock.now())
    where = [SR.opened_at >= start, SR.opened_at < end]
    if category is not None:
        where.append(SR.category == category)
    return kpi, where, where + ([kpi.worked_on(department)] if department else [])


def _overall(kpi, overall_where, category, department) -> dict:
    figures = kpi.requests(overall_where, None).get(None) or _empty_requests()
    figures["tasks"] = kpi.tasks(category, department, None).get(None) or _empty_tasks()
    return figures


def _money(session: Session, request_where: list) -> dict:
    """What the ledger holds for the requests: paid and pending refunds, claw-backs collected,
    failed payments. Only the ledger says "paid" (engine/payments.py)."""
    figures = {"refunds_paid": ZERO, "refunds_pending": ZERO, "clawbacks_paid": ZERO}
    failed = 0
    numbers = select(SR.number).where(*request_where)
    for kind, status, total, count in session.execute(
            select(Ledger.kind, Ledger.status, func.sum(Ledger.amount), func.count())
            .where(Ledger.request_no.in_(numbers)).group_by(Ledger.kind, Ledger.status)):
        name = f"{kind}s_{status}"
        if name in figures:
            figures[name] += Decimal(total)
        failed += count if status == "failed" else 0
    return {**{k: money.text(v) for k, v in figures.items()}, "payments_failed": failed}


class _Kpi:
    def __init__(self, session, start, end, now):
        self.session, self.start, self.end, self.now = session, start, end, now
        self.dialect = session.get_bind().dialect.name

    def hours(self, a, b):
        if self.dialect == "postgresql":
            return func.extract("epoch", b - a) / 3600.0
        return (func.julianday(b) - func.julianday(a)) * 24.0

    def worked_on(self, department: str):
        """Requests with an open or completed task of `department`."""
        completed = exists().where(AuditEvent.instance_id == SR.instance_id,
                                   AuditEvent.kind == "task_completed",
                                   _recorded(AuditEvent, "department") == department)
        open_ = exists().where(HumanTask.business_key == SR.number,
                               HumanTask.department == department)
        return or_(completed, open_)

    def late(self):
        """Was the completion recorded after the task's due time (NULL: no due time)?"""
        due = _recorded(AuditEvent, "due_at")
        if self.dialect == "postgresql":
            return AuditEvent.at > cast(due, DateTime(timezone=True))
        return func.julianday(AuditEvent.at) > func.julianday(due)

    def requests(self, where: list, group) -> dict:
        key = group if group is not None else literal(None)
        first = self.hours(SR.opened_at, SR.first_response_at)
        resolve = self.hours(SR.opened_at, SR.resolved_at)
        rows = self.session.execute(
            select(key.label("g"), func.count(), func.sum(case((SR.type == "complaint", 1), else_=0)),
                   func.sum(case((and_(SR.resolved_at.is_not(None), SR.resolved_at < self.end), 1),
                                 else_=0)),
                   func.avg(first), func.count(SR.first_response_at), func.avg(resolve),
                   func.count(SR.resolved_at), func.avg(SR.csat), func.count(SR.csat))
            .where(*where).group_by(key))
        result = {}
        for g, n, complaints, resolved, avg_first, n_first, avg_res, n_res, csat, n_csat in rows:
            result[g] = {
                "requests": n,
                "first_response_hours": {"avg": _round(avg_first), "p50": None, "count": n_first},
                "resolution_hours": {"avg": _round(avg_res), "p50": None, "count": n_res},
                "resolution_rate": _ratio(resolved, n),
                "csat": {"avg": _round(csat), "count": n_csat},
                "complaint_rate": _ratio(complaints, n),
            }
        for name, duration, column in (("first_response_hours", first, SR.first_response_at),
                                       ("resolution_hours", resolve, SR.resolved_at)):
            for g, median in self.medians(duration, where + [column.is_not(None)], key).items():
                if g in result:
                    result[g][name]["p50"] = _round(median)
        return result

    def medians(self, value, where: list, key) -> dict:
        """The median of `value` per group, with window functions (SQLite >= 3.25, PostgreSQL)."""
        ranked = select(key.label("g"), value.label("v"),
                        func.row_number().over(partition_by=key, order_by=value).label("rn"),
                        func.count().over(partition_by=key).label("n")).where(*where).subquery()
        rows = self.session.execute(select(ranked.c.g, ranked.c.v).where(
            ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])))
        middle: dict = {}
        for g, v in rows:
            middle.setdefault(g, []).append(v)
        return {g: sum(vs) / len(vs) for g, vs in middle.items()}

    def tasks(self, category, department, group) -> dict:
        """Task figures per group (None, 'category', 'tier' or 'department')."""
        result: dict = {}
        open_key = {None: literal(None), "category": SR.category, "tier": SR.service_tier,
                    "department": HumanTask.department}[group]
        query = (select(open_key.label("g"), func.count(),
                        func.sum(case((HumanTask.due_at <= self.now, 1), else_=0)))
                 .select_from(HumanTask))
        if category is not None or group in ("category", "tier"):
            query = query.join(SR, SR.number == HumanTask.business_key)
        if category is not None:
            query = query.where(SR.category == category)
        if department is not None:
            query = query.where(HumanTask.department == department)
        for g, n, overdue in self.session.execute(query.group_by(open_key)):
            figures = result.setdefault(g, _empty_tasks())
            figures.update(open=n, open_overdue=overdue or 0, open_breach_rate=_ratio(overdue, n))
        due = _recorded(AuditEvent, "due_at")
        done_key = {None: literal(None), "category": SR.category, "tier": SR.service_tier,
                    "department": _recorded(AuditEvent, "department")}[group]
        query = (select(done_key.label("g"), func.count(), func.count(due),
                        func.sum(case((and_(due.is_not(None), self.late()), 1), else_=0)))
                 .where(AuditEvent.kind == "task_completed", AuditEvent.at >= self.start,
                        AuditEvent.at < self.end))
        if category is not None or group in ("category", "tier"):
            query = query.join(SR, SR.instance_id == AuditEvent.instance_id)
        if category is not None:
            query = query.where(SR.category == category)
        if department is not None:
            query = query.where(_recorded(AuditEvent, "department") == department)
        for g, n, with_due, n_late in self.session.execute(query.group_by(done_key)):
            figures = result.setdefault(g, _empty_tasks())
            figures["completed"] += n
            figures["completed_with_due"] += with_due
            figures["completed_late"] += n_late or 0
        for figures in result.values():
            figures["completed_breach_rate"] = _ratio(figures["completed_late"],
                                                      figures["completed_with_due"])
        return result


def _recorded(event, name: str):
    """A text fact recorded in an event's payload (NULL when absent or null)."""
    return event.payload[name].as_string()


def _empty_requests() -> dict:
    return {"requests": 0, "first_response_hours": {"avg": None, "p50": None, "count": 0},
            "resolution_hours": {"avg": None, "p50": None, "count": 0}, "resolution_rate": None,
            "csat": {"avg": None, "count": 0}, "complaint_rate": None}


def _empty_tasks() -> dict:
    return {"completed": 0, "completed_with_due": 0, "completed_late": 0,
            "completed_breach_rate": None, "open": 0, "open_overdue": 0, "open_breach_rate": None}


def _ratio(part, whole) -> float | None:
    return round((part or 0) / whole, 4) if whole else None


def _round(value) -> float | None:
    return round(float(value), 2) if value is not None else None
