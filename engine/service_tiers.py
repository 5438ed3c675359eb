"""Service tiers (一线 L1, 二线 L2, 专家 expert): the tier of each staff member, set by admins.

The routing table gives each request the tier it needs (bpmn/routing.dmn, output service_tier:
L2 for VIPs and large amounts, expert for 3C repairs; engine.service_requests.sync keeps it on
the request), the KPIs count by it (engine.kpis, `by_tier`) and so do the reports. A staff
member without a row is L1.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, users
from engine.access import STAFF_ROLES
from engine.errors import InvalidInput, NotFound
from engine.models import StaffTier
from engine.service_requests import SERVICE_TIERS

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


def listed(session: Session) -> list[dict]:
    """Every staff member with a tier set, by tier then name: {username, tier, updated_by,
    updated_at}."""
    order = {tier: n for n, tier in enumerate(SERVICE_TIERS)}
    rows = sorted(session.scalars(select(StaffTier)),
                  key=lambda r: (order.get(r.tier, len(order)), r.username))
    return [{"username": r.username, "tier": r.tier, "updated_by": r.updated_by,
             "updated_at": r.updated_at} for r in rows]
