"""The business calendar over the API: the working hours, the time zone, and the holidays and
make-up workdays of the coming months that every SLA, warning and escalation is counted in."""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, clock
from web import query
from web.api.base import allow, only_args, runtime

bp = Blueprint("calendar", __name__)
DEFAULT_MONTHS = 3


@bp.get("/calendar")
@allow(*access.PAGE_ROLES)
def calendar():
    only_args("months")
    months = request.args.get("months")
    months = query.integer(months, "months", 1, 24) if months else DEFAULT_MONTHS
    return outlook(months)


def outlook(months: int = DEFAULT_MONTHS) -> dict:
    """The runtime's calendar from today (in its time zone) for `months` months."""
    calendar = runtime().calendar
    return calendar.outlook(calendar.today(clock.now()), months)
