"""`aftersales tier set NAME L1|L2|expert` and `aftersales tier list`: staff service tiers
(engine/service_tiers.py)."""
from __future__ import annotations

import click

from engine import service_tiers
from engine.service_requests import SERVICE_TIERS
from web.cli.group import CLI_ACTOR, Context, main, pass_context


@main.group("tier")
def tier_group():
    """Service tiers of staff: L1 (一线), L2 (二线), expert (专家)."""


@tier_group.command("set")
@click.argument("username")
@click.argument("tier", type=click.Choice(SERVICE_TIERS))
@pass_context
def set_tier(ctx: Context, username: str, tier: str):
    """Give a staff member a service tier."""
    with ctx.sessions.begin() as session:
        service_tiers.set_tier(session, username, tier, CLI_ACTOR)
    click.echo(f"{username}: {tier}")


@tier_group.command("list")
@pass_context
def list_tiers(ctx: Context):
    """The staff members with a tier set (the others are L1)."""
    with ctx.sessions() as session:
        for row in service_tiers.listed(session):
            click.echo(f"{row['username']}\t{row['tier']}")
