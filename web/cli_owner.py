"""Process-owner commands of `aftersales`: versions, diffs, migration, what-if, audit export,
archiving.

`register(main)` adds them to the `aftersales` group (and `export` to its `audit` group). The
commands share web/cli.py's Context (settings read once, sessions, runtime); it is looked up
when a command runs, because web/cli.py imports this module to register it.
"""
from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy import select

from engine import clock
from engine.access import Actor
from engine.definitions import catalog, versions
from engine.errors import EngineError
from engine.history import archive, exports, whatif
from engine.models import Instance
from engine.runtime import instance_migration


def register(main_group: click.Group) -> None:
    """Add the process-owner commands to `main_group` (calling it twice is harmless)."""
    for command in (versions_command, diff_command, migrate_command, whatif_command,
                    archive_command):
        main_group.add_command(command)
    audit_group = main_group.commands.get("audit")
    if not isinstance(audit_group, click.Group):
        audit_group = click.Group("audit", help="Verify, replay and export the audit history.")
        main_group.add_command(audit_group)
    audit_group.add_command(audit_export)


def _context():
    from web.cli import Context  # at run time: web.cli imports this module
    return click.get_current_context().ensure_object(Context)


def _fail(err: EngineError):
    for detail in err.details if isinstance(err.details, list) else []:
        if isinstance(detail, dict) and "message" in detail:
            where = f"{detail.get('file')}:{detail.get('line')}: " if detail.get("file") else ""
            click.echo(f"{where}{detail['message']}", err=True)
    raise click.ClickException(err.message)


def _mapping(pairs) -> dict[str, str]:
    out = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise click.BadParameter(f"'{pair}' is not old=new", param_hint="--map")
        out[old.strip()] = new.strip()
    return out


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


# ------------------------------------------------------------- versions/diff

@click.command("versions")
@click.argument("key")
def versions_command(key):
    """List the deployed versions of process KEY."""
    ctx = _context()
    try:
        with ctx.sessions() as session:
            rows = versions.list_versions(session, key)
    except EngineError as err:
        _fail(err)
    for row in rows:
        click.echo(f"v{row['version']:<4} {row['sha'][:12]}  {row['deployed_at']:%Y-%m-%d %H:%M}  "
                   f"by {row['deployed_by'] or '-':<12} {row['comment'] or ''}".rstrip())


@click.command("diff")
@click.argument("key")
@click.argument("v1", type=int)
@click.argument("v2", type=int)
@click.option("--json", "as_json", is_flag=True, help="print the diff and impact as JSON")
def diff_command(key, v1, v2, as_json):
    """What changed between versions V1 and V2 of KEY, and which running instances it touches."""
    ctx = _context()
    try:
        with ctx.sessions() as session:
            result = versions.diff(session, key, v1, v2)
            hit = versions.impact(session, key, v1, v2)
    except EngineError as err:
        _fail(err)
    if as_json:
        click.echo(json.dumps(dict(result.as_dict(), impact=hit), ensure_ascii=False,
                              indent=1, default=str))
        return
    if result.is_empty():
        click.echo(f"{key} v{v1} and v{v2}: no element differs")
    for element in result.added:
        click.echo(f"+ {element['id']} ({element['type']}) {element['name'] or ''}".rstrip())
    for element in result.removed:
        click.echo(f"- {element['id']} ({element['type']}) {element['name'] or ''}".rstrip())
    for element in result.changed:
        click.echo(f"~ {element['id']} ({element['type']})")
        for what, change in element["changes"].items():
            click.echo(f"    {what}: {_short(change['from'])} -> {_short(change['to'])}")
    if hit:
        click.echo(f"{len(hit)} unfinished instance(s) of v{v1} stand on changed elements:")
        for entry in hit:
            where = ", ".join(f"{e['element']} ({e['state']}, {e['change']})"
                              for e in entry["elements"])
            click.echo(f"  instance {entry['instance_id']} {entry['business_key']} "
                       f"[{entry['status']}]: {where}")
    else:
        click.echo(f"no unfinished instance of v{v1} stands on a changed element")


# ------------------------------------------------------------------ migrate

@click.command("migrate")
@click.argument("key")
@click.option("--from", "v_from", type=int, required=True, help="version the instances are on")
@click.option("--to", "v_to", type=int, required=True, help="version to move them to")
@click.option("--map", "pairs", multiple=True, metavar="OLD=NEW",
              help="element OLD of the old version is NEW in the new one (repeatable)")
@click.option("--instance", "instance_ids", type=int, multiple=True,
              help="only these instances (default: every unfinished instance of --from)")
@click.option("--dry-run", is_flag=True, help="only say which instances could move and why not")
@click.option("--by", default="cli", help="who migrates (recorded in each instance's history)")
def migrate_command(key, v_from, v_to, pairs, instance_ids, dry_run, by):
    """Move instances of KEY from version --from to version --to; exit 1 if any cannot move."""
    ctx = _context()
    mapping = _mapping(pairs)
    try:
        with ctx.sessions.begin() as session:
            source = versions.definition_of(session, key, v_from)
            target = versions.definition_of(session, key, v_to)
            ids = list(instance_ids) or list(session.scalars(
                select(Instance.id).where(Instance.definition_id == source.id,
                                          Instance.status.in_(instance_migration.MOVABLE))
                .order_by(Instance.id)))
            results = instance_migration.migrate(session, ctx.runtime, ids, target.id, mapping,
                                        Actor(by, "admin"), dry_run=dry_run)
    except EngineError as err:
        _fail(err)
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


# ------------------------------------------------------------------- whatif

@click.command("whatif")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--instances", "limit", type=int, default=20, show_default=True,
              help="how many of the most recently finished instances to replay")
@click.option("--instance", "instance_ids", type=int, multiple=True, help="replay these instances")
@click.option("--map", "pairs", multiple=True, metavar="OLD=NEW",
              help="recorded element OLD is NEW in the candidate (repeatable)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--fail-on-divergence", is_flag=True, help="exit 1 if any instance diverges")
def whatif_command(folder, limit, instance_ids, pairs, as_json, fail_on_divergence):
    """Replay finished instances against the (undeployed) bundle in FOLDER."""
    ctx = _context()
    try:
        with ctx.sessions() as session:
            outcomes = whatif.whatif(session, catalog.Bundle.from_folder(folder),
                                     ctx.runtime.script_engine,
                                     instance_ids=list(instance_ids) or None, limit=limit,
                                     mapping=_mapping(pairs))
    except EngineError as err:
        _fail(err)
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in outcomes], ensure_ascii=False, indent=1,
                              default=str))
    else:
        for o in outcomes:
            if not o.diverges:
                click.echo(f"{o.business_key} (instance {o.instance_id}): same "
                           f"({o.events} recorded input(s))")
                continue
            d = o.divergence
            where = f"at event {d['seq']} ({d['kind']} {d['element'] or ''})".replace(" )", ")")
            click.echo(f"{o.business_key} (instance {o.instance_id}): DIVERGES {where}: "
                       f"{d['problem']}")
            if d["recorded"] is not None or d["candidate"] is not None:
                click.echo(f"    recorded:  {_short(d['recorded'])}")
                click.echo(f"    candidate: {_short(d['candidate'])}")
        diverging = sum(o.diverges for o in outcomes)
        click.echo(f"{diverging} of {len(outcomes)} instance(s) diverge")
    if fail_on_divergence and any(o.diverges for o in outcomes):
        sys.exit(1)


# ------------------------------------------------------------ audit export

@click.command("export")
@click.argument("instance", type=int, required=False)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
@click.option("--from", "start", help="CSV: events recorded at or after (ISO-8601)")
@click.option("--to", "end", help="CSV: events recorded before (ISO-8601)")
@click.option("--output", type=click.Path(dir_okay=False), help="write to a file, not stdout")
def audit_export(instance, fmt, start, end, output):
    """Export INSTANCE's record (json) or audit events (csv; or all events --from/--to)."""
    ctx = _context()
    if instance is None and (fmt == "json" or (start is None and end is None)):
        raise click.UsageError("give an INSTANCE (or, with --format csv, --from/--to)")
    try:
        bounds = [clock.parse(v) if v else None for v in (start, end)]
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--from/--to") from err
    try:
        with ctx.sessions() as session:
            if fmt == "json":
                text = json.dumps(exports.instance_record(session, instance), ensure_ascii=False,
                                  indent=1) + "\n"
            else:
                text = exports.events_csv(
                    session, [instance] if instance is not None else None,
                    start=bounds[0], end=bounds[1])
    except EngineError as err:
        _fail(err)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"written {output}", err=True)
    else:
        click.echo(text, nl=False)


# ------------------------------------------------------------------ archive

@click.command("archive")
@click.option("--older-than", "days", type=int, help="days since finishing (default: the "
              "retention setting)")
@click.option("--dir", "folder", type=click.Path(file_okay=False),
              help="where archives go (default: the archive_dir setting)")
@click.option("--by", default="cli", help="who archives (recorded in archive_log.jsonl)")
@click.option("--verify", "verify_path", type=click.Path(exists=True, dir_okay=False),
              help="only verify this archive file from its content alone")
def archive_command(days, folder, by, verify_path):
    """Archive finished instances older than --older-than days, after verifying the archive."""
    ctx = _context()
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
    try:
        with ctx.sessions.begin() as session:
            path = archive.archive(session, timedelta(days=days), folder, by,
                                   script_engine=ctx.runtime.script_engine)
    except EngineError as err:
        _fail(err)
    if path is None:
        click.echo(f"nothing to archive (no instance finished more than {days} day(s) ago)")
        return
    manifest = json.loads(path.with_name(path.stem + ".manifest.json").read_text())
    click.echo(f"archived {manifest['instances']} instance(s), {manifest['events']} event(s) "
               f"to {path} (sha256 {manifest['sha256'][:16]}...)")
