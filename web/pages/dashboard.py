"""The KPI dashboard: figures from engine.kpis over a range (first response and resolution time,
SLA breach rate, CSAT, complaint rate by category and department), their trend bucket by
bucket, a heatmap of the time spent in each BPMN element drawn on the diagram, and what
customers said: feedback classes over time and by category, the word cloud of the range's words
(each word opens the feedback that says it) and the complaint-surge alerts
(engine.feedback_dashboard)."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import render_template, request
from flask_babel import gettext as _

from engine import access, clock, config, feedback_dashboard, kpis
from engine.definitions import catalog
from engine.history import heatmap
from engine.service_requests import CATEGORIES
from web import query
from web.pages import bp, context, diagram

TREND_BUCKETS = 8
HEAT_PROCESS = "aftersales_request"


@bp.get("/dashboard")
@context.roles_required(*access.KPI_READERS)
def dashboard():
    args = request.args
    category = args.get("category") or None
    department = args.get("department") or None
    process_key = args.get("process") or HEAT_PROCESS
    start, end = query.date_range(args.get("from"), args.get("to"), context.settings().timezone)
    now = clock.now()
    with context.transaction() as db:
        figures = kpis.compute(db, start, end, category=category, department=department, now=now)
        trend = _trend(db, start, end, category, department, now)
        processes = [d["process_key"] for d in catalog.latest_all_json(db)]
        latest = catalog.show_latest(db, process_key)
        hours, visits, sampled = heatmap.element_hours(db, context.runtime(), process_key,
                                                       start, end, now)
        said = feedback_dashboard.figures(db, context.settings().bpmn_dir, start, end)
    peak = max(hours.values(), default=0) or 1
    heat_view = None
    if latest is not None:
        heat_view = diagram.view(latest, {}, prefer=process_key,
                                 heat={e: h / peak for e, h in hours.items()},
                                 labels={e: _hours(h) for e, h in hours.items()},
                                 focus=max(hours, key=hours.get, default=None))
    names = diagram.element_names(latest["sources"]) if latest is not None else {}
    slowest = sorted(hours.items(), key=lambda item: -item[1])[:8]
    zone = ZoneInfo(context.settings().timezone)
    from_day = start.astimezone(zone).date().isoformat()
    to_day = (end - timedelta(microseconds=1)).astimezone(zone).date().isoformat()
    return render_template("dashboard.html", figures=figures, trend=trend, from_day=from_day,
                           to_day=to_day,
                           category=category, department=department, categories=CATEGORIES,
                           departments=config.DEPARTMENTS, processes=processes,
                           process_key=process_key, heat_view=heat_view, slowest=slowest,
                           visits=visits, sampled=sampled, names=names, hours_label=_hours,
                           said=said)


def _trend(db, start, end, category, department, now) -> dict:
    """The main figures per bucket: TREND_BUCKETS equal slices of the range."""
    step = (end - start) / TREND_BUCKETS
    series: dict[str, list] = {"labels": [], "first_response": [], "resolution": [],
                               "breach_rate": [], "csat": [], "requests": [],
                               "complaint_rate": []}
    for n in range(TREND_BUCKETS):
        a, b = start + step * n, start + step * (n + 1)
        overall = kpis.overall(db, a, b, category=category, department=department, now=now)
        series["labels"].append(a.isoformat())
        series["requests"].append(overall["requests"])
        series["first_response"].append(overall["first_response_hours"]["avg"])
        series["resolution"].append(overall["resolution_hours"]["avg"])
        series["breach_rate"].append(overall["tasks"]["completed_breach_rate"])
        series["csat"].append(overall["csat"]["avg"])
        series["complaint_rate"].append(overall["complaint_rate"])
    series["bucket_hours"] = step / timedelta(hours=1)
    return series


def _hours(value: float) -> str:
    if value < 1:
        return _("%(m)s min", m=round(value * 60))
    if value < 48:
        return _("%(h)s h", h=round(value, 1))
    return _("%(d)s d", d=round(value / 24, 1))
