"""Complaint-surge alert: too many complaints of one category in a sliding window.

The baseline of a category is its average number of complaints per window over the previous
seven days. When the current window holds at least `surge_multiple` times that (and at least
`surge_min_count` complaints), one alert opens and an `surge_alert` process gives operations a
task. The alert stays open (no new ones for that category) until the rate falls back under the
threshold, so a surge raises one alert, not one per complaint.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.access import SYSTEM
from engine.models import Alert, ServiceRequest

ALERT_PROCESS = "surge_alert"
BASELINE_DAYS = 7


def rates(session: Session, now: datetime, window: timedelta) -> dict[str, tuple[int, float]]:
    """category -> (complaints in the current window, baseline per window)."""
    since = now - window
    base_from = since - timedelta(days=BASELINE_DAYS)
    current = dict(session.execute(
        select(ServiceRequest.category, func.count()).where(
            ServiceRequest.type == "complaint", ServiceRequest.opened_at > since,
            ServiceRequest.opened_at <= now).group_by(ServiceRequest.category)).all())
    history = dict(session.execute(
        select(ServiceRequest.category, func.count()).where(
            ServiceRequest.type == "complaint", ServiceRequest.opened_at > base_from,
            ServiceRequest.opened_at <= since).group_by(ServiceRequest.category)).all())
    windows = timedelta(days=BASELINE_DAYS) / window
    return {category: (current.get(category, 0), history.get(category, 0) / windows)
            for category in set(current) | set(history)}


def check(session: Session, runtime, now: datetime) -> list[str]:
    """Open alerts for surging categories, close calmed ones; returns categories newly alerted."""
    settings = runtime.settings
    window = timedelta(minutes=settings.surge_window_minutes)
    opened = []
    open_alerts = {a.key: a for a in session.scalars(
        select(Alert).where(Alert.kind == "complaint_surge", Alert.closed_at.is_(None)))}
    for category, (count, baseline) in sorted(rates(session, now, window).items()):
        threshold = max(settings.surge_min_count, settings.surge_multiple * baseline)
        surging = count >= threshold
        alert = open_alerts.get(category)
        if surging and alert is None:
            alert = Alert(kind="complaint_surge", key=category, opened_at=now, count=count,
                          details={"count": count, "baseline": round(baseline, 2),
                                   "threshold": round(threshold, 2)})
            session.add(alert)
            session.flush()
            runtime.start(session, ALERT_PROCESS, {
                "request_no": f"ALERT-{alert.id}", "category": category, "count": count,
                "baseline": round(baseline, 2), "priority": 1}, SYSTEM,
                business_key=f"ALERT-{alert.id}")
            opened.append(category)
        elif alert is not None and not surging:
            alert.closed_at = now
        elif alert is not None:
            alert.count = max(alert.count, count)
    session.flush()
    return opened
