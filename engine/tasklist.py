"""Department task lists: which open human tasks an actor sees, filtered, sorted and paged.

Reads only the `human_task` projection (one row per READY task, indexed on (department, due_at)
and (claimed_by, due_at)): a page is one count and one page query, never a workflow load.
The SLA status of a row is computed from its own `due_at` / `at_risk_at` columns, with the same
rule as engine.calendar.BusinessCalendar.sla_status (breached once now >= due_at, at risk once
now >= at_risk_at).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import Session

from engine import clock, config
from engine.errors import Forbidden, InvalidInput
from engine.models import HumanTask

T = HumanTask.__table__

MAX_PER_PAGE = 100
# Totals are counted up to here: nobody pages through more, and counting 40,000 index entries
# of a busy department would cost more than the page itself.
COUNT_LIMIT = 10_000
SORTS = ("due", "priority", "age")
READ_ALL_ROLES = ("admin", "auditor", "system")
COLUMNS = (HumanTask.task_id, HumanTask.bpmn_id, HumanTask.name, HumanTask.business_key,
           HumanTask.process_key, HumanTask.department, HumanTask.priority, HumanTask.created_at,
           HumanTask.due_at, HumanTask.at_risk_at, HumanTask.claimed_by, HumanTask.instance_id)


@dataclass(frozen=True)
class Filters:
    department: str | None = None
    assignee: str | None = None          # "me", "unassigned" or a user name
    overdue: bool | None = None
    at_risk: bool | None = None
    priority: int | None = None
    process: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None


def parse_query(args: Mapping[str, str]) -> tuple[Filters, str, int, int]:
    """(filters, sort, page, per_page) from query-string values; raises InvalidInput naming the
    parameter."""
    known = set(Filters.__dataclass_fields__) | {"sort", "page", "per_page"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise InvalidInput(f"unknown parameter '{unknown[0]}'", field=unknown[0])
    values: dict = {}
    for name in ("department", "assignee", "process"):
        if args.get(name):
            values[name] = _text(args[name], name)
    if values.get("department") and values["department"] not in config.DEPARTMENTS:
        raise InvalidInput(f"department must be one of {', '.join(config.DEPARTMENTS)}",
                           field="department")
    for name in ("overdue", "at_risk"):
        if args.get(name):
            values[name] = parse_bool(args[name], name)
    if args.get("priority"):
        values["priority"] = parse_int(args["priority"], "priority", 1, 9)
    for name in ("created_from", "created_to", "due_from", "due_to"):
        if args.get(name):
            values[name] = parse_time(args[name], name)
    sort = args.get("sort") or "due"
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", field="sort")
    page = parse_int(args.get("page") or "1", "page", 1, 1_000_000)
    per_page = parse_int(args.get("per_page") or "25", "per_page", 1, MAX_PER_PAGE)
    return Filters(**values), sort, page, per_page


def list_tasks(session: Session, actor, filters: Filters = Filters(), sort: str = "due",
               page: int = 1, per_page: int = 25, now: datetime | None = None,
               count_limit: int = COUNT_LIMIT) -> tuple[list[dict], int]:
    """One page of the open tasks `actor` may see, and the number of matching tasks counted up
    to `count_limit` (a total equal to it means "at least that many").

    Raises Forbidden for an actor without a task list or a department outside their reach,
    InvalidInput for a bad sort or page size.
    """
    now = now or clock.now()
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", field="sort")
    if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
        raise InvalidInput(f"per_page must be 1 to {MAX_PER_PAGE}", field="per_page")
    common = _filters(actor, filters, now)
    branches = _branches(actor, filters)
    everything = (visible_departments(actor) is None and filters.department is None
                  and filters.assignee in (None, "unassigned"))
    # The branches' union, as one condition (nothing at all when it is the whole table).
    visible = [] if everything else [or_(*branches)]
    if everything and not common:     # SQLite and PostgreSQL count a whole table cheaply
        total = session.scalar(select(func.count()).select_from(T))
    else:   # each branch a covering-index range, read up to the limit: no OR, no full count
        capped = [select(T.c.id).where(branch, *common).limit(count_limit) for branch in branches]
        matches = (capped[0] if len(capped) == 1 else
                   union_all(*[select(part.subquery()) for part in capped])).subquery()
        total = session.scalar(select(func.count()).select_from(matches))
    total = min(total, count_limit)
    if sort == "due":
        query = _page_query(branches, common, page, per_page)
    else:   # no index serves these orders: one sort of the visible rows
        query = (select(*COLUMNS).where(*visible, *common).order_by(*_order(sort, HumanTask))
                 .limit(per_page).offset((page - 1) * per_page))
    return [row_dict(row, now) for row in session.execute(query)], total


def _page_query(branches: list, common: list, page: int, per_page: int):
    """The page's rows: the union of each branch's first `page * per_page` (id, sort keys) in
    sort order, sorted and cut, joined back to the rows.

    Each branch is one equality on an indexed column ((department, due_at) or
    (claimed_by, due_at)), so for the default sort every part is an ordered scan of a covering
    index that stops after `page * per_page` entries, whatever the number of open tasks.
    """
    depth = page * per_page
    parts = []
    for branch in branches:
        parts.append(select(T.c.id, T.c.due_at).where(branch, T.c.due_at.is_not(None), *common)
                     .order_by(T.c.due_at, T.c.id).limit(depth))
        parts.append(select(T.c.id, T.c.due_at).where(branch, T.c.due_at.is_(None), *common)
                     .order_by(T.c.id).limit(depth))
    # SQLite wants a LIMIT inside a compound select wrapped in its own subquery.
    merged = union_all(*[select(part.subquery()) for part in parts]).subquery()
    page_ids = (select(merged.c.id).order_by(*_order("due", merged.c)).limit(per_page)
                .offset(depth - per_page).subquery())
    return select(*COLUMNS).join(page_ids, HumanTask.id == page_ids.c.id).order_by(*_order("due", HumanTask))


def _branches(actor, f: Filters) -> list:
    """Disjoint conditions, each an equality on an indexed column, whose union is what `actor`
    may see under filters `f`."""
    departments = visible_departments(actor)
    if departments is not None and f.department is not None and f.department not in departments:
        raise Forbidden(f"{actor.name} may not see the tasks of {f.department}")
    if f.assignee not in (None, "unassigned"):
        name = actor.name if f.assignee == "me" else f.assignee
        mine = HumanTask.claimed_by == name
        if departments is None or name == actor.name:
            return [mine]
        return [and_(mine, HumanTask.department.in_(departments))]
    if f.department is not None:
        return [HumanTask.department == f.department]
    everything = departments is None
    departments = departments or config.DEPARTMENTS
    branches = [HumanTask.department == d for d in departments]
    if everything:
        branches.append(HumanTask.department.is_(None))
    elif f.assignee != "unassigned":
        branches.append(and_(HumanTask.claimed_by == actor.name,
                             or_(HumanTask.department.is_(None),
                                 HumanTask.department.not_in(departments))))
    return branches


def visible_departments(actor) -> tuple[str, ...] | None:
    """Departments whose tasks `actor` sees (None: all). Raises Forbidden for other roles."""
    if actor.role in READ_ALL_ROLES:
        return None
    if actor.role == "staff" and actor.department:
        return (actor.department,)
    if actor.role == "supervisor" and actor.department:
        departments = tuple(config.SUPERVISES.get(actor.department, (actor.department,)))
        return None if set(departments) >= set(config.DEPARTMENTS) else departments
    raise Forbidden(f"{actor.role} users have no task list")


def may_see(actor, department: str | None, claimed_by: str | None) -> bool:
    """May `actor` see a task of `department` claimed by `claimed_by`?"""
    try:
        departments = visible_departments(actor)
    except Forbidden:
        return False
    return departments is None or department in departments or claimed_by == actor.name


def sla_status(due_at: datetime | None, at_risk_at: datetime | None, now: datetime) -> str:
    """'breached' once now >= due_at, 'at_risk' once now >= at_risk_at, else 'on_time'."""
    if due_at is not None and now >= due_at:
        return "breached"
    if at_risk_at is not None and now >= at_risk_at:
        return "at_risk"
    return "on_time"


def row_dict(row, now: datetime) -> dict:
    return {"task_id": row.task_id, "bpmn_id": row.bpmn_id, "name": row.name,
            "request_number": row.business_key, "process": row.process_key,
            "department": row.department, "priority": row.priority,
            "created_at": _iso(row.created_at), "due_at": _iso(row.due_at),
            "sla_status": sla_status(row.due_at, row.at_risk_at, now),
            "claimed_by": row.claimed_by, "instance_id": row.instance_id}


def _filters(actor, f: Filters, now: datetime) -> list:
    """Conditions every branch shares (all but visibility, department and assignee)."""
    where = []
    if f.assignee == "unassigned":
        where.append(HumanTask.claimed_by.is_(None))
    if f.overdue is True:
        where.append(HumanTask.due_at <= now)
    elif f.overdue is False:
        where.append(or_(HumanTask.due_at.is_(None), HumanTask.due_at > now))
    if f.at_risk is True:
        where.append(and_(HumanTask.at_risk_at <= now, HumanTask.due_at > now))
    elif f.at_risk is False:
        where.append(or_(HumanTask.at_risk_at.is_(None), HumanTask.at_risk_at > now,
                         HumanTask.due_at <= now))
    if f.priority is not None:
        where.append(HumanTask.priority == f.priority)
    if f.process is not None:
        where.append(HumanTask.process_key == f.process)
    for column, low, high in ((HumanTask.created_at, f.created_from, f.created_to),
                              (HumanTask.due_at, f.due_from, f.due_to)):
        if low is not None:
            where.append(column >= low)
        if high is not None:
            where.append(column < high)
    return where


def _order(sort: str, c) -> list:
    """Sort keys on `c` (the table or a subquery's columns): due dates first, nulls last."""
    due = [c.due_at.is_(None), c.due_at]
    if sort == "priority":
        return [c.priority, *due, c.id]
    if sort == "age":
        return [c.created_at, c.id]
    return [*due, c.id]


def parse_bool(value: str, name: str) -> bool:
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true or false", field=name)


def parse_int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number", field=name) from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}", field=name)
    return number


def parse_time(value: str, name: str) -> datetime:
    try:
        text = str(value).strip().replace("Z", "+00:00")
        if "T" in text:     # a '+' of a zone offset arrives as ' ' when not URL-encoded
            text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text)
        return clock.parse(text)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO-8601 date or time", field=name) from None


def _text(value: str, name: str) -> str:
    value = str(value).strip()
    if not value or len(value) > 200:
        raise InvalidInput(f"{name} must be 1 to 200 characters", field=name)
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
