"""After-sales reports (engine/reports.py) through the API, the CLI and the scheduler's job: the
figures equal the dashboard's (GET /api/kpis) for the same range; feedback classes, problem
SKUs and repurchase are in them; the workbook opens."""
from __future__ import annotations

import io
from datetime import timedelta

import openpyxl
import pytest

from engine import clock, orders, reports, repurchase
from engine.jobs.scheduler import PlatformScheduler
from tests.web.api.test_kpis import day  # noqa: F401  (the fixture: a day of three requests)
from tests.web.conftest import error_of, file_request, order_body

MONTH = "from=2026-11-01&to=2026-11-30"


def test_the_months_figures_are_the_dashboards(auth, day):  # noqa: F811
    report = auth.as_("ops_head").get("/api/reports/2026-11").get_json()
    dashboard = auth.as_("ops_head").get(f"/api/kpis?{MONTH}").get_json()
    assert report["stored"] is False and report["kpis"] == dashboard
    assert report["kpis"]["overall"]["requests"] == 3
    week = auth.as_("auditor").get("/api/reports/2026-W48").get_json()
    assert week["kpis"] == auth.as_("auditor").get(
        "/api/kpis?from=2026-11-23&to=2026-11-29").get_json()
    quarter = auth.as_("owner").get("/api/reports/2026-q4").get_json()
    assert quarter["period"] == "2026-Q4" and quarter["from"] == "2026-09-30T16:00:00+00:00"


def test_feedback_classes_problem_skus_and_repurchase_are_in_the_report(auth, platform):
    file_request(auth, "alice", order_id="O-1003", type="repair", reason="用了两天就坏了，质量太差")
    file_request(auth, "bob", order_id="O-1002", type="complaint", reason="客服态度太差")
    with platform.sessions.begin() as session:     # SKU-O-1003 sold once more this month
        orders.upsert(session, "O-2001", order_body("C002", "fresh", (("SKU-O-1003", 1, "50.00"),)))
    report = auth.as_("ops_head").get("/api/reports/2026-11").get_json()
    assert report["feedback"]["by_class"] == {"客服态度差": 1, "质量问题": 1}
    assert report["feedback"]["by_category"]["fresh"] == {"质量问题": 1}
    [sku] = report["top_skus"]
    assert (sku["sku"], sku["orders"], sku["problems"], sku["rate"]) == ("SKU-O-1003", 2, 1, 0.5)
    assert list(sku["requests"].values()) == [["quality_feedback", "repair"]]
    assert report["repurchase"]["overall"]["customers"] == 0


def test_repurchase_counts_an_order_within_30_days_of_the_resolution(auth, day, platform):  # noqa: F811
    with platform.sessions.begin() as session:     # alice orders again 10 days later
        orders.upsert(session, "O-2002", {**order_body("C001", "3c"),
                                          "paid_at": (clock.now() + timedelta(days=10)).isoformat()})
    clock.advance(timedelta(days=31))
    again = auth.as_("ops_head").get("/api/reports/2026-11").get_json()["repurchase"]
    assert again["overall"]["30d"] == {"eligible": 2, "repurchased": 1, "rate": 0.5}
    assert again["overall"]["90d"] == {"eligible": 0, "repurchased": 0, "rate": None}
    # The fixture's flow resolves every request with outcome "resolved".
    assert again["by_outcome"]["other"]["30d"] == {"eligible": 2, "repurchased": 1, "rate": 0.5}
    assert again["by_outcome"]["refund"]["customers"] == 0
    assert again["by_category"]["3c"]["30d"]["rate"] == 1.0
    assert again["by_category"]["apparel"]["30d"]["rate"] == 0.0     # bob's complaint
    assert again["by_category"]["3c"]["csat"] == {"avg": 5.0, "count": 1}


@pytest.mark.parametrize("outcome, group", [
    ("refunded", "refund"), ("refunded_clawed_back", "refund"), ("clawback_waived", "refund"),
    ("exchanged", "exchange"), ("repaired", "repair"), ("no_fault_found", "repair"),
    ("resolved", "other"), ("rejected", "other"), (None, "other")])
def test_outcomes_fold_into_what_the_customer_got(outcome, group):
    assert repurchase.outcome_group(outcome) == group


def test_the_workbook_has_a_sheet_per_section(auth, day):  # noqa: F811
    response = auth.as_("ops_head").get("/api/reports/2026-11/report.xlsx")
    assert response.status_code == 200
    assert "aftersales-report-2026-11.xlsx" in response.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["概览 Summary", "分类 Categories", "部门与SLA Departments",
                               "反馈 Feedback", "问题SKU Top SKUs", "复购 Repurchase"]
    summary = {row[0]: row[1] for row in book["概览 Summary"].iter_rows(values_only=True)}
    assert summary["请求数 Requests"] == 3 and summary["满意度 CSAT"] == 4.0
    assert summary["已退款 Refunds paid"] == 299
    categories = [row[0] for row in book["分类 Categories"].iter_rows(values_only=True)]
    assert categories == ["分类 Category", "3c", "apparel", "fresh"]


def test_the_scheduler_stores_each_finished_periods_report_once(auth, day, platform):  # noqa: F811
    clock.freeze(clock.now().replace(year=2027, month=1, day=4))     # a Monday
    job = PlatformScheduler(platform.sessions, platform.runtime)
    assert job.run_reports() == ["2026-W53", "2026-12", "2026-Q4"]
    assert job.run_reports() == []
    listed = auth.as_("ops_head").get("/api/reports").get_json()["items"]
    assert sorted(r["period"] for r in listed) == ["2026-12", "2026-Q4", "2026-W53"]
    stored = auth.as_("ops_head").get("/api/reports/2026-Q4").get_json()
    assert stored["stored"] is True and stored["kpis"]["overall"]["requests"] == 3


@pytest.mark.parametrize("period", ["2026-Q5", "0000-01",
                                    # beyond datetime's years (an OverflowError, a 500)
                                    "9999-W52", "0001-01", "0001-W01"])
def test_a_bad_period_is_refused_naming_it(auth, period):
    refused = auth.as_("ops_head").get(f"/api/reports/{period}")
    assert refused.status_code == 422 and error_of(refused)["details"]["field"] == "period"
    assert auth.as_("finance_1").get("/api/reports/2026-11").status_code == 403


@pytest.mark.parametrize("name, first, after", [
    ("2026-W53", "2026-12-28", "2027-01-04"), ("2026-12", "2026-12-01", "2027-01-01"),
    ("2026-Q1", "2026-01-01", "2026-04-01"), ("2025-W01", "2024-12-30", "2025-01-06")])
def test_periods_are_named_as_people_write_them(name, first, after):
    period = reports.parse(name)
    assert (period.first.isoformat(), period.after.isoformat()) == (first, after)
    assert reports.containing(period.kind, period.first) == period

