"""Commands of the process owners about definitions: validating and deploying bundles, the
deployed versions of a process and what changed between two, and what-if replays of a bundle
that is not deployed yet."""
from __future__ import annotations

import json
import sys

import click

from engine import db
from engine.definitions import catalog, versions
from engine.definitions.bundle import Bundle
from engine.history import whatif
from web.cli.group import ELEMENT_PAIR, Context, main, pass_context


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True))
@click.option("--standalone", is_flag=True,
              help="judge the files alone, as if nothing were deployed (no database)")
@pass_context
def validate(ctx: Context, files, standalone):
    """Validate BPMN/DMN files (or folders) as `deploy` would: what they leave out (called
    processes, decisions, forms, message schemas) is taken from the deployed versions.
    Prints file:line: message per problem (warnings too, marked "warning:"; only the others
    make it fail) and which processes a deploy would version."""
    bundle = Bundle.from_paths(files)
    if standalone:
        planned = catalog.plan_against(bundle, [])
    else:
        db.upgrade(ctx.settings.database_url)
        with ctx.sessions() as session:
            planned = catalog.plan(session, bundle)
    for problem in planned.problems:
        click.echo(str(problem))
    if planned.errors:
        click.echo(f"{len(planned.errors)} problem(s)", err=True)
        sys.exit(1)
    warned = f", {len(planned.problems)} warning(s)" if planned.problems else ""
    click.echo(f"ok: {len(bundle.files)} file(s), {len(bundle.forms)} form(s), "
               f"{len(bundle.messages)} message schema(s){warned}")
    for entry in planned.processes:
        state = "new version" if entry.changed else "unchanged"
        click.echo(f"  {entry.process_key}: {state}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--by", default="cli", help="who deploys (recorded with each version)")
@pass_context
def deploy(ctx: Context, paths, by):
    """Validate and deploy FOLDER(s) or single files with the forms/ and messages/ beside them
    (what they leave out is taken from the deployed versions; identical content is a no-op)."""
    db.upgrade(ctx.settings.database_url)
    warnings = []
    with ctx.sessions.begin() as session:
        results = catalog.deploy(session, Bundle.from_paths(paths), by, warnings=warnings)
    for warning in warnings:
        click.echo(str(warning))
    for r in results:
        state = "deployed" if r.created else "unchanged (identical content already deployed)"
        click.echo(f"{r.process_key} v{r.version}: {state}")


@main.command("versions")
@click.argument("key")
@pass_context
def versions_command(ctx: Context, key):
    """List the deployed versions of process KEY."""
    with ctx.sessions() as session:
        rows = versions.list_versions(session, key)
    for row in rows:
        click.echo(f"v{row['version']:<4} {row['sha'][:12]}  {row['deployed_at']:%Y-%m-%d %H:%M}  "
                   f"by {row['deployed_by'] or '-':<12} {row['comment'] or ''}".rstrip())


@main.command("diff")
@click.argument("key")
@click.argument("v1", type=int)
@click.argument("v2", type=int)
@click.option("--json", "as_json", is_flag=True, help="print the diff and impact as JSON")
@pass_context
def diff_command(ctx: Context, key, v1, v2, as_json):
    """What changed between versions V1 and V2 of KEY, and which running instances it touches."""
    with ctx.sessions() as session:
        result = versions.diff(session, key, v1, v2)
        hit = versions.impact(session, key, v1, v2)
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


@main.command("whatif")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--instances", "limit", type=int, default=20, show_default=True,
              help="how many of the most recently finished instances to replay")
@click.option("--instance", "instance_ids", type=int, multiple=True, help="replay these instances")
@click.option("--map", "pairs", type=ELEMENT_PAIR, multiple=True, metavar="OLD=NEW",
              help="recorded element OLD is NEW in the candidate (repeatable)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--fail-on-divergence", is_flag=True, help="exit 1 if any instance diverges")
@pass_context
def whatif_command(ctx: Context, folder, limit, instance_ids, pairs, as_json, fail_on_divergence):
    """Replay finished instances against the (undeployed) bundle in FOLDER."""
    with ctx.sessions() as session:
        outcomes = whatif.whatif(session, Bundle.from_folder(folder), ctx.runtime.script_engine,
                                 instance_ids=list(instance_ids) or None, limit=limit,
                                 mapping=dict(pairs))
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


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
