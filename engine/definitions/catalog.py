"""Process definitions: bundles of BPMN/DMN files and forms, deployed as versioned rows.

A bundle is what a process owner uploads or keeps in a folder. Deploying validates it whole
(nothing is stored if any file has a problem), then stores one `Definition` row per executable
process whose content changed: its own file, the files of the processes it calls, the DMN files
and the forms it uses, with a sha256 of exactly that content. Parsed specs are cached per row.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock, config
from engine.definitions import validation, xmlsafe
from engine.definitions.bundle import DMN_SUFFIX, Bundle
from engine.errors import InvalidDefinition, NotFound
from engine.models import Definition
from engine.runtime import event_subprocesses


@dataclass
class Deployed:
    process_key: str
    version: int
    definition_id: int
    created: bool          # False: identical content was already deployed


@dataclass
class TaskMeta:
    """What the platform needs to know about one user task of a definition."""

    bpmn_id: str
    name: str | None
    lane: str | None
    form: str | None
    sla: str | None
    four_eyes: str | None = None    # a task whose doer may not do this one (runtime/separation)


@dataclass
class Compiled:
    """A definition row parsed and ready to run."""

    definition_id: int
    process_key: str
    version: int
    spec: object
    subprocess_specs: dict
    forms: dict[str, dict]
    tasks: dict[str, TaskMeta]

    def form_schema(self, bpmn_id: str) -> dict | None:
        meta = self.tasks.get(bpmn_id)
        if meta is None or meta.form is None:
            return None
        return self.forms.get(meta.form)


def validate(bundle: Bundle, known_processes=()) -> list[validation.Problem]:
    """Every problem of the bundle (empty when it can be deployed)."""
    return validation.validate_bundle(bundle.files, bundle.forms, departments=config.DEPARTMENTS,
                                      known_processes=known_processes)


def validate_against_deployed(session: Session, bundle: Bundle) -> list[validation.Problem]:
    """Every problem of the bundle, its call activities checked against deployed processes too
    (which must exist, and must not call back into a cycle)."""
    return validate(bundle, known_processes=deployed_calls(session))


def deployed_calls(session: Session) -> dict[str, list[str]]:
    """Each deployed process (its newest version) -> the processes it calls, directly or not
    (the called processes a compiled definition carries)."""
    return {row.process_key: sorted(key for key in compiled(session, row.id).subprocess_specs
                                    if key != row.process_key)
            for row in all_latest(session)}


def deploy(session: Session, bundle: Bundle, actor: str | None, comment: str | None = None,
           warnings: list | None = None) -> list[Deployed]:
    """Validate and store the bundle; returns one entry per executable process.

    Raises InvalidDefinition (with every problem in `details`) and stores nothing if any file
    has an error. Its warnings do not stop it; they are appended to `warnings` when given
    (the API, the page and the CLI show them with the answer).
    """
    bundle.require_sources()
    problems = validate_against_deployed(session, bundle)
    if validation.errors(problems):
        raise InvalidDefinition(f"{len(validation.errors(problems))} problem(s) in the upload",
                                details=[p.as_dict() for p in problems])
    if warnings is not None:
        warnings.extend(problems)
    parser = parser_for(bundle.files)
    results = []
    for key in sorted(parser.get_process_ids()):
        sources, forms = closure(parser, key, bundle)
        sha = digest(sources, forms)
        latest = latest_definition(session, key, required=False)
        if latest is not None and latest.sha256 == sha:
            results.append(Deployed(key, latest.version, latest.id, created=False))
            continue
        row = Definition(process_key=key, version=(latest.version + 1) if latest else 1,
                         name=parser.get_process_parser(key).get_name(), sha256=sha,
                         sources=sources, forms=forms, deployed_at=clock.now(),
                         deployed_by=actor, comment=comment)
        session.add(row)
        session.flush()
        results.append(Deployed(key, row.version, row.id, created=True))
    return results


def latest_definition(session: Session, process_key: str, *, required: bool = True) -> Definition | None:
    row = session.scalars(select(Definition).where(Definition.process_key == process_key)
                          .order_by(Definition.version.desc()).limit(1)).first()
    if row is None and required:
        raise NotFound(f"process '{process_key}' is not deployed", field="process_key")
    return row


def versions(session: Session, process_key: str) -> list[Definition]:
    return list(session.scalars(select(Definition).where(Definition.process_key == process_key)
                                .order_by(Definition.version)))


def compiled(session: Session, definition_id: int) -> Compiled:
    """The parsed specs of a definition row (cached per database and row: rows never change)."""
    key = (str(session.get_bind().url), definition_id)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    row = session.get(Definition, definition_id)
    if row is None:
        raise NotFound(f"definition {definition_id} does not exist")
    _cache[key] = _compile(row)
    return _cache[key]


_cache: dict[tuple[str, int], Compiled] = {}


def _compile(row: Definition) -> Compiled:
    return compile_sources(row.process_key, row.sources, row.forms, definition_id=row.id,
                           version=row.version)


def compile_sources(process_key: str, sources: dict[str, str], forms: dict[str, str], *,
                    definition_id: int | None = None, version: int = 0) -> Compiled:
    """Parse a definition from its files (stored text), without touching the cache.

    Rows go through `compiled()`; bundles that are not deployed (what-if) and archived
    definitions, whose ids may not name rows of this database, come here directly.
    """
    parser = parser_for({name: text.encode() for name, text in sources.items()})
    spec = parser.get_spec(process_key)
    subs = parser.get_subprocess_specs(process_key)
    event_subprocesses.settle(spec, subs)      # or SpiffWorkflow changes the cached spec
    tasks = {}
    for process_spec in [spec, *subs.values()]:
        for task_spec in process_spec.task_specs.values():
            if not getattr(task_spec, "manual", False) or task_spec.bpmn_id is None:
                continue
            props = getattr(task_spec, "extensions", {}).get("properties", {})
            tasks[task_spec.bpmn_id] = TaskMeta(task_spec.bpmn_id, task_spec.bpmn_name,
                                                task_spec.lane, props.get("form"), props.get("sla"),
                                                props.get("four_eyes"))
    parsed_forms = {name: json.loads(text) for name, text in forms.items()}
    return Compiled(definition_id, process_key, version, spec, subs, parsed_forms, tasks)


def parser_for(files: dict[str, bytes]) -> SpiffBpmnParser:
    # Content was validated (XSD included) before it was stored; parse without the validator.
    parser = SpiffBpmnParser()
    for name, data in sorted(files.items()):
        tree = xmlsafe.parse_xml(data, name)
        if name.endswith(DMN_SUFFIX):
            parser.add_dmn_xml(tree.getroot(), filename=name)
        else:
            parser.add_bpmn_xml(tree, filename=name)
    return parser


def closure(parser: SpiffBpmnParser, key: str, bundle: Bundle) -> tuple[dict, dict]:
    """The files and forms that process `key` needs to run."""
    needed = {key, *parser.get_subprocess_specs(key).keys()}
    names = {parser.get_process_parser(pid).filename for pid in needed
             if pid in parser.process_parsers}
    names |= {name for name in bundle.files if name.endswith(DMN_SUFFIX)}
    sources = {name: bundle.files[name].decode("utf-8") for name in sorted(names) if name}
    spec_forms = set()
    for pid in needed:
        process_parser = parser.get_process_parser(pid)
        if process_parser is None:
            continue
        for task_spec in process_parser.get_spec().task_specs.values():
            form = getattr(task_spec, "extensions", {}).get("properties", {}).get("form")
            if form:
                spec_forms.add(form)
    forms = {name: bundle.forms[name].decode("utf-8") for name in sorted(spec_forms)
             if name in bundle.forms}
    return sources, forms


def digest(sources: dict, forms: dict) -> str:
    h = hashlib.sha256()
    for kind, files in (("src", sources), ("form", forms)):
        for name in sorted(files):
            h.update(f"{kind}:{name}:{len(files[name])}:".encode())
            h.update(files[name].encode())
    return h.hexdigest()


def all_latest(session: Session) -> list[Definition]:
    newest = (select(Definition.process_key, func.max(Definition.version).label("v"))
              .group_by(Definition.process_key).subquery())
    return list(session.scalars(select(Definition).join(
        newest, (Definition.process_key == newest.c.process_key) & (Definition.version == newest.c.v))
        .order_by(Definition.process_key)))


# ------------------------------------------------------------- reads for people

def definition_json(d: Definition, *, with_sources: bool = False) -> dict:
    """A deployed version as the API and the pages show it (its files and forms on request)."""
    result = {"id": d.id, "process_key": d.process_key, "version": d.version, "name": d.name,
              "sha256": d.sha256, "deployed_at": d.deployed_at, "deployed_by": d.deployed_by,
              "comment": d.comment}
    if with_sources:
        result.update(sources=d.sources, forms=d.forms)
    return result


def show(session: Session, definition_id: int) -> dict:
    """One deployed version with its files and forms. Raises NotFound."""
    row = session.get(Definition, definition_id)
    if row is None:
        raise NotFound(f"definition {definition_id} does not exist")
    return definition_json(row, with_sources=True)


def show_version(session: Session, process_key: str, version: int) -> dict:
    """Version `version` of `process_key` with its files and forms. Raises NotFound."""
    return definition_json(version_row(session, process_key, version), with_sources=True)


def show_latest(session: Session, process_key: str) -> dict | None:
    """The newest version of `process_key` with its files and forms (None: not deployed)."""
    row = latest_definition(session, process_key, required=False)
    return definition_json(row, with_sources=True) if row is not None else None


def version_row(session: Session, process_key: str, version: int) -> Definition:
    """The row of `process_key` version `version`; raises NotFound."""
    row = session.scalars(select(Definition).where(Definition.process_key == process_key,
                                                   Definition.version == version)).first()
    if row is None:
        raise NotFound(f"process '{process_key}' has no version {version}", field="version")
    return row


def version_id(session: Session, process_key: str, version: int) -> int:
    """The definition id of `process_key` version `version`; raises NotFound."""
    return version_row(session, process_key, version).id


def latest_all_json(session: Session) -> list[dict]:
    """The newest version of every deployed process, by process key."""
    return [definition_json(d) for d in all_latest(session)]


def versions_json(session: Session, process_key: str) -> list[dict]:
    """Every version of `process_key`, oldest first (empty: not deployed)."""
    return [definition_json(d) for d in versions(session, process_key)]
