"""An after-sales report (engine/reports.py) as an XLSX workbook, with openpyxl.

One sheet per section, headings Chinese first with the English after, figures as numbers
(rates as percentages, money as the decimal amounts the report carries) so that the workbook
can be filtered and summed: 概览 Summary, 分类 Categories, 部门与SLA Departments, 反馈 Feedback,
问题SKU Top SKUs, 复购 Repurchase. `rows` gives each sheet's rows; the printable page shows the
same rows, so the two never disagree.
"""
from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

REQUEST_HEADERS = ["请求数 Requests", "首次响应(小时) First response h", "解决(小时) Resolution h",
                   "解决率 Resolution rate", "满意度 CSAT", "评价数 Ratings", "投诉率 Complaint rate",
                   "完成任务 Tasks completed", "超时完成 Completed late", "超时率 Breach rate",
                   "未完成 Open", "未完成超时 Open overdue"]
PERCENT = {"解决率 Resolution rate", "投诉率 Complaint rate", "超时率 Breach rate",
           "问题率 Problem rate", "30天复购率 30-day rate", "90天复购率 90-day rate"}


def rows(report: dict) -> dict[str, list[list]]:
    """Sheet title -> rows (the first is the header) of `report`."""
    k = report["kpis"]
    money = k["overall"]["money"]
    summary = [["项目 Item", "值 Value"], ["期间 Period", report["period"]],
               ["开始 From", report["from"]], ["结束 To", report["to"]],
               ["生成时间 Generated", report["generated_at"]],
               *[[name, value] for name, value in zip(REQUEST_HEADERS, _request_row(k["overall"]))],
               ["已退款 Refunds paid", Decimal(money["refunds_paid"])],
               ["待退款 Refunds pending", Decimal(money["refunds_pending"])],
               ["已追回 Claw-backs paid", Decimal(money["clawbacks_paid"])],
               ["支付失败 Payments failed", money["payments_failed"]]]
    categories = [["分类 Category", *REQUEST_HEADERS]] + [
        [name, *_request_row(figures)] for name, figures in k["by_category"].items()]
    departments = [["部门 Department", *REQUEST_HEADERS]] + [
        [name, *_request_row(figures)] for name, figures in k["by_department"].items()]
    said = report["feedback"]
    feedback_rows = [["反馈分类 Class", "次数 Count", "分类 Category"]] + \
        [[name, n, "全部 all"] for name, n in said["by_class"].items()] + \
        [[name, n, category] for category, counts in said["by_category"].items()
         for name, n in counts.items()]
    skus = [["SKU", "名称 Name", "分类 Category", "订单 Orders", "问题 Problems",
             "问题率 Problem rate", "请求 Requests"]] + \
        [[s["sku"], s["name"], s["category"], s["orders"], s["problems"], s["rate"],
          ", ".join(f"{n} ({'/'.join(kinds)})" for n, kinds in s["requests"].items())]
         for s in report["top_skus"]]
    again = report["repurchase"]
    repurchase_rows = [["分组 Group", "客户 Customers", "满意度 CSAT", "30天可计 30d eligible",
                        "30天复购率 30-day rate", "90天可计 90d eligible", "90天复购率 90-day rate"]]
    for label, figures in [("全部 overall", again["overall"]),
                           *[(f"分类 {n}", f) for n, f in again["by_category"].items()],
                           *[(f"结果 {n}", f) for n, f in again["by_outcome"].items()]]:
        repurchase_rows.append([label, figures["customers"], figures["csat"]["avg"],
                                figures["30d"]["eligible"], figures["30d"]["rate"],
                                figures["90d"]["eligible"], figures["90d"]["rate"]])
    return {"概览 Summary": summary, "分类 Categories": categories,
            "部门与SLA Departments": departments, "反馈 Feedback": feedback_rows,
            "问题SKU Top SKUs": skus, "复购 Repurchase": repurchase_rows}


def _request_row(figures: dict) -> list:
    tasks = figures["tasks"]
    return [figures["requests"], figures["first_response_hours"]["avg"],
            figures["resolution_hours"]["avg"], figures["resolution_rate"],
            figures["csat"]["avg"], figures["csat"]["count"], figures["complaint_rate"],
            tasks["completed"], tasks["completed_late"], tasks["completed_breach_rate"],
            tasks["open"], tasks["open_overdue"]]


def xlsx(report: dict) -> bytes:
    """The workbook of `report`, as bytes."""
    book = Workbook()
    book.remove(book.active)
    for title, sheet_rows in rows(report).items():
        sheet = book.create_sheet(title[:31])
        for row in sheet_rows:
            sheet.append(row)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        header = sheet_rows[0]
        for column, name in enumerate(header, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = max(12, min(40, len(name) + 4))
            if name in PERCENT:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                    cell.number_format = "0.00%"
        if title.startswith("概览"):
            for (label, value) in sheet.iter_rows(min_row=2, max_col=2):
                if label.value in PERCENT:
                    value.number_format = "0.00%"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
