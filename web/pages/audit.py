"""Auditor pages (read-only): find an instance, read its history as a timeline, replay it step
by step on the diagram (tokens and data after each event, from engine.history.replay), see whether the
record verifies, and export the history as JSON or CSV."""
from __future__ import annotations

import csv
import io
import json

from flask import Response, render_template, request
from sqlalchemy import func, or_, select

from engine.errors import NotFound
from engine.history import audit, replay
from engine.models import Definition, Instance, ServiceRequest
from web.api.instances import event_json, instance_json
from web.pages import bp, context, diagram

READERS = ("auditor",)
PAGE_SIZE = 50
CSV_COLUMNS = ("seq", "at", "actor", "kind", "element", "task_id", "payload", "state_hash",
               "prev_hash", "hash")


@bp.get("/audit")
@context.roles_required(*READERS)
def audit_index():
    q = request.args.get("q", "").strip()
    page = max(1, request.args.get("page", 1, type=int))
    query = select(Instance)
    if q:
        query = query.where(or_(Instance.business_key.contains(q),
                                Instance.id == (int(q) if q.isdigit() else -1)))
    with context.transaction() as db:
        total = db.scalar(select(func.count()).select_from(query.subquery()))
        rows = list(db.scalars(query.order_by(Instance.id.desc())
                               .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return render_template("audit_index.html", rows=rows, q=q, page=page, total=total,
                           pages=max(1, -(-total // PAGE_SIZE)))


@bp.get("/audit/instances/<int:instance_id>")
@context.roles_required(*READERS)
def audit_instance(instance_id):
    with context.transaction() as db:
        instance = _instance(db, instance_id)
        events = audit.events(db, instance_id)
        result = replay.verify(db, instance_id, context.runtime().script_engine, keep_steps=True,
                               events=events, instance=instance)
        definition = db.get(Definition, instance.definition_id)
        number = db.scalar(select(ServiceRequest.number).where(
            ServiceRequest.instance_id == instance_id))
    steps = [{"seq": s.seq, "at": s.at, "actor": s.actor, "kind": s.kind, "element": s.element,
              "data": s.data, **frame}
             for s, frame in zip(result.steps, diagram.frames(definition.sources, result.steps))]
    last = steps[-1] if steps else {"marks": {}, "file": None}
    view = diagram.view(definition, last["marks"])
    view["initial"] = last["file"] or view["initial"]
    return render_template("audit_instance.html", instance=instance, number=number,
                           events=events, result=result, steps=steps, diagram_view=view,
                           names=diagram.element_names(definition.sources),
                           migrated=any(e.kind == "migrated" for e in events))


@bp.get("/audit/instances/<int:instance_id>/history.<fmt>")
@context.roles_required(*READERS)
def audit_export(instance_id, fmt):
    if fmt not in ("json", "csv"):
        raise NotFound(f"no export format '{fmt}'")
    with context.transaction() as db:
        instance = _instance(db, instance_id)
        events = [event_json(e) for e in audit.events(db, instance_id)]
        result = replay.verify(db, instance_id, context.runtime().script_engine)
    name = f"{instance.business_key}-history.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "json":
        body = {"instance": instance_json(instance), "events": events,
                "verify": {"ok": result.ok, "divergence": result.divergence}}
        return Response(json.dumps(body, ensure_ascii=False, indent=2, default=str),
                        mimetype="application/json", headers=headers)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow([e["at"].isoformat() if c == "at" else
                         json.dumps(e[c], ensure_ascii=False, sort_keys=True) if c == "payload"
                         else e[c] for c in CSV_COLUMNS])
    # A byte-order mark so that spreadsheet programs read the Chinese text as UTF-8.
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers=headers)


def _instance(db, instance_id: int) -> Instance:
    instance = db.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
    return instance
