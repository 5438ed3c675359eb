"""After-sales reports (engine/reports.py): the stored ones, one period's figures (stored, or
computed on demand) and its workbook (XLSX), for those who read the KPIs."""
from __future__ import annotations

from flask import Blueprint, Response

from engine import access, report_workbook, reports
from web.api.base import allow, settings, transaction

bp = Blueprint("reports", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/reports")
@allow(*access.KPI_READERS)
def listed():
    with transaction() as session:
        return {"items": reports.listed(session)}


@bp.get("/reports/<period>")
@allow(*access.KPI_READERS)
def one(period):
    return of_period(period)


@bp.get("/reports/<period>/report.xlsx")
@allow(*access.KPI_READERS)
def workbook(period):
    report = of_period(period)
    response = Response(report_workbook.xlsx(report), mimetype=XLSX)
    response.headers["Content-Disposition"] = \
        f'attachment; filename="aftersales-report-{report["period"]}.xlsx"'
    return response


def of_period(period: str) -> dict:
    with transaction() as session:
        return reports.of_period(session, period, settings().timezone)
