"""Commands of the auditors: verifying and replaying the audit history, exporting it, checking
the book of money (`audit money`), and archiving finished instances (after verifying the
archive); signing checkpoints of the global log, rotating their key, and exporting and checking
an instance's inclusion proofs (`audit check-proof` needs no database)."""
from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import click

from engine import clock, config, db, money_audit
from engine.history import (archive, checkpoints, exports, log_check, parallel_verify,
                            proofs, replay)
from web.cli.group import CLI_ACTOR, Context, main, pass_context


@main.group()
def audit():
    """Verify, replay and export the audit history; check the book of money. What only reads
    runs in read transactions (engine.db.reading): a verify of the whole database never holds
    SQLite's write lock, so writers go on meanwhile."""


PUBLIC_KEY = click.option(
    "--public-key", "public_keys", multiple=True, type=click.Path(exists=True),
    help="an Ed25519 public key file (PEM) or a folder of *.pub files; repeat for old keys "
         "(default: the checkpoint folder's keys/)")


@audit.command("verify")
@click.argument("instance", required=False, type=int)
@click.option("--checkpoints", "folder", type=click.Path(file_okay=False),
              help="the checkpoint folder (default: the audit_dir setting)")
@PUBLIC_KEY
@click.option("--jobs", type=click.IntRange(1, 256), default=None,
              help="processes that verify all instances (default: one per core, each with at "
                   "least 100 instances)")
@pass_context
def audit_verify(ctx: Context, instance, folder, public_keys, jobs):
    """Check the hash chain and the replay of one instance, or of all (over several processes),
    then the global log against the signed checkpoints with the public keys (naming the first
    bad position); exit 1 on any problem."""
    folder = Path(folder) if folder else config.audit_folder(ctx.settings)
    if not public_keys and (folder / checkpoints.KEYS).is_dir():
        public_keys = [folder / checkpoints.KEYS]
    keys = checkpoints.load_public_keys(public_keys)
    if instance is not None:
        with db.reading(), ctx.sessions() as session:
            results = [replay.verify(session, instance, ctx.runtime.script_engine)]
    else:
        results = parallel_verify.verify_all(ctx.settings, jobs)
    for result in results:
        if not result.ok:
            d = result.divergence
            click.echo(f"instance {result.instance_id}: DIVERGES at event {d['seq']} "
                       f"({d['kind']}): {d['problem']}; expected {d['expected']}, "
                       f"found {d['actual']}")
            sys.exit(1)
    events = sum(r.events for r in results)
    click.echo(f"ok: {len(results)} instance(s), {events} event(s) verified")
    with db.reading(), ctx.sessions() as session:
        log = log_check.check(session, folder, keys)
    _echo_log_check(log, folder)
    if not log.ok:
        sys.exit(1)


def _echo_log_check(log: log_check.LogCheck, folder: Path) -> None:
    if log.first_bad is not None:
        click.echo(f"log: FIRST BAD POSITION {log.first_bad}")
    for problem in log.problems:
        click.echo(f"log: {problem}")
    if log.latest is None:
        click.echo(f"log: no signed checkpoint in {folder} yet: the global log was not checked "
                   "against one (run `aftersales audit checkpoint`)")
    elif log.ok:
        click.echo(f"log ok: {log.size} leaves, {log.checkpoints} checkpoint(s), the newest of "
                   f"{log.latest.size} leaves signed at {log.latest.at} by key "
                   f"{log.latest.key_id}; {log.removed} removed by signed archives, "
                   f"{log.pending} waiting for the next checkpoint")


@audit.command("checkpoint")
@pass_context
def audit_checkpoint(ctx: Context):
    """Sequence what is waiting and sign a checkpoint of the global log now (appended to the
    checkpoint folder, sent to the witness when one is set)."""
    checkpoint = checkpoints.sign_head(ctx.sessions, ctx.settings, force=True)
    click.echo(f"checkpoint: {checkpoint.size} leaves, root {checkpoint.root}, signed at "
               f"{checkpoint.at} by key {checkpoint.key_id} "
               f"({config.audit_folder(ctx.settings) / checkpoints.CHECKPOINTS})")


@audit.command("rotate-key")
@pass_context
def audit_rotate_key(ctx: Context):
    """Replace the key that signs checkpoints; the old public key stays in the checkpoint
    folder's keys/, so the checkpoints it signed still verify."""
    old, new = checkpoints.rotate_key(ctx.settings)
    click.echo(f"audit signing key {new} written to {config.audit_key_path(ctx.settings)}"
               + (f" (replaces {old}, whose public key is kept)" if old else ""))


@audit.command("proof")
@click.argument("ref")
@click.option("--output", type=click.Path(dir_okay=False), help="write to a file, not stdout")
@pass_context
def audit_proof(ctx: Context, ref, output):
    """Export REF's events (an instance id or a request number) with their inclusion proofs
    against the newest signed checkpoint; `audit check-proof` verifies the file anywhere."""
    with db.reading(), ctx.sessions() as session:
        document = proofs.export(session, config.audit_folder(ctx.settings), ref)
    text = json.dumps(document, ensure_ascii=False, indent=1, default=str) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"written {output}: {len(document['events'])} event(s) under the checkpoint "
                   f"of {document['checkpoint']['size']} leaves", err=True)
    else:
        click.echo(text, nl=False)


@audit.command("check-proof")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--public-key", "public_keys", multiple=True, required=True,
              type=click.Path(exists=True), help="the Ed25519 public key file(s) (PEM) or "
              "folder(s) of *.pub files to trust")
def audit_check_proof(file, public_keys):
    """Verify a proof file from `audit proof` with the public key alone (no database)."""
    try:
        document = json.loads(Path(file).read_text(encoding="utf-8"))
    except ValueError as err:
        raise click.ClickException(f"{file} is not JSON: {err}") from None
    problems = proofs.check(document, checkpoints.load_public_keys(public_keys))
    for problem in problems:
        click.echo(problem)
    if problems:
        sys.exit(1)
    c = document["checkpoint"]
    click.echo(f"ok: {len(document['events'])} event(s) of {document['instance']['business_key']}"
               f" are in the log of {c['size']} leaves signed at {c['at']} by key {c['key_id']}")


@audit.command("money")
@pass_context
def audit_money(ctx: Context):
    """Check the money invariants over the whole database (refunds within what each order and
    request paid, claw-backs within refunds, balances equal to the ledger, every payment outbox
    row with its ledger row); print one line per problem and exit 1 if there is any."""
    with db.reading(), ctx.sessions() as session:
        report = money_audit.check(session)
    for problem in report.problems:
        click.echo(problem.line())
    if not report.ok:
        click.echo(f"money: {len(report.problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"money ok: {report.orders} orders, {report.payments} payments")


@audit.command("replay")
@click.argument("instance", type=int)
@pass_context
def audit_replay(ctx: Context, instance):
    """Print the replay of INSTANCE step by step."""
    with db.reading(), ctx.sessions() as session:
        result = replay.verify(session, instance, ctx.runtime.script_engine, keep_steps=True)
    for step in result.steps:
        click.echo(f"{step.seq:>4} {step.at} {step.kind:<18} {step.element or '':<28} "
                   f"by {step.actor or '-':<12} ready={','.join(step.ready) or '-'} "
                   f"waiting={','.join(step.waiting) or '-'}")
    if not result.ok:
        click.echo(f"DIVERGES: {json.dumps(result.divergence, default=str)}")
        sys.exit(1)
    click.echo(f"ok: {result.events} event(s) replayed, state matches")


@audit.command("export")
@click.argument("instance", type=int, required=False)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
@click.option("--from", "start", help="CSV: events recorded at or after (ISO-8601)")
@click.option("--to", "end", help="CSV: events recorded before (ISO-8601)")
@click.option("--output", type=click.Path(dir_okay=False), help="write to a file, not stdout")
@pass_context
def audit_export(ctx: Context, instance, fmt, start, end, output):
    """Export INSTANCE's record (json) or audit events (csv; or all events --from/--to)."""
    if instance is None and (fmt == "json" or (start is None and end is None)):
        raise click.UsageError("give an INSTANCE (or, with --format csv, --from/--to)")
    try:
        bounds = [clock.parse(v) if v else None for v in (start, end)]
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--from/--to") from err
    with ctx.sessions.begin() as session:
        if fmt == "json":
            text = json.dumps(exports.instance_record(session, instance), ensure_ascii=False,
                              indent=1) + "\n"
        else:
            text = exports.events_csv(
                session, [instance] if instance is not None else None,
                start=bounds[0], end=bounds[1])
        exports.record_export(session, CLI_ACTOR, f"instance {instance} {fmt}" if instance
                              is not None else f"events {start or ''}..{end or ''} csv",
                              instances=[instance] if instance is not None else "all")
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"written {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command("archive")
@click.option("--older-than", "days", type=int, help="days since finishing (default: the "
              "retention setting)")
@click.option("--dir", "folder", type=click.Path(file_okay=False),
              help="where archives go (default: the archive_dir setting)")
@click.option("--by", default="cli", help="who archives (recorded in archive_log.jsonl)")
@click.option("--verify", "verify_path", type=click.Path(exists=True, dir_okay=False),
              help="only verify this archive file from its content alone")
@pass_context
def archive_command(ctx: Context, days, folder, by, verify_path):
    """Archive finished instances older than --older-than days, after verifying the archive."""
    if verify_path:
        check = archive.verify_archive(verify_path, ctx.runtime.script_engine)
        for problem in check.problems:
            click.echo(problem)
        if not check.ok:
            sys.exit(1)
        click.echo(f"ok: {check.instances} instance(s), {check.events} event(s) verified")
        return
    days = ctx.settings.retention_days if days is None else days
    folder = Path(folder) if folder else ctx.settings.archive_dir
    with ctx.sessions.begin() as session:
        path = archive.archive(session, timedelta(days=days), folder, by,
                               script_engine=ctx.runtime.script_engine, settings=ctx.settings)
    if path is None:
        click.echo(f"nothing to archive (no instance finished more than {days} day(s) ago)")
        return
    manifest = json.loads(path.with_name(path.stem + ".manifest.json").read_text())
    click.echo(f"archived {manifest['instances']} instance(s), {manifest['events']} event(s) "
               f"to {path} (sha256 {manifest['sha256'][:16]}...)")
