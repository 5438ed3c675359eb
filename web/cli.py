"""The `aftersales` command line: database, definitions, demo data, serving, audit.

Every command reads the settings once (engine.config.from_env) and calls engine functions; only
`serve` builds the Flask app.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import click

from engine import config, db
from engine.definitions import catalog
from engine.errors import EngineError
from engine.history import replay
from engine.runtime.verbs import Runtime


class Context:
    def __init__(self):
        self.settings = config.from_env()
        self._sessions = None
        self._runtime = None

    @property
    def sessions(self):
        if self._sessions is None:
            self._sessions = db.make_session_factory(db.make_engine(self.settings.database_url))
        return self._sessions

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            from engine import service_requests
            self._runtime = Runtime(self.settings, hooks=[service_requests.sync])
        return self._runtime


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group()
def main():
    """After-sales (售后) process platform."""


@main.command()
@pass_context
def init(ctx: Context):
    """Create or upgrade the database schema."""
    db.upgrade(ctx.settings.database_url)
    click.echo(f"database ready: {ctx.settings.database_url}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True))
def validate(files):
    """Validate BPMN/DMN files (or folders); prints file:line: message per problem."""
    bundle = _bundle_of(files)
    problems = catalog.validate(bundle)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"ok: {len(bundle.files)} file(s), {len(bundle.forms)} form(s)")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--by", default="cli", help="who deploys (recorded with each version)")
@pass_context
def deploy(ctx: Context, folder, by):
    """Validate and deploy every process of FOLDER (identical content is a no-op)."""
    db.upgrade(ctx.settings.database_url)
    try:
        with ctx.sessions.begin() as session:
            results = catalog.deploy(session, catalog.Bundle.from_folder(folder), by)
    except EngineError as err:
        for problem in err.details or []:
            click.echo(f"{problem['file']}:{problem['line']}: {problem['message']}")
        click.echo(err.message, err=True)
        sys.exit(1)
    for r in results:
        state = "deployed" if r.created else "unchanged (identical content already deployed)"
        click.echo(f"{r.process_key} v{r.version}: {state}")


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
@click.option("--role", required=True,
              type=click.Choice(["staff", "supervisor", "process_owner", "auditor", "admin",
                                 "customer", "courier", "payment"]))
@click.option("--department", type=click.Choice(config.DEPARTMENTS))
@click.option("--customer-id")
@click.password_option()
@pass_context
def user_add(ctx: Context, username, role, department, customer_id, password):
    """Add a user (asks for the password)."""
    from engine import users
    try:
        with ctx.sessions.begin() as session:
            users.create_user(session, username, password, role, department=department,
                              customer_id=customer_id)
    except EngineError as err:
        raise click.ClickException(err.message) from err
    click.echo(f"user {username} added ({role}{', ' + department if department else ''})")


@main.group()
def audit():
    """Verify and replay the audit history."""


@audit.command("verify")
@click.argument("instance", required=False, type=int)
@pass_context
def audit_verify(ctx: Context, instance):
    """Check the hash chain and the replay of one instance, or of all; exit 1 on a divergence."""
    engine_ = ctx.runtime.script_engine
    with ctx.sessions() as session:
        results = ([replay.verify(session, instance, engine_)] if instance is not None
                   else replay.verify_all(session, engine_))
    for result in results:
        if not result.ok:
            d = result.divergence
            click.echo(f"instance {result.instance_id}: DIVERGES at event {d['seq']} ({d['kind']}): "
                       f"{d['problem']}; expected {d['expected']}, found {d['actual']}")
            sys.exit(1)
    click.echo(f"ok: {len(results)} instance(s), {sum(r.events for r in results)} event(s) verified")


@audit.command("replay")
@click.argument("instance", type=int)
@pass_context
def audit_replay(ctx: Context, instance):
    """Print the replay of INSTANCE step by step."""
    with ctx.sessions() as session:
        result = replay.verify(session, instance, ctx.runtime.script_engine, keep_steps=True)
    for step in result.steps:
        click.echo(f"{step.seq:>4} {step.at} {step.kind:<18} {step.element or '':<28} "
                   f"by {step.actor or '-':<12} ready={','.join(step.ready) or '-'} "
                   f"waiting={','.join(step.waiting) or '-'}")
    if not result.ok:
        click.echo(f"DIVERGES: {json.dumps(result.divergence, default=str)}")
        sys.exit(1)
    click.echo(f"ok: {result.events} event(s) replayed, state matches")


def _bundle_of(paths) -> catalog.Bundle:
    bundle = catalog.Bundle()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            folder = catalog.Bundle.from_folder(path)
            bundle.files.update(folder.files)
            bundle.forms.update(folder.forms)
            continue
        bundle.files[path.name] = path.read_bytes()
        forms_dir = path.parent / "forms"
        if forms_dir.is_dir():
            for form in forms_dir.glob("*.json"):
                bundle.forms.setdefault(form.name, form.read_bytes())
    return bundle


from web import cli_owner  # noqa: E402  (its commands reach Context through this module)

cli_owner.register(main)

if __name__ == "__main__":
    main()
