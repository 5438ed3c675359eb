"""Department task lists: which open human tasks an actor sees, filtered, sorted and paged.

Reads only the `human_task` projection (one row per READY task, indexed on (department, due_at)
and (claimed_by, due_at)): a page is one count and one page query, never a workflow load. The
tier a task needs is the one the SLA watch handed it to (its row's `tier`, engine/jobs/sla.py),
else its request's (service_request.service_tier, by the unique request number): the `tier`
filter reads both, and a page's rows come with their requests' tiers joined in (`tiered`).
The SLA status of a row is computed from its own `due_at` / `at_risk_at` columns, with the same
rule as engine.business_time.BusinessCalendar.sla_status (breached once now >= due_at, at risk once
now >= at_risk_at).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, bindparam, func, or_, select, union_all
from sqlalchemy.orm import Session

from engine import clock, config, prebuilt
from engine.access import visible_departments
from engine.business_time import sla_status
from engine.errors import Forbidden, InvalidInput
from engine.models import HumanTask, ServiceRequest

T = HumanTask.__table__

MAX_PER_PAGE = 100
# Totals are counted up to here ("1,000+"): nobody pages through more, and counting the 40,000
# index entries of a busy department would cost several times the page itself.
COUNT_LIMIT = 1_000
SORTS = ("due", "priority", "age")
COLUMNS = (HumanTask.task_id, HumanTask.bpmn_id, HumanTask.name, HumanTask.business_key,
           HumanTask.process_key, HumanTask.department, HumanTask.priority, HumanTask.created_at,
           HumanTask.due_at, HumanTask.at_risk_at, HumanTask.claimed_by, HumanTask.instance_id,
           HumanTask.tier)


def tiered():
    """A select of the tasks' COLUMNS, each task's tier the one it was handed to, else its
    request's (None for a task serving no request with one, such as an escalation's)."""
    return (select(*(column for column in COLUMNS if column.key != "tier"),
                   func.coalesce(HumanTask.tier, ServiceRequest.service_tier).label("tier"))
            .outerjoin(ServiceRequest, ServiceRequest.number == HumanTask.business_key))


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
    tier: str | None = None              # the service tier the task's request needs


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
    branches = _branches(actor, filters)
    everything = (visible_departments(actor) is None and filters.department is None
                  and filters.assignee in (None, "unassigned"))
    shown = _shown_filters(filters)
    count, rows = _statements(sort, tuple(kind for kind, _ in branches), shown, everything)
    params = {"now": now, "cap": count_limit, "depth": page * per_page, "per_page": per_page,
              "skip": (page - 1) * per_page}
    for i, (kind, value) in enumerate(branches):
        params[f"b{i}"], params[f"d{i}"] = value if isinstance(value, tuple) else (value, ())
    params.update((name, getattr(filters, name)) for name, mode in shown if mode is None
                  and name != "unassigned")
    total = min(prebuilt.read(session, count, params).scalar(), count_limit)
    return [row_dict(row, now) for row in prebuilt.read(session, rows, params)], total


@lru_cache(maxsize=512)
def _statements(sort: str, kinds: tuple, shown: tuple, everything: bool):
    """(count, page) statements for one shape of query, with bound parameters for the values:
    built once per shape, so a request pays only for executing them."""
    branches = [_branch(kind, i) for i, kind in enumerate(kinds)]
    common = _conditions(shown)
    if everything and not common:     # SQLite and PostgreSQL count a whole table cheaply
        count = select(func.count()).select_from(T)
    else:   # each branch a covering-index range, read up to the cap: no OR, no full count
        capped = [select(T.c.id).where(b, *common).limit(bindparam("cap")) for b in branches]
        matches = (capped[0] if len(capped) == 1 else
                   union_all(*[select(part.subquery()) for part in capped])).subquery()
        count = select(func.count()).select_from(matches)
    if sort == "due":
        return count, _page_query(branches, common)
    visible = [] if everything else [or_(*branches)]
    # No index serves these orders: one sort of the visible rows.
    page_ids = (select(T.c.id).where(*visible, *common).order_by(*_order(sort, T.c))
                .limit(bindparam("per_page")).offset(bindparam("skip")).subquery())
    return count, tiered().join(page_ids, T.c.id == page_ids.c.id).order_by(*_order(sort, T.c))


def _page_query(branches: list, common: list):
    """The page's rows: the union of each branch's first `depth` (= page * per_page) ids in
    due order, sorted and cut, joined back to the rows.

    Each branch is one equality on an indexed column ((department, due_at) or
    (claimed_by, due_at)), so every part is an ordered scan of a covering index that stops after
    `depth` entries, whatever the number of open tasks.
    """
    depth = bindparam("depth")
    parts = []
    for branch in branches:
        parts.append(select(T.c.id, T.c.due_at).where(branch, T.c.due_at.is_not(None), *common)
                     .order_by(T.c.due_at, T.c.id).limit(depth))
        parts.append(select(T.c.id, T.c.due_at).where(branch, T.c.due_at.is_(None), *common)
                     .order_by(T.c.id).limit(depth))
    # SQLite wants a LIMIT inside a compound select wrapped in its own subquery.
    merged = union_all(*[select(part.subquery()) for part in parts]).subquery()
    page_ids = (select(merged.c.id).order_by(*_order("due", merged.c))
                .limit(bindparam("per_page")).offset(bindparam("skip")).subquery())
    return tiered().join(page_ids, T.c.id == page_ids.c.id).order_by(*_order("due", T.c))


def _branches(actor, f: Filters) -> list[tuple[str, object]]:
    """Disjoint (kind, value) conditions, each an equality on an indexed column, whose union is
    what `actor` may see under filters `f` (see _branch for the kinds)."""
    departments = visible_departments(actor)
    if departments is not None and f.department is not None and f.department not in departments:
        raise Forbidden(f"{actor.name} may not see the tasks of {f.department}")
    if f.assignee not in (None, "unassigned"):
        name = actor.name if f.assignee == "me" else f.assignee
        if departments is None or name == actor.name:
            return [("claimed", name)]
        return [("claimed_in", (name, departments))]
    if f.department is not None:
        return [("department", f.department)]
    everything = departments is None
    departments = departments or config.DEPARTMENTS
    branches: list[tuple[str, object]] = [("department", d) for d in departments]
    if everything:
        branches.append(("no_department", None))
    elif f.assignee != "unassigned":
        branches.append(("claimed_elsewhere", (actor.name, departments)))
    return branches


def _branch(kind: str, i: int):
    value, departments = bindparam(f"b{i}"), bindparam(f"d{i}", expanding=True)
    return {"department": lambda: T.c.department == value,
            "no_department": lambda: T.c.department.is_(None),
            "claimed": lambda: T.c.claimed_by == value,
            "claimed_in": lambda: and_(T.c.claimed_by == value, T.c.department.in_(departments)),
            "claimed_elsewhere": lambda: and_(T.c.claimed_by == value, or_(
                T.c.department.is_(None), T.c.department.not_in(departments))),
            }[kind]()


def row_dict(row, now: datetime) -> dict:
    return {"task_id": row.task_id, "bpmn_id": row.bpmn_id, "name": row.name,
            "request_number": row.business_key, "process": row.process_key,
            "department": row.department, "priority": row.priority,
            "created_at": _iso(row.created_at), "due_at": _iso(row.due_at),
            "sla_status": sla_status(row.due_at, row.at_risk_at, now),
            "claimed_by": row.claimed_by, "instance_id": row.instance_id, "tier": row.tier}


def with_tiers(session: Session, rows: list[dict]) -> list[dict]:
    """`rows` (of `row_dict`), each task not handed to a tier given its request's tier (None for
    a task serving no request with one, such as an escalation's)."""
    numbers = {row["request_number"] for row in rows if row["tier"] is None}
    if numbers:
        needed = dict(prebuilt.read(session, _TIERS, {"numbers": list(numbers)}).all())
        for row in rows:
            row["tier"] = row["tier"] or needed.get(row["request_number"])
    return rows


# Asked by every task list: built once (see engine/runtime/writeback.py).
_TIERS = select(ServiceRequest.number, ServiceRequest.service_tier).where(
    ServiceRequest.number.in_(bindparam("numbers", expanding=True)))


def _shown_filters(f: Filters) -> tuple:
    """The filters in use, as a hashable shape: ((name, mode), ...)."""
    shown = []
    for name in ("overdue", "at_risk"):
        if getattr(f, name) is not None:
            shown.append((name, getattr(f, name)))
    for name in ("priority", "process", "created_from", "created_to", "due_from", "due_to",
                 "tier"):
        if getattr(f, name) is not None:
            shown.append((name, None))
    if f.assignee == "unassigned":
        shown.append(("unassigned", None))
    return tuple(shown)


def _conditions(shown: tuple) -> list:
    """Conditions every branch shares (all but visibility, department and assignee)."""
    now = bindparam("now", type_=T.c.due_at.type)
    where = []
    for name, mode in shown:
        value = bindparam(name, type_=T.c.due_at.type if name.endswith(("_from", "_to")) else None)
        if name == "unassigned":
            where.append(T.c.claimed_by.is_(None))
        elif name == "overdue":
            where.append(T.c.due_at <= now if mode else or_(T.c.due_at.is_(None), T.c.due_at > now))
        elif name == "at_risk":
            where.append(and_(T.c.at_risk_at <= now, T.c.due_at > now) if mode else
                         or_(T.c.at_risk_at.is_(None), T.c.at_risk_at > now, T.c.due_at <= now))
        elif name == "priority":
            where.append(T.c.priority == value)
        elif name == "process":
            where.append(T.c.process_key == value)
        elif name == "tier":    # the task's, else its request's (an escalation's key differs)
            where.append(or_(T.c.tier == value, and_(T.c.tier.is_(None), T.c.business_key.in_(
                select(ServiceRequest.number).where(ServiceRequest.service_tier == value)))))
        else:
            column = T.c.created_at if name.startswith("created") else T.c.due_at
            where.append(column >= value if name.endswith("_from") else column < value)
    return where


def _order(sort: str, c) -> list:
    """Sort keys on `c` (the table or a subquery's columns): due dates first, nulls last."""
    due = [c.due_at.is_(None), c.due_at]
    if sort == "priority":
        return [c.priority, *due, c.id]
    if sort == "age":
        return [c.created_at, c.id]
    return [*due, c.id]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
