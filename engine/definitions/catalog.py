"""Process definitions: bundles of BPMN/DMN files, forms and message schemas, deployed as
versioned rows.

A bundle is what a process owner uploads or keeps in a folder: a whole folder, or one process
file with its forms, or one DMN file. `plan` is the one code path of validate and deploy (the
API, the owner's page, the CLI and what-if all call it): it completes the upload from the
newest deployed versions (engine.definitions.resolution), validates the whole (nothing is
stored if any file has an error), works out each process's closure (engine.definitions.
dependencies: its own file, the files of the processes it calls, the DMN files with the
decisions they evaluate, their forms and message schemas) with a sha256 of exactly that
content, and compiles every closure that would become a new version, so that what validates
deploys. `deploy` stores one `Definition` row per process whose closure changed. Parsed specs
are cached per row.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock, config
from engine.definitions import messages as message_schemas
from engine.definitions import resolution, validation, xmlsafe
from engine.definitions.bundle import DMN_SUFFIX, Bundle
from engine.definitions.messages import file_name
from engine.errors import InvalidDefinition, NotFound
from engine.history import global_log
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
    messages: dict[str, dict] = field(default_factory=dict)   # message name -> JSON Schema

    def form_schema(self, bpmn_id: str) -> dict | None:
        meta = self.tasks.get(bpmn_id)
        if meta is None or meta.form is None:
            return None
        return self.forms.get(meta.form)


@dataclass
class Planned:
    """One process an upload would deploy: its closure, digest and the newest deployed row."""

    process_key: str
    name: str
    sources: dict[str, str]
    forms: dict[str, str]
    messages: dict[str, str]
    sha256: str
    latest: Definition | None
    compiled: Compiled | None = None     # compiled when it would become a new version

    @property
    def changed(self) -> bool:
        return self.latest is None or self.latest.sha256 != self.sha256


@dataclass
class Plan:
    """What deploying an upload would do; `problems` are those validate reports."""

    problems: list[validation.Problem]
    processes: list[Planned]

    @property
    def errors(self) -> list[validation.Problem]:
        """The problems that stop the deploy (warnings deploy)."""
        return validation.errors(self.problems)


def plan(session: Session, bundle: Bundle) -> Plan:
    """What deploying `bundle` would do, resolved against the newest deployed versions."""
    return plan_against(bundle, all_latest(session))


def plan_against(bundle: Bundle, deployed) -> Plan:
    """`plan` against the versions `deployed` (Definition rows; [] for an empty platform)."""
    bundle.require_sources()
    resolved = resolution.resolve(bundle, deployed)
    effective = resolved.bundle
    problems = validation.validate_bundle(effective.files, effective.forms,
                                          departments=config.DEPARTMENTS,
                                          messages=effective.messages)
    problems = [_located(p, resolved.origins) for p in problems]
    if not resolved.targets and not validation.errors(problems):
        problems.append(validation.Problem(sorted(bundle.files)[0], None, None, (
            "nothing to deploy: the upload has no executable process, and no deployed process "
            "evaluates a decision of its DMN files")))
    problems += [validation.Problem(sorted(bundle.files)[0], None, key, (
        f"process {key!r} evaluates a decision of the upload, but its deployed file could not "
        "be taken beside the upload's files of the same name; upload it too"))
        for key in resolved.targets if key not in resolved.index.processes]
    if validation.errors(problems):
        return Plan(problems, [])
    latest = {row.process_key: row for row in deployed}
    planned = [_closure(resolved, key, latest.get(key)) for key in resolved.targets]
    for entry in planned:
        if not entry.changed:
            continue
        try:
            entry.compiled = compile_sources(entry.process_key, entry.sources, entry.forms,
                                             entry.messages)
        except Exception as exc:  # what validation missed must be a problem, never a 500
            problems.append(validation.Problem(
                resolved.index.processes[entry.process_key].file, None, entry.process_key,
                f"the process cannot be loaded as it would be deployed: "
                f"{type(exc).__name__}: {exc}"))
    return Plan(problems, planned)


def _closure(resolved: resolution.Resolved, key: str, latest: Definition | None) -> Planned:
    closure = resolved.index.closure(key)
    files, forms, schemas = resolved.bundle.files, resolved.bundle.forms, resolved.bundle.messages
    sources = {name: files[name].decode("utf-8") for name in sorted(closure.files)}
    used_forms = {name: forms[name].decode("utf-8") for name in sorted(closure.forms)
                  if name in forms}
    used_messages = {name: schemas[file_name(name)].decode("utf-8")
                     for name in sorted(closure.messages) if file_name(name) in schemas}
    return Planned(key, resolved.index.processes[key].name, sources, used_forms, used_messages,
                   digest(sources, used_forms, used_messages), latest)


def _located(problem: validation.Problem, origins: dict[str, str]) -> validation.Problem:
    # A problem in a file the upload did not carry says which deployed version it came from.
    origin = origins.get(problem.file)
    if origin is None:
        return problem
    return dataclasses.replace(problem, file=f"{problem.file} (deployed {origin})")


def validate(bundle: Bundle) -> list[validation.Problem]:
    """Every problem of the bundle on its own, as if nothing were deployed (empty: it deploys
    on an empty platform)."""
    return plan_against(bundle, []).problems


def validate_against_deployed(session: Session, bundle: Bundle) -> list[validation.Problem]:
    """Every problem of the bundle completed from what is deployed: exactly the problems that
    `deploy` refuses it for (its errors) or shows with it (its warnings)."""
    return plan(session, bundle).problems


def deploy(session: Session, bundle: Bundle, actor: str | None, comment: str | None = None,
           warnings: list | None = None) -> list[Deployed]:
    """Validate and store the bundle; returns one entry per process it deploys (the upload's
    executable processes and the deployed users of its DMN decisions), `created` False for
    those whose closure is unchanged.

    Raises InvalidDefinition (with every problem in `details`) and stores nothing if any file
    has an error. Its warnings do not stop it; they are appended to `warnings` when given
    (the API, the page and the CLI show them with the answer). Each new version is a
    `definition_deployed` action of `actor` in the global audit log, with its sha256.
    """
    planned = plan(session, bundle)
    if planned.errors:
        raise InvalidDefinition(f"{len(planned.errors)} problem(s) in the upload",
                                details=[p.as_dict() for p in planned.problems])
    if warnings is not None:
        warnings.extend(p for p in planned.problems if not p.is_error)
    results = []
    for entry in planned.processes:
        latest = entry.latest
        if not entry.changed:
            results.append(Deployed(entry.process_key, latest.version, latest.id, created=False))
            continue
        row = Definition(process_key=entry.process_key,
                         version=(latest.version + 1) if latest else 1, name=entry.name,
                         sha256=entry.sha256, sources=entry.sources, forms=entry.forms,
                         messages=entry.messages, deployed_at=clock.now(), deployed_by=actor,
                         comment=comment)
        session.add(row)
        session.flush()
        # The content's digest goes into the global audit log: a definition row changed later
        # no longer matches what was deployed.
        global_log.record(session, "definition_deployed", actor=actor,
                          subject=f"{row.process_key} v{row.version}",
                          payload={"definition_id": row.id, "sha256": row.sha256,
                                   "comment": comment})
        results.append(Deployed(entry.process_key, row.version, row.id, created=True))
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
    return compile_sources(row.process_key, row.sources, row.forms, row.messages,
                           definition_id=row.id, version=row.version)


def compile_sources(process_key: str, sources: dict[str, str], forms: dict[str, str],
                    messages: dict[str, str] | None = None, *,
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
    return Compiled(definition_id, process_key, version, spec, subs, parsed_forms, tasks,
                    message_schemas.parsed(messages))


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


def digest(sources: dict, forms: dict, messages: dict | None = None) -> str:
    """The sha256 of a closure; without message schemas it is what it was before they
    existed, so an unchanged closure of such a version stays unchanged."""
    h = hashlib.sha256()
    for kind, files in (("src", sources), ("form", forms), ("message", messages or {})):
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
        result.update(sources=d.sources, forms=d.forms, messages=d.messages or {})
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
