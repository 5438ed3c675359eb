"""What the dashboard shows of customers' feedback over a range: the classes bucket by bucket and
by category, the period's most frequent words for the word cloud, and the complaint-surge
alerts with whether operations has taken them up.

The words are jieba's (engine/feedback_classifier.Classifier.terms, the classifier's own
reading), counted over the range's texts, newest first up to MAX_TEXTS; a word is shown only
if it has two characters at least or is an English word, since single Chinese characters say
little. A surge alert is `open` until its rate calms (engine/jobs/surge.py) and is
`acknowledged` once someone claimed or completed its operations task.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import feedback, feedback_classifier, feedback_taxonomy
from engine.jobs.surge import ALERT_PROCESS
from engine.models import Alert, AuditEvent, Feedback, FeedbackClass, HumanTask, Instance

MAX_TEXTS = 5000
MAX_TERMS = 80
BUCKETS = 8


def figures(session: Session, bpmn_dir: Path, start: datetime, end: datetime) -> dict:
    """{"counts": feedback.counts, "trend": {"labels", "series": {class: [n per bucket]}},
    "terms": [[word, n]...], "alerts": [...]} for [start, end)."""
    return {"counts": feedback.counts(session, start, end),
            "trend": trend(session, start, end),
            "terms": terms(session, bpmn_dir, start, end),
            "alerts": surge_alerts(session, start, end)}


def trend(session: Session, start: datetime, end: datetime, buckets: int = BUCKETS) -> dict:
    """How often each class was given in each of `buckets` equal slices of the range."""
    step = (end - start) / buckets
    series: dict[str, list[int]] = {}
    for at, name in session.execute(
            select(Feedback.at, FeedbackClass.name)
            .join(FeedbackClass, FeedbackClass.feedback_id == Feedback.id)
            .where(Feedback.at >= start, Feedback.at < end)):
        slot = min(int((at - start) / step), buckets - 1)
        series.setdefault(name, [0] * buckets)[slot] += 1
    return {"labels": [(start + step * n).isoformat() for n in range(buckets)],
            "series": dict(sorted(series.items(), key=lambda item: -sum(item[1])))}


def terms(session: Session, bpmn_dir: Path, start: datetime, end: datetime,
          limit: int = MAX_TERMS) -> list[list]:
    """The range's most frequent words, [[word, count], ...], most frequent first."""
    texts = list(session.scalars(select(Feedback.text).where(
        Feedback.at >= start, Feedback.at < end).order_by(Feedback.at.desc()).limit(MAX_TEXTS)))
    if not texts:
        return []
    source, _ = feedback_taxonomy.in_force(session, bpmn_dir)
    classifier = feedback_classifier.for_taxonomy(source, feedback_taxonomy.digest(source),
                                                  bpmn_dir)
    counted = Counter(word for text in texts for word in set(classifier.terms(text))
                      if len(word) >= 2 or word.isascii())
    return [[word, n] for word, n in sorted(counted.items(), key=lambda i: (-i[1], i[0]))[:limit]]


def surge_alerts(session: Session, start: datetime, end: datetime) -> list[dict]:
    """The complaint-surge alerts opened in the range, newest first: {id, category, count,
    baseline, opened_at, closed_at, open, acknowledged, by}."""
    alerts = list(session.scalars(select(Alert).where(
        Alert.kind == "complaint_surge", Alert.opened_at >= start, Alert.opened_at < end)
        .order_by(Alert.opened_at.desc())))
    keys = {f"ALERT-{a.id}": a for a in alerts}
    instances = dict(session.execute(select(Instance.business_key, Instance.id).where(
        Instance.process_key == ALERT_PROCESS, Instance.business_key.in_(list(keys)))).all())
    claimed = dict(session.execute(select(HumanTask.instance_id, func.max(HumanTask.claimed_by))
                                   .where(HumanTask.instance_id.in_(list(instances.values())))
                                   .group_by(HumanTask.instance_id)).all())
    completed = dict(session.execute(select(AuditEvent.instance_id, func.max(AuditEvent.actor))
                                     .where(AuditEvent.instance_id.in_(list(instances.values())),
                                            AuditEvent.kind == "task_completed")
                                     .group_by(AuditEvent.instance_id)).all())
    shown = []
    for key, alert in keys.items():
        instance_id = instances.get(key)
        by = completed.get(instance_id) or claimed.get(instance_id)
        shown.append({"id": alert.id, "category": alert.key, "count": alert.count,
                      "baseline": alert.details.get("baseline"), "opened_at": alert.opened_at,
                      "closed_at": alert.closed_at, "open": alert.closed_at is None,
                      "acknowledged": by is not None, "by": by,
                      "done": instance_id in completed})
    return shown
