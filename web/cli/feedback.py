"""`aftersales feedback`: the feedback classifier from the command line (engine.feedback,
engine.feedback_classifier, engine.feedback_taxonomy).

`evaluate` trains on the `train` rows of a labelled set and prints precision, recall and F1
per class and their macro average on its `test` rows; `classify` reads one text per line on
standard input and prints, per line, a JSON array of the class names, so that any labelled set
can be scored from outside. Both use the taxonomy in force (the newest deployed version, the
shipped table before the first deployment) or the file given with --taxonomy. `deploy`,
`versions` and `reclassify` manage the taxonomy's versions.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine import feedback, feedback_classifier, feedback_taxonomy
from web.cli.group import CLI_ACTOR, Context, main, pass_context

TAXONOMY_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.group("feedback")
def feedback_group():
    """Customer feedback: classify, evaluate, the taxonomy's versions."""


def _source(ctx: Context, taxonomy: Path | None) -> tuple[dict, str]:
    """(the taxonomy to use, what to call it)."""
    if taxonomy is not None:
        return feedback_taxonomy.check(_read_json(taxonomy)), str(taxonomy)
    with ctx.sessions() as session:
        source, version = feedback_taxonomy.in_force(session, ctx.settings.bpmn_dir)
    return source, f"version {version}" if version else "the shipped table (not deployed)"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise click.ClickException(f"{path} is not JSON: {err}") from err


@feedback_group.command("evaluate")
@click.option("--examples", type=TAXONOMY_FILE,
              help="the labelled set (TSV: split, labels joined by |, text); default: "
                   "bpmn/feedback/labelled.tsv")
@click.option("--taxonomy", type=TAXONOMY_FILE, help="a taxonomy file instead of the one in force")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
@pass_context
def evaluate(ctx: Context, examples: Path | None, taxonomy: Path | None, as_json: bool):
    """Train on the train rows, score the held-out test rows: precision, recall, F1 per class."""
    source, name = _source(ctx, taxonomy)
    path = examples or ctx.settings.bpmn_dir / feedback_classifier.EXAMPLES
    rows = feedback_classifier.load_examples(path)
    classifier = feedback_classifier.Classifier(source, [e for e in rows if e.split == "train"])
    held_out = [e for e in rows if e.split == "test"]
    figures = feedback_classifier.evaluate(classifier, held_out)
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    click.echo(f"taxonomy: {name}; trained on {len(rows) - len(held_out)} rows, "
               f"tested on {len(held_out)} of {path}")
    click.echo(f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for label, f in figures["classes"].items():
        click.echo(f"{label:<{12 - _wide(label)}}{f['precision']:>10.3f}{f['recall']:>10.3f}"
                   f"{f['f1']:>10.3f}{f['support']:>9}")
    macro = figures["macro"]
    click.echo(f"{'macro':<12}{macro['precision']:>10.3f}{macro['recall']:>10.3f}"
               f"{macro['f1']:>10.3f}")


def _wide(text: str) -> int:
    """How many more columns than characters `text` takes (CJK characters take two)."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)


@feedback_group.command("classify")
@click.option("--taxonomy", type=TAXONOMY_FILE, help="a taxonomy file instead of the one in force")
@pass_context
def classify(ctx: Context, taxonomy: Path | None):
    """Read one text per line on standard input; print a JSON array of class names per line."""
    source, _ = _source(ctx, taxonomy)
    classifier = feedback_classifier.for_taxonomy(source, feedback_taxonomy.digest(source),
                                                  ctx.settings.bpmn_dir)
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        click.echo(json.dumps(classifier.classify(text) if text.strip() else [],
                              ensure_ascii=False))


@feedback_group.command("deploy")
@click.argument("file", type=TAXONOMY_FILE, required=False)
@pass_context
def deploy(ctx: Context, file: Path | None):
    """Deploy a taxonomy file (default: the shipped bpmn/feedback/taxonomy.json) as the next
    version; the same content as a deployed version is that version."""
    path = file or ctx.settings.bpmn_dir / feedback_taxonomy.SHIPPED
    with ctx.sessions.begin() as session:
        row, created = feedback_taxonomy.deploy(session, _read_json(path), CLI_ACTOR)
        click.echo(f"{'deployed' if created else 'already deployed as'} version {row.version} "
                   f"({row.sha256[:12]})")


@feedback_group.command("versions")
@pass_context
def versions(ctx: Context):
    """The deployed versions of the taxonomy, newest first."""
    with ctx.sessions() as session:
        for row in feedback_taxonomy.versions(session):
            click.echo(f"{row['version']}\t{row['deployed_at']:%Y-%m-%d %H:%M}\t"
                       f"{row['deployed_by']}\t{len(row['classes'])} classes\t{row['sha256'][:12]}")


@feedback_group.command("reclassify")
@pass_context
def reclassify(ctx: Context):
    """Classify again the stored feedback that an older taxonomy version classified."""
    with ctx.sessions.begin() as session:
        changed = feedback.reclassify(session, ctx.settings.bpmn_dir)
    click.echo(f"{changed} feedback rows classified again")
