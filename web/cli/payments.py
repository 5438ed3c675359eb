"""`aftersales payments reconcile`: the day's payments in the ledger against the provider's
statement (engine.reconciliation), one line per payment on which they disagree."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from engine import clock, reconciliation
from web.cli.group import Context, main, pass_context


@main.group()
def payments():
    """Payments: the ledger against the payment provider."""


@payments.command("reconcile")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="the business day (YYYY-MM-DD, the platform's time zone; default: yesterday)")
@click.option("--statement", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the provider's statement (JSON lines, or CSV when it ends in .csv); "
                   "default: asked of the provider with the HTTP payment adapter")
@pass_context
def reconcile(ctx: Context, day, statement: Path | None):
    """List the payments whose provider status and ledger disagree; exit 1 if any does."""
    now = clock.now()
    day = day.date() if day is not None else reconciliation.yesterday(ctx.settings, now)
    entries, source = reconciliation.statement_for(ctx.settings, day, statement)
    with ctx.sessions() as session:
        report = reconciliation.reconcile(session, day, entries, tz=ctx.settings.timezone,
                                          now=now, source=source)
    for disagreement in report.disagreements:
        click.echo(disagreement.line())
    click.echo(report.summary(), err=not report.ok)
    if not report.ok:
        sys.exit(1)
