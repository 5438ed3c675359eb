"""Service tiers (一线 L1, 二线 L2, 专家 expert): the tier of each staff member, set by admins.

The routing table gives each request the tier it needs (bpmn/routing.dmn, output service_tier:
L2 for VIPs and large amounts, expert for 3C repairs; engine.service_requests.sync keeps it on
the request), the KPIs count by it (engine.kpis, `by_tier`) and so do the reports. A staff
member without a row is L1.

The routing's tier says who should take a request: the task lists show it and filter by it
(engine.tasklist), anyone of the department may still take the task. A task whose SLA ran out
is handed up the tiers by the SLA watch (engine/jobs/sla.py: its row's `tier`); that is binding:
only staff of that tier or above, and the department's supervisors, may claim or complete it
(`check_may_take`, called by the claim and complete verbs).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, users
from engine.access import STAFF_ROLES, Actor
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.models import HumanTask, StaffTier

# The tiers, lowest first; a request needs one (bpmn/routing.dmn, service_tier), staff have one.
SERVICE_TIERS = ("L1", "L2", "expert")
DEFAULT = "L1"


def set_tier(session: Session, username: str, tier, by: str) -> dict:
    """Give staff member `username` the tier `tier`; returns {username, tier}. Raises NotFound
    for an unknown account, InvalidInput naming `tier` (or `username` for an account that is
    not staff)."""
    if tier not in SERVICE_TIERS:
        raise InvalidInput(f"tier must be one of {', '.join(SERVICE_TIERS)}", field="tier")
    account = users.find(session, username)
    if account is None:
        raise NotFound(f"user {username} does not exist", field="username")
    if account.role not in STAFF_ROLES:
        raise InvalidInput(f"{username} is not staff: only staff have a service tier",
                           field="username")
    row = session.get(StaffTier, username) or StaffTier(username=username)
    row.tier, row.updated_by, row.updated_at = tier, by, clock.now()
    session.add(row)
    session.flush()
    return {"username": username, "tier": tier}


def tier_of(session: Session, username: str) -> str:
    row = session.get(StaffTier, username)
    return row.tier if row is not None else DEFAULT


def at_least(tier: str, needed: str) -> bool:
    """Is `tier` the tier `needed` or above it (L1 < L2 < expert)?"""
    return SERVICE_TIERS.index(tier) >= SERVICE_TIERS.index(needed)


def check_may_take(session: Session, task: HumanTask, actor: Actor) -> None:
    """Refuse `actor` a task handed to a tier above theirs (see the module). Raises Forbidden
    naming both tiers."""
    if task.tier is None or actor.supervises(task.department):
        return
    theirs = tier_of(session, actor.name)
    if not at_least(theirs, task.tier):
        raise Forbidden(f"this task was handed to {task.tier} staff when its SLA ran out; "
                        f"{actor.name} is {theirs}", task_id=task.task_id,
                        instance_id=task.instance_id)


def listed(session: Session) -> list[dict]:
    """Every staff member with a tier set, by tier then name: {username, tier, updated_by,
    updated_at}."""
    order = {tier: n for n, tier in enumerate(SERVICE_TIERS)}
    rows = sorted(session.scalars(select(StaffTier)),
                  key=lambda r: (order.get(r.tier, len(order)), r.username))
    return [{"username": r.username, "tier": r.tier, "updated_by": r.updated_by,
             "updated_at": r.updated_at} for r in rows]
