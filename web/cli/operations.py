"""Commands of whoever operates the platform: the database, demo data, serving, the background
jobs and user accounts."""
from __future__ import annotations

import signal
import threading

import click

from engine import config, db
from engine.access import ROLES
from web.cli.group import Context, main, pass_context


@main.command()
@pass_context
def init(ctx: Context):
    """Create or upgrade the database schema."""
    db.upgrade(ctx.settings.database_url)
    click.echo(f"database ready: {ctx.settings.database_url}")


@main.command()
@pass_context
def demo(ctx: Context):
    """Create the database, deploy bpmn/, add demo users and sample requests."""
    from engine import demo as demo_data
    db.upgrade(ctx.settings.database_url)
    summary = demo_data.load(ctx.sessions, ctx.runtime, ctx.settings.bpmn_dir)
    for line in summary:
        click.echo(line)


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--threads", default=8, type=int)
@click.option("--no-scheduler", is_flag=True, help="serve only; run `aftersales scheduler` apart")
@pass_context
def serve(ctx: Context, host, port, threads, no_scheduler):
    """Serve the web app with gunicorn (one worker) and run the scheduler in it."""
    from gunicorn.app.base import BaseApplication

    from web import create_app

    db.upgrade(ctx.settings.database_url)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", 1)
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")

        def load(self):
            app = create_app()
            if not no_scheduler:
                from engine.jobs.scheduler import PlatformScheduler
                scheduler = PlatformScheduler(app.extensions["aftersales"].sessions,
                                              app.extensions["aftersales"].runtime)
                scheduler.start()
            return app

    click.echo(f"serving on http://{host}:{port}/")
    Server().run()


@main.command()
@pass_context
def scheduler(ctx: Context):
    """Run the background jobs alone (timers, outbox, SLA, surge) until interrupted."""
    from engine.jobs.scheduler import PlatformScheduler
    db.upgrade(ctx.settings.database_url)
    worker = PlatformScheduler(ctx.sessions, ctx.runtime)
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    worker.shutdown()


@main.group()
def user():
    """Manage users."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--department", type=click.Choice(config.DEPARTMENTS))
@click.option("--customer-id")
@click.password_option()
@pass_context
def user_add(ctx: Context, username, role, department, customer_id, password):
    """Add a user (asks for the password)."""
    from engine import users
    with ctx.sessions.begin() as session:
        users.create_user(session, username, password, role, department=department,
                          customer_id=customer_id)
    click.echo(f"user {username} added ({role}{', ' + department if department else ''})")
