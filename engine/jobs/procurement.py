"""The quality watch: SKUs that keep coming back broken go to procurement (采购).

Every run looks at the last `quality_window_days` (engine.quality.by_sku: repairs, failed QA
checks, inspections that found the goods damaged or incomplete, feedback classified 质量问题,
over the SKU's orders of the window). A SKU whose problem rate reaches `quality_rate_percent`
with at least `quality_min_problems` problems gets one `quality_review` process, a task for
procurement whose data carries the evidence: each request with its problems, the classes and
words of its feedback and its photos. One per SKU and window: a `sku_quality` alert records
each review, and no new one opens for the SKU until `quality_window_days` have passed since it.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import feedback, request_photos
from engine.access import SYSTEM
from engine.models import Alert, ServiceRequest
from engine.quality import SkuProblems, by_sku

REVIEW_PROCESS = "quality_review"
ALERT_KIND = "sku_quality"
MAX_EVIDENCE = 50       # requests carried in the task's data; the count says how many there were


def check(session: Session, runtime, now: datetime) -> list[str]:
    """Open a supplier-quality review for each SKU over the threshold that has none in the
    window; returns the SKUs reviewed now, in order."""
    settings = runtime.settings
    window = timedelta(days=settings.quality_window_days)
    recent = set(session.scalars(select(Alert.key).where(
        Alert.kind == ALERT_KIND, Alert.opened_at > now - window)))
    opened = []
    for sku, problems in sorted(by_sku(session, now - window, now).items()):
        over = problems.rate is not None and problems.rate * 100 >= settings.quality_rate_percent \
            and problems.problems >= settings.quality_min_problems
        if not over or sku in recent:
            continue
        alert = Alert(kind=ALERT_KIND, key=sku, opened_at=now, count=problems.problems,
                      details={"orders": problems.orders, "problems": problems.problems,
                               "rate": problems.rate})
        session.add(alert)
        session.flush()
        number = f"QUALITY-{alert.id}"
        runtime.start(session, REVIEW_PROCESS, {
            "request_no": number, "sku": sku, "sku_name": problems.name,
            "category": problems.category, "orders": problems.orders,
            "problems": problems.problems, "problem_rate": problems.rate,
            "threshold_percent": settings.quality_rate_percent,
            "window_days": settings.quality_window_days, "priority": 2,
            "evidence": evidence(session, problems)}, SYSTEM, business_key=number)
        opened.append(sku)
    session.flush()
    return opened


def evidence(session: Session, problems: SkuProblems) -> list[dict]:
    """The requests behind a SKU's problems, newest first (at most MAX_EVIDENCE): number,
    problems, the customers' words with their classes, and the photos filed with it."""
    numbers = sorted(problems.requests, reverse=True)[:MAX_EVIDENCE]
    found = {r.number: r for r in session.scalars(select(ServiceRequest).where(
        ServiceRequest.number.in_(numbers)))}
    shown = []
    for number in numbers:
        request = found[number]
        said = feedback.of_request(session, request.id, internal=True)
        photos = request_photos.of_instance(session, request.instance_id) \
            if request.instance_id is not None else []
        shown.append({"request_no": number, "type": request.type,
                      "problems": sorted(problems.requests[number]),
                      "feedback": [{"text": f["text"], "classes": f["classes"]} for f in said],
                      "photos": [{"id": p["id"], "filename": p["filename"]} for p in photos]})
    return shown
