"""Auditor pages (read-only): find an instance, read its history as a timeline, replay it step
by step on the diagram (tokens and data after each event, from engine.history.replay), see
whether the record verifies and which signed checkpoint of the global log covers it
(engine.history.coverage), and export the history as JSON or CSV (engine.history.exports; each
export is an audited action)."""
from __future__ import annotations

import json

from flask import Response, render_template, request

from engine import access, instances
from engine.definitions import catalog
from engine.errors import NotFound
from engine.history import coverage, exports
from web.pages import bp, context, diagram

PAGE_SIZE = 50


@bp.get("/audit")
@context.roles_required(*access.AUDITORS)
def audit_index():
    q = request.args.get("q", "").strip()
    page = max(1, request.args.get("page", 1, type=int))
    top = coverage.head(context.settings())
    with context.transaction() as db:
        rows, total = instances.search(db, q, page=page, per_page=PAGE_SIZE)
        covered = coverage.covered(db, top.checkpoint.size if top.checkpoint else 0,
                                   [r["id"] for r in rows])
    return render_template("audit_index.html", rows=rows, q=q, page=page, total=total,
                           pages=max(1, -(-total // PAGE_SIZE)), head=top, covered=covered)


@bp.get("/audit/instances/<id:instance_id>")
@context.roles_required(*access.AUDITORS)
def audit_instance(instance_id):
    with context.transaction() as db:
        instance, events, result = instances.audited(db, context.runtime().script_engine,
                                                     context.actor(), instance_id,
                                                     keep_steps=True)
        definition = catalog.show(db, instance["definition_id"])
        number = instances.request_number(db, instance_id)
        trail = coverage.instance(db, context.settings(), instance_id)
    steps = [{"seq": s.seq, "at": s.at, "actor": s.actor, "kind": s.kind, "element": s.element,
              "data": s.data, **frame}
             for s, frame in zip(result.steps, diagram.frames(definition["sources"], result.steps))]
    last = steps[-1] if steps else {"marks": {}, "file": None}
    view = diagram.view(definition, last["marks"])
    view["initial"] = last["file"] or view["initial"]
    return render_template("audit_instance.html", instance=instance, number=number,
                           events=events, result=result, steps=steps, diagram_view=view,
                           names=diagram.element_names(definition["sources"]),
                           migrated=any(e["kind"] == "migrated" for e in events),
                           trail=trail)


@bp.get("/audit/instances/<id:instance_id>/history.<fmt>")
@context.roles_required(*access.AUDITORS)
def audit_export(instance_id, fmt):
    if fmt not in ("json", "csv"):
        raise NotFound(f"no export format '{fmt}'")
    with context.transaction() as db:
        if fmt == "json":
            instance, events, result = instances.audited(db, context.runtime().script_engine,
                                                         context.actor(), instance_id)
        else:
            instance = instances.get(db, context.actor(), instance_id)
            text = exports.events_csv(db, [instance_id])
    with context.transaction(write=True) as db:       # the read above may not write
        exports.record_export(db, context.actor().name, f"instance {instance_id} {fmt}",
                              instances=[instance_id])
    name = f"{instance['business_key']}-history.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "json":
        body = {"instance": instance, "events": events,
                "verify": {"ok": result.ok, "divergence": result.divergence}}
        return Response(json.dumps(body, ensure_ascii=False, indent=2, default=str),
                        mimetype="application/json", headers=headers)
    # A byte-order mark so that spreadsheet programs read the Chinese text as UTF-8.
    return Response("\ufeff" + text, mimetype="text/csv", headers=headers)
