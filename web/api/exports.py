"""Exports for audits: one instance's full record (JSON) or its events (CSV), and every audit
event recorded in a time range (CSV). CSV answers are downloads (Content-Disposition)."""
from __future__ import annotations

from flask import Blueprint, Response, request

from engine.errors import InvalidInput, NotFound
from engine.history import archive
from engine.models import Instance
from engine.tasklist import parse_time
from web.api.base import allow, only_args, transaction

bp = Blueprint("exports", __name__)

EXPORT_READERS = ("supervisor", "auditor", "admin")
FORMATS = ("json", "csv")


@bp.get("/instances/<id:instance_id>/export")
@allow(*EXPORT_READERS)
def instance_export(instance_id):
    only_args("format")
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    with transaction() as session:
        if fmt == "json":
            return archive.export_instance(session, instance_id)
        if session.get(Instance, instance_id) is None:
            raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
        text = archive.export_events_csv(session, [instance_id])
    return csv_download(text, f"instance-{instance_id}-events.csv")


@bp.get("/audit/events.csv")
@allow(*EXPORT_READERS)
def audit_events():
    only_args("from", "to")
    start, end = _time_arg("from"), _time_arg("to")
    if start is None and end is None:
        raise InvalidInput("give from and/or to (ISO date or time)", field="from")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("to must be after from", field="to")
    with transaction() as session:
        text = archive.export_events_csv(session, start=start, end=end)
    stamp = "-".join(f"{t:%Y%m%dT%H%M%SZ}" if t else "open" for t in (start, end))
    return csv_download(text, f"audit-events-{stamp}.csv")


def csv_download(text: str, filename: str) -> Response:
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _time_arg(name: str):
    value = request.args.get(name, "")
    return parse_time(value, name) if value.strip() else None
