"""GET /api/kpis: service figures over a date range (see engine/kpis.py for the definitions)."""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, kpis
from web import query
from web.api.base import allow, only_args, settings, transaction

bp = Blueprint("kpis", __name__)


@bp.get("/kpis")
@allow(*access.KPI_READERS)
def figures():
    only_args("from", "to", "category", "department")
    start, end = query.date_range(request.args.get("from"), request.args.get("to"),
                                  settings().timezone)
    with transaction() as session:
        return kpis.compute(session, start, end, category=request.args.get("category") or None,
                            department=request.args.get("department") or None)
