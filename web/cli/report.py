"""`aftersales report --period 2026-Q4`: an after-sales report on demand (engine/reports.py):
a summary on standard output and the workbook (XLSX) written to a file."""
from __future__ import annotations

import json
from pathlib import Path

import click

from engine import report_workbook, reports
from web.cli.group import CLI_ACTOR, Context, main, pass_context


@main.command("report")
@click.option("--period", required=True,
              help="a week (2026-W48), a month (2026-11) or a quarter (2026-Q4), in the "
                   "platform's time zone")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="where to write the workbook (default: aftersales-report-PERIOD.xlsx here)")
@click.option("--json", "as_json", is_flag=True, help="print the whole report as JSON instead")
@click.option("--store", is_flag=True, help="keep it as the period's report (as the scheduler does)")
@pass_context
def report(ctx: Context, period: str, out: Path | None, as_json: bool, store: bool):
    """Build the after-sales report of a period: KPIs, SLA, feedback classes, top SKUs by
    problem rate, repurchase."""
    named = reports.parse(period)
    with ctx.sessions.begin() as session:
        built = reports.build(session, named, ctx.settings.timezone)
        if store:
            reports.store(session, built, CLI_ACTOR)
    if as_json:
        click.echo(json.dumps(built, ensure_ascii=False, indent=2))
        return
    out = out or Path(f"aftersales-report-{named.name}.xlsx")
    out.write_bytes(report_workbook.xlsx(built))
    overall = built["kpis"]["overall"]
    click.echo(f"{named.name} ({built['from']} - {built['to']}): {overall['requests']} requests, "
               f"CSAT {overall['csat']['avg']}, tasks late {overall['tasks']['completed_late']}"
               f"/{overall['tasks']['completed']}")
    classes = ", ".join(f"{name} {n}" for name, n in list(built["feedback"]["by_class"].items())[:5])
    click.echo(f"feedback: {classes or 'none'}")
    for sku in built["top_skus"][:3]:
        click.echo(f"SKU {sku['sku']}: {sku['problems']} problems in {sku['orders']} orders")
    click.echo(f"written to {out}")
