"""The business calendar page: the working hours, time zone, holidays and make-up workdays that
every SLA, warning and escalation is counted in, for the coming months (read-only; holidays
are set by AFTERSALES_HOLIDAYS, AFTERSALES_EXTRA_WORKDAYS and AFTERSALES_CALENDAR_FILE)."""
from __future__ import annotations

from datetime import date

from flask import render_template, request

from engine import access, clock
from web import query
from web.pages import bp, context

DEFAULT_MONTHS = 3


@bp.get("/calendar")
@context.roles_required(*access.PAGE_ROLES)
def calendar():
    months = request.args.get("months")
    months = query.integer(months, "months", 1, 24) if months else DEFAULT_MONTHS
    business = context.runtime().calendar
    outlook = business.outlook(business.today(clock.now()), months)
    for day in outlook["days"]:
        day["date"] = date.fromisoformat(day["date"])
    return render_template("calendar.html", outlook=outlook, months=months)
