"""Time spent in each BPMN element, for the dashboard's heatmap on the diagram.

Every element holding a token (a READY user task, a waiting timer or message catch) accrues the
time it held it; an unfinished instance's open tokens accrue until now. The stretches are the
element spans the write-back keeps with the projection (engine.models.ElementSpan), read with
one query for every instance of the range. Instances written before spans existed have none:
their histories are replayed by engine.history.replay instead (the most recent SAMPLE of them,
cached per instance and number of events, so a history is replayed again only when it grew).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy import select

from engine.history import replay
from engine.models import FINISHED, ElementSpan, Instance

SAMPLE = 40          # most recent instances without spans replayed per heatmap
MOST = 5000          # most recent instances of the range counted


def element_hours(db, runtime, process_key: str, start: datetime, end: datetime,
                  now: datetime) -> tuple[dict[str, float], dict[str, int], int]:
    """(average hours per visit by element, visits by element, instances counted) for the
    instances of `process_key` started in [start, end)."""
    rows = db.execute(select(Instance.id, Instance.audit_seq, Instance.status)
                      .where(Instance.process_key == process_key, Instance.created_at >= start,
                             Instance.created_at < end)
                      .order_by(Instance.id.desc()).limit(MOST)).all()
    status = {instance_id: state for instance_id, _, state in rows}
    spans_of: dict[int, list] = defaultdict(list)
    for instance_id, element, began, ended in db.execute(
            select(ElementSpan.instance_id, ElementSpan.bpmn_id, ElementSpan.started_at,
                   ElementSpan.ended_at).where(ElementSpan.instance_id.in_(list(status)))):
        spans_of[instance_id].append((element, began, ended))
    unspanned = [(i, seq) for i, seq, _ in rows if i not in spans_of and seq][:SAMPLE]
    for instance_id, seq in unspanned:
        spans_of[instance_id] = [(element, datetime.fromisoformat(began),
                                  datetime.fromisoformat(ended) if ended else None)
                                 for element, began, ended in _spans(db, runtime, instance_id, seq)]
    total: dict[str, float] = defaultdict(float)
    visits: dict[str, int] = defaultdict(int)
    for instance_id, spans in spans_of.items():
        for element, began, ended in spans:
            ended = ended or (None if status[instance_id] in FINISHED else now)
            if ended is None:
                continue
            total[element] += (ended - began).total_seconds() / 3600
            visits[element] += 1
    average = {element: total[element] / visits[element] for element in total}
    counted = len([i for i in status if i in spans_of])
    return average, dict(visits), counted


def _spans(db, runtime, instance_id: int, seq: int) -> tuple:
    cache = _CACHES.setdefault(runtime, {})     # one runtime per app, hence per database
    hit = cache.get((instance_id, seq))
    if hit is None:
        hit = cache[(instance_id, seq)] = _replay_spans(db, runtime, instance_id)
        if len(cache) > CACHE_SIZE:
            cache.pop(next(iter(cache)))
    return hit


CACHE_SIZE = 4096
_CACHES: WeakKeyDictionary = WeakKeyDictionary()


def _replay_spans(db, runtime, instance_id: int) -> tuple:
    """(element, began at, ended at or None) for every stretch an element held a token."""
    result = replay.verify(db, instance_id, runtime.script_engine, keep_steps=True)
    spans, open_since = [], {}
    for step in result.steps:
        holding = set(step.ready) | set(step.waiting)
        for element in list(open_since):
            if element not in holding:
                spans.append((element, open_since.pop(element), step.at))
        for element in holding:
            open_since.setdefault(element, step.at)
    spans += [(element, began, None) for element, began in open_since.items()]
    return tuple(spans)
