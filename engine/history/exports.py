"""Exports of the record: one instance's full record (its row, its audit chain, the
definitions it ran on), and audit events as CSV for spreadsheets.

The record's shape is shared with the archives (engine/history/archive.py), which hold the same
records for many instances. Every CSV of audit events, in the API, the pages and the command
line, comes from `events_csv`: text cells a spreadsheet would run as a formula are defused.
Every export is an audited action (`record_export`).
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import InvalidInput, NotFound
from engine.history import audit, global_log
from engine.models import AuditEvent, Definition, Instance

INSTANCE_FORMAT = "aftersales-instance/1"
INSTANCE_FIELDS = ("id", "definition_id", "process_key", "business_key", "status", "state",
                   "serializer_version", "version", "audit_seq", "audit_head", "error",
                   "error_task_id", "created_at", "updated_at", "completed_at")
EVENT_FIELDS = ("instance_id", "seq", "at", "actor", "kind", "element", "task_id", "payload",
                "state_hash", "prev_hash", "hash")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def instance_record(session: Session, instance_id: int) -> dict:
    """The record of one instance: its definition (reference and sha256), its row, its events.

    `definitions` lists every definition its history ran on (more than one after a migration).
    Raises NotFound.
    """
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
    events = audit.events(session, instance_id)
    used = definition_ids(instance, events)
    rows = {row.id: row for row in session.scalars(select(Definition).where(Definition.id.in_(used)))}
    return {"format": INSTANCE_FORMAT,
            "definition": definition_ref(rows[instance.definition_id]),
            "definitions": [definition_ref(rows[i]) for i in used if i in rows],
            "instance": record(instance, INSTANCE_FIELDS),
            "events": [record(e, EVENT_FIELDS) for e in events]}


def record_export(session: Session, actor: str | None, what: str, **details) -> None:
    """Record in the global audit log that `actor` exported `what` (e.g. "instance 7 json",
    "events 2026-11-01..2026-12-01"), with the instances it held in `details`."""
    global_log.record(session, "export", actor=actor, subject=what[:200], payload=details)


def events_csv(session: Session, instance_ids=None, *, start: datetime | None = None,
                      end: datetime | None = None) -> str:
    """Audit events as CSV: of the given instances, or recorded in [start, end), or both.

    Text cells that a spreadsheet would run as a formula (=, +, -, @) get a leading apostrophe.
    Raises InvalidInput when neither instances nor a time range is given.
    """
    if instance_ids is None and start is None and end is None:
        raise InvalidInput("give instance ids or a time range", field="instance_ids")
    query = (select(AuditEvent, Instance.business_key)
             .join(Instance, Instance.id == AuditEvent.instance_id, isouter=True))
    if instance_ids is not None:
        query = query.where(AuditEvent.instance_id.in_(list(instance_ids)))
    if start is not None:
        query = query.where(AuditEvent.at >= start)
    if end is not None:
        query = query.where(AuditEvent.at < end)
    query = query.order_by(AuditEvent.at, AuditEvent.instance_id, AuditEvent.seq)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["instance_id", "business_key", *EVENT_FIELDS[1:]])
    for event, business_key in session.execute(query):
        row = record(event, EVENT_FIELDS)
        row["payload"] = json.dumps(row["payload"], sort_keys=True, ensure_ascii=False,
                                    separators=(",", ":"), default=str)   # Decimals as text
        writer.writerow([cell(v) for v in (event.instance_id, business_key,
                                             *(row[f] for f in EVENT_FIELDS[1:]))])
    return out.getvalue()


def definition_ids(instance, events) -> list[int]:
    """Every definition an instance's history ran on (more than one after a migration)."""
    used = {instance.definition_id}
    for event in events:
        for key in ("definition_id", "from_definition_id", "to_definition_id"):
            if event.kind in ("started", "migrated") and isinstance(event.payload.get(key), int):
                used.add(event.payload[key])
    return sorted(used)


def definition_ref(row: Definition) -> dict:
    return {"id": row.id, "process_key": row.process_key, "version": row.version,
            "sha256": row.sha256}


def record(obj, fields) -> dict:
    """The named fields of a row, times as ISO-8601 text."""
    out = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def cell(value):
    """A CSV cell: text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value
