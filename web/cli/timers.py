"""`aftersales timers list | fire | reschedule`: an operator's hand on waiting timers, as
Camunda's Cockpit gives one. Fire and reschedule are the verb Runtime.reschedule_timer (an
audit event replay repeats), run as an admin named by --by.
"""
from __future__ import annotations

import click

from engine import orders
from engine.access import Actor
from engine.jobs import timers as timer_jobs
from engine.runtime import incidents
from web.cli.group import Context, main, pass_context

BY = click.option("--by", default="cli", help="who acts (recorded in the instance's history)")
REASON = click.option("--reason", default="", help="why (recorded with the event)")


@main.group()
def timers():
    """Timers waiting in instances."""


@timers.command("list")
@click.option("--instance", "instance_id", type=int, help="only this instance's timers")
@pass_context
def list_timers(ctx: Context, instance_id):
    """Every waiting timer, soonest first: instance, request, element, task id, due time."""
    with ctx.sessions.begin() as session:
        rows = timer_jobs.waiting(session, Actor("cli", "admin"), instance_id=instance_id,
                                  limit=10_000)
    for row in rows:
        click.echo(f"{row['instance_id']}\t{row['business_key']}\t{row['bpmn_id']}\t"
                   f"{row['task_id']}\t{row['due_at'].isoformat()}")
    click.echo(f"{len(rows)} timer(s) waiting")


@timers.command("fire")
@click.argument("instance_id", type=int)
@click.argument("task_id")
@BY
@REASON
@pass_context
def fire(ctx: Context, instance_id, task_id, by, reason):
    """Fire the timer TASK_ID of INSTANCE_ID now."""
    _move(ctx, instance_id, task_id, None, by, reason)


@timers.command("reschedule")
@click.argument("instance_id", type=int)
@click.argument("task_id")
@click.option("--at", "due_at", required=True, help="the new due time, ISO 8601 with its offset")
@BY
@REASON
@pass_context
def reschedule(ctx: Context, instance_id, task_id, due_at, by, reason):
    """Move the timer TASK_ID of INSTANCE_ID to --at (a time already past fires it now)."""
    _move(ctx, instance_id, task_id, orders.timestamp(due_at, "at"), by, reason)


def _move(ctx: Context, instance_id, task_id, due_at, by, reason) -> None:
    with incidents.transaction(ctx.sessions) as session:
        instance = ctx.runtime.reschedule_timer(session, instance_id, task_id, due_at,
                                                Actor(by, "admin"), reason)
        click.echo(f"instance {instance.id}: timer {task_id} "
                   + ("fired" if due_at is None else f"due {due_at.isoformat()}")
                   + f"; the instance is {instance.status}")
