"""`aftersales signals send NAME [--payload JSON]`: a signal sent from outside to every request
waiting for it, the verb Runtime.send_signal (one audit event per instance that caught it),
run as an admin named by --by."""
from __future__ import annotations

import json

import click

from engine.access import Actor
from engine.errors import InvalidInput
from engine.runtime import incidents
from web.cli.group import Context, main, pass_context


@main.group()
def signals():
    """Signals sent to waiting instances."""


@signals.command("send")
@click.argument("name")
@click.option("--payload", default="{}", help="a JSON object the catching tasks receive")
@click.option("--by", default="cli", help="who sends it (recorded in each instance's history)")
@pass_context
def send(ctx: Context, name, payload, by):
    """Send signal NAME to every instance waiting for it; prints each instance that caught it."""
    try:
        data = json.loads(payload)
    except ValueError:
        raise InvalidInput("--payload is not valid JSON", field="payload") from None
    with incidents.transaction(ctx.sessions) as session:
        caught = ctx.runtime.send_signal(session, name, data, Actor(by, "admin"))
        for instance in caught:
            click.echo(f"instance {instance.id} ({instance.business_key}): {instance.status}"
                       + (f": {instance.error}" if instance.error else ""))
    click.echo(f"signal '{name}' caught by {len(caught)} instance(s)")
