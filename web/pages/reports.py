"""The after-sales report of a period as a printable page (/reports/<period>): the very rows of
its workbook (engine/report_workbook.py), so page and XLSX never disagree, with a link to
download the XLSX and the browser's print for paper or PDF."""
from __future__ import annotations

from flask import render_template

from engine import access, report_workbook, reports
from web.pages import bp, context


@bp.get("/reports/<period>")
@context.roles_required(*access.KPI_READERS)
def report(period):
    with context.transaction() as db:
        built = reports.of_period(db, period, context.settings().timezone)
    return render_template("report.html", report=built,
                           sheets=report_workbook.rows(built),
                           percent=report_workbook.PERCENT)
