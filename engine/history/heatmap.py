"""Time spent in each BPMN element, for the dashboard's heatmap on the diagram.

The time is read from the audit history replayed by engine.history.replay: between two consecutive
events, every element holding a token (a READY user task, a WAITING event) accrues the time
between them; the last state accrues until now while the instance is unfinished. Replays are
cached per (instance, number of events), so a history is replayed again only when it grew.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy import select

from engine.history import replay
from engine.models import FINISHED, Instance

SAMPLE = 40          # most recent instances replayed per heatmap


def element_hours(db, runtime, process_key: str, start: datetime, end: datetime,
                  now: datetime) -> tuple[dict[str, float], dict[str, int], int]:
    """(average hours per visit by element, visits by element, instances sampled) for the
    instances of `process_key` started in [start, end)."""
    rows = db.execute(select(Instance.id, Instance.audit_seq, Instance.status)
                      .where(Instance.process_key == process_key, Instance.created_at >= start,
                             Instance.created_at < end)
                      .order_by(Instance.id.desc()).limit(SAMPLE)).all()
    total: dict[str, float] = defaultdict(float)
    visits: dict[str, int] = defaultdict(int)
    for instance_id, seq, status in rows:
        spans = _spans(db, runtime, instance_id, seq)
        for element, begin, finish in spans:
            finish = finish or (None if status in FINISHED else now.isoformat())
            if finish is None:
                continue
            hours = (datetime.fromisoformat(finish) - datetime.fromisoformat(begin)).total_seconds() / 3600
            total[element] += hours
            visits[element] += 1
    average = {element: total[element] / visits[element] for element in total}
    return average, dict(visits), len(rows)


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
