"""Exports for audits: one instance's full record (JSON) or its events (CSV), and every audit
event recorded in a time range (CSV). CSV answers are downloads (Content-Disposition). An
instance's export is read as the instance is (engine.instances.readable): a supervisor of
another department gets a 403. Every export is an audited action (who, what, which instances)."""
from __future__ import annotations

from flask import Blueprint, Response, request

from engine import access, instances
from engine.errors import InvalidInput
from engine.history import coverage, exports
from web import query
from web.api.base import actor, allow, only_args, settings, transaction

bp = Blueprint("exports", __name__)

FORMATS = ("json", "csv")


@bp.get("/instances/<id:instance_id>/export")
@allow(*access.EXPORT_READERS)
def instance_export(instance_id):
    only_args("format")
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    with transaction() as session:
        instances.readable(session, actor(), instance_id)
        if fmt == "json":
            record = exports.instance_record(session, instance_id)
        else:
            text = exports.events_csv(session, [instance_id])
    audited(f"instance {instance_id} {fmt}", [instance_id])
    return record if fmt == "json" else csv_download(text, f"instance-{instance_id}-events.csv")


@bp.get("/audit/events.csv")
@allow(*access.EXPORT_READERS)
def audit_events():
    only_args("from", "to")
    start, end = _time_arg("from"), _time_arg("to")
    if start is None and end is None:
        raise InvalidInput("give from and/or to (ISO date or time)", field="from")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("to must be after from", field="to")
    with transaction() as session:
        # Supervisors get the events of the instances they may read; auditors every event.
        ids = instances.readable_with_events_in(session, actor(), start, end)
        text = exports.events_csv(session, ids, start=start, end=end)
    audited(f"events {start or ''}..{end or ''} csv", ids if ids is not None else "all")
    stamp = "-".join(f"{t:%Y%m%dT%H%M%SZ}" if t else "open" for t in (start, end))
    return csv_download(text, f"audit-events-{stamp}.csv")


@bp.get("/instances/<id:instance_id>/checkpoint")
@allow(*access.AUDITORS)
def instance_checkpoint(instance_id):
    """Which signed checkpoint of the global audit log covers the instance and whether its
    events are still what was checkpointed (engine.history.coverage)."""
    only_args()
    with transaction() as session:
        instances.readable(session, actor(), instance_id)
        return coverage.instance(session, settings(), instance_id)


def audited(what: str, instance_ids) -> None:
    """Record the export in the global audit log, in a short write of its own after the read
    (a GET reads in a snapshot that may not write)."""
    with transaction(write=True) as session:
        exports.record_export(session, actor().name, what, instances=instance_ids)


def csv_download(text: str, filename: str) -> Response:
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _time_arg(name: str):
    value = request.args.get(name, "")
    return query.instant(value, name) if value.strip() else None
