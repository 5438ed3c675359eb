"""`aftersales migrate`: move running instances of a process from one deployed version to
another (or only say which could move, and why not)."""
from __future__ import annotations

import sys

import click

from engine import instances
from engine.access import Actor
from engine.definitions import catalog
from engine.runtime import instance_migration
from web.cli.group import ELEMENT_PAIR, Context, main, pass_context


@main.command("migrate")
@click.argument("key")
@click.option("--from", "v_from", type=int, required=True, help="version the instances are on")
@click.option("--to", "v_to", type=int, required=True, help="version to move them to")
@click.option("--map", "pairs", type=ELEMENT_PAIR, multiple=True, metavar="OLD=NEW",
              help="element OLD of the old version is NEW in the new one (repeatable)")
@click.option("--instance", "instance_ids", type=int, multiple=True,
              help="only these instances (default: every unfinished instance of --from)")
@click.option("--dry-run", is_flag=True, help="only say which instances could move and why not")
@click.option("--by", default="cli", help="who migrates (recorded in each instance's history)")
@pass_context
def migrate_command(ctx: Context, key, v_from, v_to, pairs, instance_ids, dry_run, by):
    """Move instances of KEY from version --from to version --to; exit 1 if any cannot move."""
    with ctx.sessions.begin() as session:
        source_id = catalog.version_id(session, key, v_from)
        target_id = catalog.version_id(session, key, v_to)
        ids = instances.to_migrate(session, source_id, list(instance_ids) or None)
        results = instance_migration.migrate(session, ctx.runtime, ids, target_id, dict(pairs),
                                             Actor(by, "admin"), dry_run=dry_run)
    if not results:
        click.echo(f"no unfinished instance of {key} v{v_from}")
        return
    for instance_id, result in results.items():
        moves = ", ".join(f"{a} -> {b}" for a, b in result["moves"].items())
        if result["can_move"]:
            verb = "can move" if dry_run else "moved"
            click.echo(f"instance {instance_id}: {verb}" + (f" ({moves})" if moves else ""))
        else:
            click.echo(f"instance {instance_id}: cannot move: " + "; ".join(result["reasons"]))
    able = sum(r["can_move"] for r in results.values())
    summary = "could move" if dry_run else "moved"
    click.echo(f"{summary} {able} of {len(results)} instance(s) to {key} v{v_to}")
    if able < len(results):
        sys.exit(1)
