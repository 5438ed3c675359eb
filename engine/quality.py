"""Quality problems per SKU: which products come back broken, so purchasing hears of them.

A request opened in a range is a quality problem of each SKU among its items when any of these
holds (each is a piece of evidence, a request counts once per SKU):
* `repair`: it is a repair request;
* `qa_failed`: a repair's quality check failed (task qa_check completed with qa_passed false);
* `inspection_failed`: the warehouse's inspection of the returned goods failed with the goods
  damaged or missing parts (inspect_goods: inspection_passed false, goods_condition damaged or
  missing_parts; opened, used or wrong goods are the customer's doing, not the product's);
* `quality_feedback`: the customer's words were classified 质量问题 (engine/feedback.py).
The problem rate of a SKU is its problem requests over its orders paid in the same range (an
order line of the SKU counts once, whatever its quantity), so a SKU sold 200 times with 12
problems has 0.06. `by_sku` gives every SKU with a problem; `top` ranks them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import AuditEvent, Feedback, FeedbackClass, ServiceRequest, ShopOrder

QUALITY_CLASS = "质量问题"
PRODUCT_CONDITIONS = ("damaged", "missing_parts")
CHECKS = ("qa_check", "inspect_goods")


@dataclass
class SkuProblems:
    """A SKU's problems in a range: the requests with the evidence of each."""

    sku: str
    name: str
    category: str
    orders: int = 0
    requests: dict[str, set[str]] = field(default_factory=dict)    # number -> evidence kinds

    @property
    def problems(self) -> int:
        return len(self.requests)

    @property
    def rate(self) -> float | None:
        return round(self.problems / self.orders, 4) if self.orders else None

    def as_dict(self) -> dict:
        return {"sku": self.sku, "name": self.name, "category": self.category,
                "orders": self.orders, "problems": self.problems, "rate": self.rate,
                "requests": {number: sorted(kinds) for number, kinds in sorted(self.requests.items())}}


def by_sku(session: Session, start: datetime, end: datetime) -> dict[str, SkuProblems]:
    """SKU -> its problems among the requests opened in [start, end) (SKUs with one at least)."""
    in_range = (ServiceRequest.opened_at >= start, ServiceRequest.opened_at < end)
    requests = session.execute(select(
        ServiceRequest.number, ServiceRequest.type, ServiceRequest.category,
        ServiceRequest.items, ServiceRequest.instance_id).where(*in_range)).all()
    evidence: dict[str, set[str]] = {r.number: ({"repair"} if r.type == "repair" else set())
                                     for r in requests}
    by_instance = {r.instance_id: r.number for r in requests if r.instance_id is not None}
    for number in session.scalars(select(Feedback.request_no).join(
            FeedbackClass, FeedbackClass.feedback_id == Feedback.id).where(
            FeedbackClass.name == QUALITY_CLASS,
            Feedback.request_id.in_(select(ServiceRequest.id).where(*in_range)))):
        evidence[number].add("quality_feedback")
    for instance_id, element, payload in session.execute(select(
            AuditEvent.instance_id, AuditEvent.element, AuditEvent.payload).where(
            AuditEvent.kind == "task_completed", AuditEvent.element.in_(CHECKS),
            AuditEvent.instance_id.in_(select(ServiceRequest.instance_id).where(*in_range)))):
        kind = _failed_check(element, (payload or {}).get("data") or {})
        if kind:
            evidence[by_instance[instance_id]].add(kind)
    skus: dict[str, SkuProblems] = {}
    for r in requests:
        if not evidence[r.number]:
            continue
        for item in r.items or []:
            found = skus.setdefault(item["sku"], SkuProblems(item["sku"], item.get("name", ""),
                                                             r.category))
            found.requests.setdefault(r.number, set()).update(evidence[r.number])
    for items in session.scalars(select(ShopOrder.items).where(
            ShopOrder.paid_at >= start, ShopOrder.paid_at < end)):
        for sku in {item["sku"] for item in items or []}:
            if sku in skus:
                skus[sku].orders += 1
    return skus


def _failed_check(element: str, data: dict) -> str | None:
    if element == "qa_check" and data.get("qa_passed") is False:
        return "qa_failed"
    if element == "inspect_goods" and data.get("inspection_passed") is False \
            and data.get("goods_condition") in PRODUCT_CONDITIONS:
        return "inspection_failed"
    return None


def top(session: Session, start: datetime, end: datetime, limit: int = 10) -> list[dict]:
    """The SKUs with the highest problem rate in [start, end) (then the most problems), as
    `SkuProblems.as_dict`; SKUs without an order in the range come after those with one."""
    ranked = sorted(by_sku(session, start, end).values(),
                    key=lambda s: (s.rate is None, -(s.rate or 0), -s.problems, s.sku))
    return [s.as_dict() for s in ranked[:limit]]
