"""The printable report page (web/pages/reports.py): the workbook's rows, for the KPI readers."""
from __future__ import annotations

from engine import report_workbook, reports
from tests.web.api.test_kpis import day  # noqa: F401  (the fixture: a day of three requests)
from tests.web.pages.conftest import table_rows, text_of


def test_the_page_shows_the_reports_rows_and_links_the_workbook(browser, day, platform):  # noqa: F811
    page = browser("ops_head").get("/reports/2026-11")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/reports/2026-11/report.xlsx" in html and "computed now" in text_of(html)
    with platform.sessions() as session:
        built = reports.build(session, reports.parse("2026-11"), platform.settings.timezone)
    sheets = report_workbook.rows(built)
    categories = table_rows(html, "分类 Categories</h2>")
    assert [row[0] for row in categories] == [row[0] for row in sheets["分类 Categories"][1:]]
    assert categories[0][:2] == ["3c", "1"]
    summary = dict(row[:2] for row in table_rows(html, "概览 Summary</h2>"))
    assert summary["请求数 Requests"] == "3" and summary["投诉率 Complaint rate"] == "33.3%"


def test_only_kpi_readers_open_it(browser, day):  # noqa: F811
    assert browser("finance_1").get("/reports/2026-11").status_code == 403
    assert browser("auditor").get("/reports/2026-Q5").status_code == 422
