"""Commands of whoever operates the platform: the database and its secret key, demo data,
serving, the background jobs, user accounts and login lockouts.

`serve` and `scheduler` refuse to start without a secret key nobody else knows
(engine.config.secret_key); `init` and `demo` write one beside the database when none is set."""
from __future__ import annotations

import os
import signal
import socket
import threading
import time

import click

from engine import config, db
from engine.access import ROLES
from engine.errors import Conflict
from engine.history import checkpoints
from web.cli.group import CLI_ACTOR, Context, main, pass_context


@main.command()
@pass_context
def init(ctx: Context):
    """Create or upgrade the database schema, and write a secret key, an outgoing secret and
    the audit signing key beside it (unless set in the environment or already written)."""
    db.upgrade(ctx.settings.database_url)
    click.echo(f"database ready: {ctx.settings.database_url}")
    _ensure_secret_key(ctx)


@main.command()
@click.option("--providers", is_flag=True,
              help="then serve, with the demo's payment provider and courier beside the app: "
                   "they answer the platform's signed calls by signed callbacks")
@click.option("--host", default="127.0.0.1", help="with --providers: the app's address")
@click.option("--port", default=8000, type=int, help="with --providers: the app's port")
@click.option("--threads", default=8, type=int, help="with --providers: the app's threads")
@click.option("--providers-port", default=0, type=click.IntRange(0, 65535),
              help="the demo providers' port on 127.0.0.1 (0: a free one)")
@click.option("--delay", default=2.0, type=click.FloatRange(0, 3600),
              help="seconds before a provider's callback (the pickup comes 5x later)")
@click.option("--history", default=0, type=click.IntRange(0, 366), metavar="DAYS",
              help="first live DAYS days of past work on the platform clock: requests filed "
                   "and worked through by simulated staff and customers (0: none)")
@click.option("--seed", default=1, type=int, help="with --history: what the history draws from")
@pass_context
def demo(ctx: Context, providers, host, port, threads, providers_port, delay, history, seed):
    """Create the database and its secret key, deploy bpmn/, add demo users and sample
    requests. With --history DAYS, the sample requests come after DAYS days of history
    (engine/demo_history.py), once: a database that has it already is left as it is. With
    --providers, then serve the app (as `serve`) with the demo's payment provider and courier
    on loopback (engine/demo_providers.py), to which refunds, claw-backs and pickups go."""
    from engine import demo as demo_data
    if providers and providers_port:
        _check_free(providers_port, "--providers-port")
    db.upgrade(ctx.settings.database_url)
    _ensure_secret_key(ctx)
    summary = demo_data.load(ctx.sessions, ctx.runtime, ctx.settings.bpmn_dir,
                             send_order=_shop_client(ctx),
                             history=_history(ctx, history, seed) if history else None)
    for line in summary:
        click.echo(line)
    if providers:
        _serve(ctx, host, port, threads, scheduler=True,
               app_settings=_demo_providers(ctx, host, port, providers_port, delay))


def _history(ctx: Context, days: int, seed: int):
    """The demo's `history()`: fill `days` days (engine.demo_history) unless the database has
    a history or other requests already; says what it made and how long it took."""
    def history() -> list[str]:
        from engine import demo_history
        if demo_history.present(ctx.sessions):
            return ["history already there"]
        click.echo(f"living {days} days of history (seed {seed}) ...")
        began = time.monotonic()
        try:
            made = demo_history.fill(ctx.sessions, ctx.runtime, days, seed)
        except Conflict as err:
            return [f"no history: {err.message}"]
        return [f"history: {made['requests']} requests in {days} days, {made['finished']} "
                f"finished, {made['tasks_done']} tasks done, {made['answers']} customer "
                f"answers, {made['open_tasks']} tasks open "
                f"({time.monotonic() - began:.0f} s)"]
    return history


def _demo_providers(ctx: Context, host: str, port: int, providers_port: int, delay: float):
    """What `serve` runs in its worker before it builds the app: start the demo providers,
    tell the console what they do, and return the settings that send payments and pickups to
    them (http adapters). The callbacks' credentials are the demo's payment and courier users'
    (a bearer token and the client secret, issued here if they have none)."""
    from engine import demo as demo_data
    from engine import demo_providers

    clients = demo_data.provider_clients(ctx.sessions)
    secret = config.outgoing_secret(ctx.settings)
    platform_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def start() -> dict:
        running = demo_providers.DemoProviders(secret, port=providers_port, delay=delay,
                                               pickup_delay=5 * delay, say=click.echo)
        running.call_back(platform_url, clients)
        for line in (
                f"demo providers on {running.url} (loopback), for refunds, claw-backs and "
                "pickups (AFTERSALES_ADAPTERS=payment=http,courier.book_pickup=http):",
                f"  payment provider {running.payment_url}: accepts a refund or claw-back, "
                f"then calls back refund_result/clawback_result (paid) after {delay:g} s",
                f"  courier {running.courier_url}: accepts a pickup, then calls back "
                f"pickup_booked (tomorrow's slot) after {delay:g} s and picked_up "
                f"{5 * delay:g} s later",
                "  the platform signs each call with its outgoing secret; they refuse an "
                "unsigned one (401)",
                f"  they call back {platform_url}/api/messages as the users payment and "
                "courier, each signing with its client secret",
                f"  try it: sign in as fin_1 (password {demo_data.PASSWORD}), approve the "
                "refund waiting in the inbox, and watch the request's timeline say paid"):
            click.echo(line)
        return running.settings(ctx.settings.adapters, ctx.settings.http_urls)
    return start


def _shop_client(ctx: Context):
    """send_order(order_id, body) for the demo: PUT /api/orders/<id> as the demo's shop user,
    signed with its secret, through the app itself (the orders pass the API's gate, the
    signature check, the schema and the order checks). Raises
    ClickException with the API's answer when an order is refused."""
    from engine import demo as demo_data
    from web import create_app

    from engine import client_secrets, signatures

    app = create_app({"database_url": ctx.settings.database_url})
    client = app.test_client()
    token = secret = None

    def send_order(order_id: str, body: dict) -> None:
        nonlocal token, secret
        if token is None:
            answer = client.post("/api/auth/token", json={"username": "shop",
                                                          "password": demo_data.PASSWORD})
            if answer.status_code != 200:
                raise click.ClickException(f"the demo shop cannot sign in: {answer.get_json()}")
            token = answer.get_json()["token"]
            with ctx.sessions.begin() as session:
                secret = client_secrets.ensure(session, "shop")
        raw = app.json.dumps(body).encode()      # the shop signs the bytes it sends
        sent = client.put(f"/api/orders/{order_id}", data=raw, content_type="application/json",
                          headers={"Authorization": f"Bearer {token}",
                                   signatures.HEADER: signatures.sign(secret, raw)})
        if sent.status_code not in (200, 201):
            raise click.ClickException(f"order {order_id} refused: {sent.get_json()}")
    return send_order


def _check_free(port: int, option: str) -> None:
    """Refuse (exit 1) a port on 127.0.0.1 that another program holds, before the server's
    worker would fail to boot on it."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise click.ClickException(f"port {port} on 127.0.0.1 cannot be used ({err.strerror})"
                                       f": choose another {option}, or 0 for a free one") from None


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--threads", default=8, type=int)
@click.option("--workers", default=1, type=click.IntRange(1, 64),
              help="gunicorn worker processes (on 2 cores: --workers 2 --threads 1)")
@click.option("--no-scheduler", is_flag=True, help="serve only; run `aftersales scheduler` apart")
@pass_context
def serve(ctx: Context, host, port, threads, workers, no_scheduler):
    """Serve the web app with gunicorn and run the scheduler in each worker (its jobs claim
    their work with leases and locks, as two `aftersales scheduler` processes do)."""
    _serve(ctx, host, port, threads, scheduler=not no_scheduler, workers=workers)


# The worker's heartbeat file is touched on every turn of its loop: in memory, not on disk.
WORKER_TMP_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None


def _serve(ctx: Context, host: str, port: int, threads: int, *, scheduler: bool,
           app_settings=None, workers: int = 1) -> None:
    """Run gunicorn (`workers` workers of `threads` threads) on host:port until interrupted,
    with the scheduler in each worker if `scheduler`. `app_settings()`, if given, runs in the worker
    first and returns Settings fields for the app (the demo providers' adapters)."""
    from gunicorn.app.base import BaseApplication

    from web import create_app

    _require_secret_key(ctx)
    db.upgrade(ctx.settings.database_url)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            self.cfg.set("worker_tmp_dir", WORKER_TMP_DIR)

        def load(self):
            app = create_app(app_settings() if app_settings is not None else None)
            if scheduler:
                from engine.jobs.scheduler import PlatformScheduler
                running = PlatformScheduler(app.extensions["aftersales"].sessions,
                                            app.extensions["aftersales"].runtime)
                running.start()
            return app

    click.echo(f"serving on http://{host}:{port}/")
    Server().run()


@main.command()
@pass_context
def scheduler(ctx: Context):
    """Run the background jobs alone (timers, outbox, SLA, surge, daily reconciliation) until
    interrupted."""
    from engine.jobs.scheduler import PlatformScheduler
    _require_secret_key(ctx)
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


def _ensure_secret_key(ctx: Context) -> None:
    written = config.ensure_secret_key(ctx.settings)
    if written is not None:
        click.echo(f"secret key written: {written} (mode 0600; every process of this "
                   "installation must read it, or share it as AFTERSALES_SECRET_KEY)")
    written = config.ensure_outgoing_secret(ctx.settings)
    if written is not None:
        click.echo(f"outgoing secret written: {written} (mode 0600; calls to providers are "
                   "signed with it: give it to each provider, or set AFTERSALES_OUTGOING_SECRET)")
    written = checkpoints.ensure_key(ctx.settings)
    if written is not None:
        click.echo(f"audit signing key written: {written} (mode 0600; it signs the audit "
                   f"log's checkpoints; its public key is in "
                   f"{config.audit_folder(ctx.settings) / checkpoints.KEYS}: keep a copy "
                   "where the auditors verify)")


def _require_secret_key(ctx: Context) -> None:
    """Refuse to start (exit 1) with a missing or known secret key, saying how to set one."""
    try:
        config.secret_key(ctx.settings)
    except config.InsecureSecretKey as err:
        raise click.ClickException(str(err)) from None


@main.group()
def user():
    """Manage users."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--department", type=click.Choice(config.DEPARTMENTS))
@click.option("--customer-id")
@click.option("--email", help="staff: where their department's digest of new and late work goes")
@click.password_option()
@pass_context
def user_add(ctx: Context, username, role, department, customer_id, email, password):
    """Add a user (asks for the password)."""
    from engine import users
    with ctx.sessions.begin() as session:
        users.create_user(session, username, password, role, department=department,
                          customer_id=customer_id, email=email, by=CLI_ACTOR)
    click.echo(f"user {username} added ({role}{', ' + department if department else ''})")


@user.command("deactivate")
@click.argument("username")
@pass_context
def user_deactivate(ctx: Context, username):
    """Deactivate a user: every sign-in ends (page sessions, API tokens), none is possible."""
    from engine import users
    with ctx.sessions.begin() as session:
        users.set_active(session, username, False, by=CLI_ACTOR)
    click.echo(f"user {username} deactivated; every sign-in of it ended")


@user.command("activate")
@click.argument("username")
@pass_context
def user_activate(ctx: Context, username):
    """Reactivate a deactivated user."""
    from engine import users
    with ctx.sessions.begin() as session:
        users.set_active(session, username, True, by=CLI_ACTOR)
    click.echo(f"user {username} activated")


@user.command("reset-password")
@click.argument("username")
@click.password_option()
@pass_context
def user_reset_password(ctx: Context, username, password):
    """Give a user a new password (asks for it); every sign-in made with the old one ends."""
    from engine import users
    with ctx.sessions.begin() as session:
        users.reset_password(session, username, password, by=CLI_ACTOR)
    click.echo(f"password of {username} changed; every sign-in of it ended")


@user.command("revoke-tokens")
@click.argument("username")
@pass_context
def user_revoke_tokens(ctx: Context, username):
    """End every sign-in of a user: each API bearer token and each page session."""
    from engine import users
    with ctx.sessions.begin() as session:
        _, revoked = users.sign_out_everywhere(session, username, by=CLI_ACTOR)
    click.echo(f"{revoked} sign-in(s) of {username} ended")


@user.command("email")
@click.argument("username")
@click.argument("email", required=False)
@pass_context
def user_email(ctx: Context, username, email):
    """Set the email address a member of staff gets their department's digest at (none given:
    no more mail)."""
    from engine import users
    with ctx.sessions.begin() as session:
        users.set_email(session, username, email, by=CLI_ACTOR)
    click.echo(f"email of {username}: {email}" if email else f"{username} gets no more email")


@user.command("locks")
@pass_context
def user_locks(ctx: Context):
    """List the accounts and client addresses locked out after too many failed logins."""
    from engine import login_throttle
    with ctx.sessions.begin() as session:
        locks = login_throttle.locks(session)
    for lock in locks:
        click.echo(f"{lock['kind']} {lock['name']}: {lock['failures']} failures, locked until "
                   f"{lock['locked_until'].isoformat()}")
    if not locks:
        click.echo("no lockouts")


@user.command("unlock")
@click.argument("username", required=False)
@click.option("--address", help="lift the lockout of this client address instead")
@pass_context
def user_unlock(ctx: Context, username, address):
    """Lift the login lockout of a user (or, with --address, of a client address) and forget
    its failed logins."""
    from engine import login_throttle
    with ctx.sessions.begin() as session:
        lifted = login_throttle.lift(session, username=username, address=address, by=CLI_ACTOR)
    what = f"address {address}" if address is not None else f"user {username}"
    click.echo(f"lockout of {what} lifted" if lifted else f"{what} was not locked out")


@user.command("secret")
@click.argument("username")
@click.option("--rotate", is_flag=True,
              help="issue another secret; the current one keeps working for 24 hours")
@click.option("--retire", is_flag=True,
              help="end every secret but the newest now (after the client switched)")
@pass_context
def user_secret(ctx: Context, username, rotate, retire):
    """Issue the signing secret of a courier, payment or shop account (shown once: give it to
    the client, which signs each call with X-Aftersales-Signature)."""
    from engine import client_secrets
    with ctx.sessions.begin() as session:
        if retire:
            active = client_secrets.retire_previous(session, username, by=CLI_ACTOR)
            secret = None
        else:
            secret, active = client_secrets.issue(session, username, rotate=rotate, by=CLI_ACTOR)
    if secret is not None:
        click.echo(secret)
        click.echo(f"the signing secret of {username}; it is not shown again", err=True)
    for row in active:
        until = row["expires_at"].isoformat() if row["expires_at"] else "no end"
        click.echo(f"active: {row['hint']} issued {row['created_at'].isoformat()}, until {until}",
                   err=True)
