"""Repurchase rate: did customers whose request was resolved order again?

For the requests resolved in a range, a customer repurchased within N days (30 and 90) when
the order feed (shop_order) holds an order of theirs paid after the resolution and at most N
days after it. A customer counts once per group, by their first resolution in the range. Only
customers whose N days have passed by `now` are counted for N (`eligible`): a resolution of
yesterday cannot have a 90-day answer yet, and counting it as "no" would bias the rate down.

Groups: overall, by the request's category and by its outcome, folded into what the customer
got: refund (refunded, with or without a claw-back), exchange, repair (repaired, returned
unrepaired, no fault found, unrepairable) and other (complaints resolved, rejections...). Each
group has the CSAT of the same requests beside it.
"""
from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.models import ServiceRequest, ShopOrder

WINDOWS = (30, 90)
OUTCOMES = ("refund", "exchange", "repair", "other")
REPAIR_OUTCOMES = frozenset({"repaired", "returned_unrepaired", "no_fault_found", "unrepairable"})


def outcome_group(outcome: str | None) -> str:
    """The kind of answer an outcome is: refund, exchange, repair or other."""
    if outcome is None:
        return "other"
    if outcome.startswith(("refunded", "clawback")):
        return "refund"
    if outcome == "exchanged":
        return "exchange"
    return "repair" if outcome in REPAIR_OUTCOMES else "other"


def rates(session: Session, start: datetime, end: datetime, now: datetime | None = None) -> dict:
    """{"overall": figures, "by_category": {category: figures}, "by_outcome": {group: figures}}
    for the requests resolved in [start, end); figures are {"customers", "csat": {avg, count},
    "30d": {eligible, repurchased, rate}, "90d": {...}}."""
    now = now or clock.now()
    resolved = session.execute(
        select(ServiceRequest.customer_id, ServiceRequest.category, ServiceRequest.outcome,
               ServiceRequest.resolved_at, ServiceRequest.csat)
        .where(ServiceRequest.resolved_at >= start, ServiceRequest.resolved_at < end)
        .order_by(ServiceRequest.resolved_at)).all()
    customers = {r.customer_id for r in resolved}
    paid: dict[str, list[datetime]] = {}
    if customers:
        for customer_id, paid_at in session.execute(
                select(ShopOrder.customer_id, ShopOrder.paid_at)
                .where(ShopOrder.customer_id.in_(select(ServiceRequest.customer_id).where(
                    ServiceRequest.resolved_at >= start, ServiceRequest.resolved_at < end)),
                    ShopOrder.paid_at > start).order_by(ShopOrder.paid_at)):
            paid.setdefault(customer_id, []).append(paid_at)
    groups: dict[tuple[str, str | None], list] = {}
    for r in resolved:
        for key in (("overall", None), ("by_category", r.category),
                    ("by_outcome", outcome_group(r.outcome))):
            groups.setdefault(key, []).append(r)
    result: dict = {"overall": _figures([], paid, now), "by_category": {},
                    "by_outcome": {group: _figures([], paid, now) for group in OUTCOMES}}
    for (section, name), rows in groups.items():
        figures = _figures(rows, paid, now)
        if section == "overall":
            result["overall"] = figures
        else:
            result[section][name] = figures
    result["by_category"] = dict(sorted(result["by_category"].items()))
    return result


def _figures(rows: list, paid: dict[str, list[datetime]], now: datetime) -> dict:
    first: dict[str, datetime] = {}
    for r in rows:      # resolved_at ascending: the first one stays
        first.setdefault(r.customer_id, r.resolved_at)
    scores = [r.csat for r in rows if r.csat is not None]
    figures = {"customers": len(first),
               "csat": {"avg": round(sum(scores) / len(scores), 2) if scores else None,
                        "count": len(scores)}}
    for days in WINDOWS:
        window = timedelta(days=days)
        eligible = [(c, at) for c, at in first.items() if at + window <= now]
        repurchased = sum(1 for c, at in eligible if _ordered_between(paid.get(c, []), at, at + window))
        figures[f"{days}d"] = {"eligible": len(eligible), "repurchased": repurchased,
                               "rate": round(repurchased / len(eligible), 4) if eligible else None}
    return figures


def _ordered_between(times: list[datetime], after: datetime, until: datetime) -> bool:
    """Is there a time in the sorted `times` with after < t <= until?"""
    i = bisect_right(times, after)
    return i < len(times) and times[i] <= until
