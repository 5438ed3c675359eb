"""Process owner pages: processes and their versions, upload with validation (every problem
with its file and line), deploy, the difference between two versions drawn on the diagram
(engine.definitions.versions), and the migration of running instances with a dry run first
(engine.runtime.instance_migration)."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from engine import access, instances
from engine.definitions import catalog, versions
from engine.definitions.bundle import Bundle
from engine.errors import InvalidDefinition, InvalidInput, NotFound
from engine.runtime import instance_migration
from web import query
from web.pages import bp, context, diagram

VERSION_MAX = 2**31 - 1


@bp.get("/processes")
@context.roles_required(*access.OWNERS)
def processes():
    with context.transaction() as db:
        latest = catalog.latest_all_json(db)
        running = instances.unfinished_by_key(db)
    return render_template("processes.html", latest=latest, running=running)


@bp.get("/processes/<key>")
@context.roles_required(*access.OWNERS)
def process(key):
    with context.transaction() as db:
        rows = catalog.versions_json(db, key)
        if not rows:
            raise NotFound(_("Process %(key)s is not deployed.", key=key))
        running = instances.unfinished_by_version(db, key)
        newest = catalog.show(db, rows[-1]["id"])
    return render_template("process.html", key=key, versions=rows, running=running,
                           newest=newest, diagram_view=diagram.view(newest, {}, prefer=key))


@bp.get("/processes/<key>/diff")
@context.roles_required(*access.OWNERS)
def process_diff(key):
    v1, v2 = _version_arg("a"), _version_arg("b")
    with context.transaction() as db:
        result = versions.diff(db, key, v1, v2)
        old, new = catalog.show_version(db, key, v1), catalog.show_version(db, key, v2)
        impact = versions.impact(db, key, v1, v2) if v1 < v2 else []
    removed = {e["id"]: "removed" for e in result.removed}
    added = {e["id"]: "added" for e in result.added}
    changed = {e["id"]: "changed" for e in result.changed}
    return render_template("diff.html", key=key, old=old, new=new, diff=result, impact=impact,
                           old_view=diagram.view(old, {**removed, **changed}, prefer=key),
                           new_view=diagram.view(new, {**added, **changed}, prefer=key))


@bp.route("/processes/<key>/migrate", methods=["GET", "POST"])
@context.roles_required(*access.OWNERS)
def process_migrate(key):
    """Dry run first (plan), then the move itself; each instance moves or stays as it was."""
    with context.transaction() as db:
        all_versions = versions.list_versions(db, key)
        running = instances.unfinished_by_version(db, key)
    report, moved, source, target, mapping_text = None, False, None, None, ""
    if request.method == "POST":
        source, target = _version_arg("from", request.form), _version_arg("to", request.form)
        mapping_text = request.form.get("mapping", "")
        mapping = _mapping(mapping_text)
        with context.transaction() as db:
            target_id = catalog.version_id(db, key, target)
            source_id = catalog.version_id(db, key, source)
            ids = instances.to_migrate(db, source_id)
            dry_run = request.form.get("action") != "migrate"
            report = instance_migration.migrate(db, context.runtime(), ids, target_id, mapping,
                                       context.actor(), dry_run=dry_run)
            keys = instances.business_keys(db, ids)
        report = [dict(r, instance_id=i, business_key=keys.get(i)) for i, r in report.items()]
        moved = not dry_run
    return render_template("migrate.html", key=key, versions=all_versions, running=running,
                           report=report, moved=moved, source=source, target=target,
                           mapping_text=mapping_text)


@bp.route("/processes/upload", methods=["GET", "POST"])
@context.roles_required(*access.OWNERS)
def upload():
    if request.method == "GET":
        return render_template("upload.html")
    request.max_content_length = context.settings().max_upload_bytes
    action = request.form.get("action", "validate")
    try:
        bundle = Bundle.from_files(((u.filename or "", u.read())
                                    for u in request.files.getlist("files")),
                                   ((u.filename or "", u.read())
                                    for u in request.files.getlist("messages") if u.filename))
    except InvalidDefinition as err:
        return _upload_result(action, _refused_files(err))
    problems, deployed, warnings, would = [], None, [], None
    try:
        with context.transaction() as db:
            if action == "deploy":
                deployed = catalog.deploy(db, bundle, context.actor().name,
                                          comment=request.form.get("comment") or None,
                                          warnings=warnings)
                problems = [w.as_dict() for w in warnings]
            else:
                # The same plan deploy runs: what it would version, and what stays as it is.
                planned = catalog.plan(db, bundle)
                problems = [p.as_dict() for p in planned.problems]
                would = [{"process_key": p.process_key, "changed": p.changed}
                         for p in planned.processes]
    except InvalidDefinition as err:
        problems = err.details or [{"file": "", "line": None, "element_id": None,
                                    "message": err.message}]
    return _upload_result(action, problems, deployed,
                          sorted(bundle.files) + sorted(bundle.forms)
                          + [f"messages/{name}" for name in sorted(bundle.messages)], would)


def _upload_result(action: str, problems: list, deployed=None, files=(), would=None):
    template = "_upload_result.html" if context.is_fragment() else "upload.html"
    # Warnings (severity "warning") are shown beside the errors but do not stop a deploy.
    errors = [p for p in problems if p.get("severity", "error") == "error"]
    warnings = [p for p in problems if p.get("severity") == "warning"]
    return render_template(template, problems=errors, warnings=warnings, deployed=deployed,
                           action=action, files=list(files), would=would or []), \
        422 if errors else 200


def _refused_files(err: InvalidDefinition) -> list[dict]:
    """The reader's refusal of an upload (engine.definitions.bundle), said in the page's
    language: each refused file, or that no BPMN or DMN file was chosen."""
    if not isinstance(err.details, list):
        message = _("Choose at least one .bpmn or .dmn file.")
        return [{"file": "", "line": None, "element_id": None, "message": message}]
    return [dict(p, message=_("%(name)s is not a .bpmn, .dmn or form .json file.",
                              name=p["file"])) for p in err.details]


def _version_arg(name: str, source=None) -> int:
    value = (source if source is not None else request.args).get(name, "")
    try:
        return query.integer(value, name, 1, VERSION_MAX)
    except InvalidInput:
        raise InvalidInput(_("Choose two deployed versions."), field=name) from None


def _mapping(text: str) -> dict[str, str]:
    """`old_id=new_id` lines (renamed elements) as a mapping for engine.runtime.instance_migration."""
    mapping = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        old, sep, new = line.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InvalidInput(_("Write one old_id=new_id per line."), field="mapping")
        mapping[old.strip()] = new.strip()
    return mapping
