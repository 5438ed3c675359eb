"""Process owners' drafts in the browser (engine/definitions/drafts.py): the list, the editor
(templates/editor.html and the bundle built from web/frontend/), what the editor asks while an
owner types (field checks, live validation of the files as they are in the page, the form
preview), the what-if report of a draft against the last N days of finished requests (kept for
the supervisors: engine/whatif_results.py), and the deploy from a draft with the version diff
on the diagram and a confirmation.

The editor's own calls answer JSON ({"error": {...}} with the API's status codes on a refusal);
the pages answer HTML. Owners and admins only; whose draft it is the engine decides.
"""
from __future__ import annotations

import functools

from flask import Response, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import access, clock, whatif_results
from engine.config import DEPARTMENTS
from engine.definitions import authoring, catalog, drafts, versions
from engine.errors import EngineError, InvalidDefinition, InvalidInput
from engine.history import whatif, whatif_report
from web import query
from web.errors import engine_error
from web.pages import bp, context, diagram, forms, i18n

DEFAULT_DAYS = 30
DEFAULT_LIMIT = 50


def json_view(view):
    """An editor call: the engine's refusals as the API's JSON error shape, not a page."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except EngineError as err:
            return engine_error(err)
    return wrapped


def _json_body() -> dict:
    data = _sent_json()
    if not isinstance(data, dict):
        raise InvalidInput(_("Send a JSON object."), field="body")
    return data


def _sent_json():
    """The editor's JSON body, None when it is not JSON: also when nested deeper than the
    parser goes, whose RecursionError `silent` lets through (it is no ValueError)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


# ------------------------------------------------------------------ the list

@bp.get("/drafts")
@context.roles_required(*access.OWNERS)
def drafts_list():
    with context.transaction() as db:
        items = drafts.listing(db, context.actor())
        latest = catalog.latest_all_json(db)
    return render_template("drafts.html", items=items, latest=latest)


@bp.post("/drafts")
@context.roles_required(*access.OWNERS)
def draft_new():
    key = request.form.get("process_key", "")
    title = request.form.get("title") or _("Changes to %(key)s", key=key)
    with context.transaction() as db:
        files, base = drafts.starting_files(db, key, None, context.settings().max_upload_bytes)
        draft = drafts.create(db, context.actor(), title, files, base=base,
                              note=_("Started from the deployed version"))
    return redirect(url_for("pages.draft_editor", draft_id=draft.id))


# ------------------------------------------------------------------ the editor

@bp.get("/drafts/<id:draft_id>")
@context.roles_required(*access.OWNERS)
def draft_editor(draft_id: int):
    number = request.args.get("revision")
    number = query.integer(number, "revision", 1, 2**31 - 1) if number else None
    with context.transaction() as db:
        draft = drafts.get(db, context.actor(), draft_id)
        shown = drafts.show(db, draft, number)
        vocabulary = authoring.vocabulary(db)
        owners = drafts.shareable_with(db, draft)
    config = {"files": shown["files"], "revision": shown["revision"],
              "open": request.args.get("file"),
              "vocabulary": vocabulary, "labels": {d: i18n.label(d) for d in DEPARTMENTS},
              "locale": "zh-CN" if i18n.current() == "zh_CN" else "en",
              "timezone": context.settings().timezone, "text": _editor_text(),
              "urls": {"check": url_for("pages.editor_check"),
                       "validate": url_for("pages.draft_check", draft_id=draft_id),
                       "save": url_for("pages.draft_save", draft_id=draft_id),
                       "formPreview": url_for("pages.editor_form_preview")}}
    return render_template("editor.html", draft=shown, config=config, owners=owners)


@bp.post("/drafts/<id:draft_id>/save")
@context.roles_required(*access.OWNERS)
@json_view
def draft_save(draft_id: int):
    data = _json_body()
    files = drafts.checked_files(data.get("files"), context.settings().max_upload_bytes)
    base = data.get("base_revision")
    if not isinstance(base, int) or isinstance(base, bool):
        raise InvalidInput(_("base_revision must be a revision number."), field="base_revision")
    with context.transaction() as db:
        saved = drafts.save(db, context.actor(), draft_id, files, base_revision=base,
                            note=data.get("note") or None)
        return jsonify({"revision": saved.number, "saved_by": saved.saved_by})


@bp.post("/drafts/<id:draft_id>/check")
@context.roles_required(*access.OWNERS)
@json_view
def draft_check(draft_id: int):
    """The problems of the files as they are in the page (not saved), by deploy's plan."""
    files = drafts.checked_files(_json_body().get("files"), context.settings().max_upload_bytes)
    with context.transaction() as db:
        drafts.get(db, context.actor(), draft_id)
        return jsonify(drafts.validation(db, files))


@bp.post("/editor/check")
@context.roles_required(*access.OWNERS)
@json_view
def editor_check():
    data = _json_body()
    return jsonify(authoring.check(data.get("kind"), data.get("text"),
                                   context.runtime().calendar, clock.now()))


@bp.post("/editor/form-preview")
@context.roles_required(*access.OWNERS)
def editor_form_preview():
    """The form as staff will see it (web/pages/forms.fields_of, as the task page reads it)."""
    sent = _sent_json()
    schema = sent.get("schema") if isinstance(sent, dict) else None
    fields = forms.fields_of(schema if isinstance(schema, dict) else None)
    return render_template("_form_preview.html", schema=schema, fields=fields)


@bp.post("/drafts/<id:draft_id>/share")
@context.roles_required(*access.OWNERS)
def draft_share(draft_id: int):
    with context.transaction() as db:
        drafts.share(db, context.actor(), draft_id, request.form.get("username", ""))
    return redirect(url_for("pages.draft_editor", draft_id=draft_id))


@bp.get("/drafts/<id:draft_id>/bundle.zip")
@context.roles_required(*access.OWNERS)
def draft_bundle(draft_id: int):
    with context.transaction() as db:
        draft = drafts.get(db, context.actor(), draft_id)
        content = drafts.zip_of(drafts.head_files(db, draft))
        head = draft.head
    return Response(content, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="draft-{draft_id}-r{head}.zip"'})


@bp.get("/drafts/<id:draft_id>/files.json")
@context.roles_required(*access.OWNERS)
def draft_files(draft_id: int):
    """{file name: BPMN XML} of the draft's newest revision, for the diagram viewer."""
    with context.transaction() as db:
        files = drafts.head_files(db, drafts.get(db, context.actor(), draft_id))
    return jsonify(diagram.bpmn_files(drafts.bundle_sources(files)))


# ------------------------------------------------------------------ what-if

@bp.route("/drafts/<id:draft_id>/whatif", methods=["GET", "POST"])
@context.roles_required(*access.OWNERS)
def draft_whatif(draft_id: int):
    source = request.form if request.method == "POST" else request.args
    days = query.integer(source.get("days") or str(DEFAULT_DAYS), "days", 1,
                         whatif_report.MAX_DAYS)
    report, problems = None, []
    with context.transaction() as db:
        shown = drafts.summary(drafts.get(db, context.actor(), draft_id))
        if request.method == "POST":
            try:
                report = whatif_results.run(db, context.actor(), draft_id,
                                            context.runtime().script_engine, days=days,
                                            limit=DEFAULT_LIMIT, now=clock.now())
            except InvalidDefinition as err:
                problems = err.details or []
    return render_template("whatif.html", draft=shown, days=days, report=report,
                           problems=problems), 422 if problems else 200


@bp.get("/drafts/<id:draft_id>/whatif/<id:instance_id>")
@context.roles_required(*access.OWNERS)
def draft_whatif_request(draft_id: int, instance_id: int):
    """One request of the report on the draft's diagram: where the candidate parts from it."""
    with context.transaction() as db:
        draft = drafts.get(db, context.actor(), draft_id)
        files = drafts.head_files(db, draft)
        [outcome] = whatif.whatif(db, drafts.bundle_of(files), context.runtime().script_engine,
                                  instance_ids=[instance_id])
    divergence = outcome.divergence or {}
    marks = {e: "completed" for e in _position(divergence.get("recorded"), "completed")}
    marks.update({e: "waiting" for e in _position(divergence.get("candidate"), "completed")})
    if divergence.get("element"):
        marks[divergence["element"]] = "ready"
    view = diagram.view({"sources": drafts.bundle_sources(files)}, marks,
                        focus=divergence.get("element"),
                        files_url=url_for("pages.draft_files", draft_id=draft_id))
    return render_template("whatif_request.html", draft=drafts.summary(draft),
                           outcome=outcome.as_dict(), view=view)


def _position(side, part: str) -> list[str]:
    return list(side.get(part, [])) if isinstance(side, dict) else []


# ------------------------------------------------------------------ deploy

@bp.route("/drafts/<id:draft_id>/deploy", methods=["GET", "POST"])
@context.roles_required(*access.OWNERS)
def draft_deploy(draft_id: int):
    deployed, problems = None, []
    with context.transaction() as db:
        draft = drafts.get(db, context.actor(), draft_id)
        if request.method == "POST":
            if request.form.get("confirm") != "yes":
                raise InvalidInput(_("Tick the box to confirm the deploy."), field="confirm")
            revision = query.integer(request.form.get("revision", ""), "revision", 1, 2**31 - 1)
            try:
                deployed = drafts.deploy(db, context.actor(), draft_id, revision,
                                         comment=request.form.get("comment") or None)
            except InvalidDefinition as err:
                problems = err.details or []
        changes = []
        if not deployed:
            changes, found = _changes(db, drafts.head_files(db, draft), draft_id)
            problems = problems or found
        shown = drafts.summary(draft)
    return render_template("draft_deploy.html", draft=shown, changes=changes, deployed=deployed,
                           problems=problems), 422 if problems else 200


def _changes(db, files: dict[str, str], draft_id: int) -> tuple[list[dict], list[dict]]:
    """Per process the draft would version: the diff against its newest deployed version, drawn
    on the draft's diagram; and the errors that would stop the deploy."""
    try:
        planned = catalog.plan(db, drafts.bundle_of(files))
    except InvalidDefinition as err:
        return [], err.details or [{"file": "", "line": None, "element_id": None,
                                    "message": err.message}]
    result = []
    for entry in planned.processes:
        if not entry.changed:
            continue
        old_version = entry.latest.version if entry.latest else 0
        before = versions.elements(entry.latest.sources, entry.latest.forms) if entry.latest else {}
        diff = versions.diff_sources(entry.process_key, old_version, old_version + 1, before,
                                     versions.elements(entry.sources, entry.forms))
        marks = {**{e["id"]: "added" for e in diff.added},
                 **{e["id"]: "changed" for e in diff.changed}}
        view = diagram.view({"sources": entry.sources}, marks, prefer=entry.process_key,
                            files_url=url_for("pages.draft_files", draft_id=draft_id))
        result.append({"process_key": entry.process_key, "from": old_version,
                       "to": old_version + 1, "diff": diff, "view": view})
    return result, [p.as_dict() for p in planned.errors]


def _editor_text() -> dict:
    """The editor's words in the page's language."""
    return {
        "group": _("After-sales"), "ok": _("OK"), "department": _("Department (lane)"),
        "form": _("Task form"), "newForm": _("New form…"),
        "sla": _("SLA (ISO duration or a data field)"),
        "slaDue": _("due %(at)s if opened now", at="%s"),
        "slaField": _("read from the data field %(field)s", field="%s"),
        "script": _("Script (Python, sandboxed)"), "condition": _("Condition (Python expression)"),
        "preScript": _("Script before the task"), "postScript": _("Script after the task"),
        "message": _("Message"), "operation": _("Service operation"), "timer": _("Timer"),
        "parameters": _("Parameters of the operation"),
        "parametersHint": _("One per line: name: type = expression (read in the task's data)"),
        "timerKind": _("Timer kind"),
        "timerKinds": {"timeDuration": _("After a duration"), "timeDate": _("At a date"),
                       "timeCycle": _("Repeating")},
        "timerDue": _("fires at %(at)s if started now", at="%s"),
        "timerCycle": _("%(n)s times, every %(every)s", n="%n", every="%s"),
        "unsaved": _("Unsaved changes"), "saved": _("Saved as revision %(n)s", n="%n"),
        "problems": _("%(n)s problem(s): this would not deploy", n="%n"),
        "noProblems": _("No problems: this would deploy"),
        "formName": _("Name of the new form (letters, digits, _)"),
        "fields": _("Fields"), "fieldKey": _("Key"), "labelEn": _("Label (English)"),
        "labelZh": _("Label (Chinese)"), "fieldType": _("Type"), "required": _("Required"),
        "options": _("Options"), "limits": _("Limits"), "addField": _("Add a field"),
        "rawJson": _("JSON Schema"), "preview": _("As staff will see it"),
        "badJson": _("Not valid JSON"), "remove": _("Remove"),
        "types": {"string": _("Text"), "text": _("Long text"), "number": _("Number"),
                  "money": _("Amount (CNY)"), "integer": _("Whole number"),
                  "boolean": _("Yes / no"), "select": _("Choice")},
    }

