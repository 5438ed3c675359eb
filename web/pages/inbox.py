"""The department inbox, in the manner of Camunda Tasklist: filters on the left, the task list
sorted by SLA due time in the middle, the selected task on the right (its form, the request,
comments and attachments, the diagram, the history). Claim, release and complete answer the
page's script with fragments, so the page never reloads.

Visibility, the task list and the task pane come from the engine (engine.tasks, engine.tasklist,
engine.task_notes); every change is one engine verb in one unit of work.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

from flask import render_template, request, url_for
from flask_babel import gettext as _

from engine import (access, clock, config, department_settings, presence, saved_filters,
                    task_context, task_notes, tasklist, tasks)
from engine.definitions import catalog
from engine.errors import Conflict, EngineError, Forbidden, InvalidInput, NotFound
from engine.service_tiers import SERVICE_TIERS
from web import files, query
from web.pages import (bp, context, diagram, forms, i18n, live, refusals,  # noqa: F401
                       workspace)  # live: its routes

LIST_ARGS = ("department", "assignee", "overdue", "at_risk", "priority", "process", "tier", "sort",
             "page", "per_page")


@bp.get("/inbox")
@context.roles_required(*access.TASK_WORKERS)
def inbox():
    args = {k: v for k, v in request.args.items() if k in LIST_ARGS and v != ""}
    listing = _listing(args)
    selected = request.args.get("task") or (listing["rows"][0]["task_id"] if listing["rows"] else None)
    detail = _detail(selected) if selected else None
    with context.transaction() as db:
        saved = saved_filters.visible(db, context.actor())
    return render_template("inbox.html", listing=listing, detail=detail, selected=selected,
                           departments=access.visible_departments(context.actor()) or config.DEPARTMENTS,
                           processes=_processes(), tiers=SERVICE_TIERS, saved=saved)


@bp.get("/inbox/list")
@context.roles_required(*access.TASK_WORKERS)
def inbox_list():
    args = {k: v for k, v in request.args.items() if k in LIST_ARGS and v != ""}
    return render_template("_task_list.html", listing=_listing(args),
                           selected=request.args.get("task"))


@bp.get("/tasks/<task_id>")
@context.roles_required(*access.TASK_WORKERS)
def task(task_id):
    detail = _detail(task_id)
    template = "_task_detail.html" if context.is_fragment() else "task.html"
    return render_template(template, detail=detail)


@bp.post("/tasks/<task_id>/claim")
@context.roles_required(*access.TASK_WORKERS)
def claim(task_id):
    try:
        with context.transaction() as db:
            tasks.scope(db, context.actor(), task_id)
            context.runtime().claim(db, task_id, context.actor())
    except (Conflict, Forbidden) as err:      # the pane as it is now, and why
        return _after_action(task_id, refusals.say(err), kind="error", status=context.status_of(err))
    return _after_action(task_id, _("You claimed the task."))


@bp.post("/tasks/<task_id>/release")
@context.roles_required(*access.TASK_WORKERS)
def release(task_id):
    try:
        with context.transaction() as db:
            tasks.scope(db, context.actor(), task_id)
            context.runtime().release(db, task_id, context.actor())
    except (Conflict, Forbidden) as err:
        return _after_action(task_id, refusals.say(err), kind="error", status=context.status_of(err))
    return _after_action(task_id, _("The task is back in the department's queue."))


@bp.post("/tasks/<task_id>/complete")
@context.roles_required(*access.TASK_WORKERS)
def complete(task_id):
    """Complete the task with the posted form. Field errors come back as the form with its
    values (422); any other refusal as a sentence saying what to do (refusals.say), with the
    instance's current version in X-Task-Version, and the page's script keeps the form as
    typed. `then=next` answers with the next task of the list (`list`: its query string)."""
    version = request.form.get("version", type=int)
    try:
        with context.transaction() as db:
            scope = tasks.scope(db, context.actor(), task_id)
            # A completed task has no form: the verb below says it was already completed.
            schema = tasks.form_schema(db, scope) if scope.open else None
            data = forms.data_from(schema, request.form)
            department_settings.check_complete(db, scope, context.actor())
            context.runtime().complete(db, task_id, data, context.actor(), expected_version=version)
    except InvalidInput as err:
        errors = _field_errors(err)
        detail = _detail(task_id, values=request.form, errors=errors)
        template = "_task_detail.html" if context.is_fragment() else "task.html"
        flash = errors.get("") or _("Please correct the marked fields.")
        return render_template(template, detail=detail, flash=flash, flash_kind="error"), 422
    except EngineError as err:
        return _kept(task_id, err)
    message = _("Task completed. The request has moved on.")
    following = _next_task(task_id) if request.form.get("then") == "next" else None
    if following is not None:
        detail = _detail(following)
        if context.is_fragment():
            return render_template("_task_detail.html", detail=detail, flash=message), 200, \
                {"X-Refresh-List": "1", "X-Task-Id": following}
        return render_template("task.html", detail=detail, flash=message)
    if context.is_fragment():
        response = render_template("_done.html", message=message)
        return response, 200, {"X-Refresh-List": "1"}
    return render_template("task_done.html", message=message)


@bp.post("/tasks/<task_id>/comments")
@context.roles_required(*access.TASK_WORKERS)
def comment(task_id):
    text = request.form.get("body", "").strip()
    try:
        with context.transaction() as db:
            scope = tasks.scope(db, context.actor(), task_id)
            task_notes.add_comment(db, context.actor(), scope, text)
    except InvalidInput as refused:       # the engine's rule, said in the page's language
        return _kept(task_id, InvalidInput(
            _("A comment is 1 to %(n)s characters.", n=task_notes.MAX_COMMENT),
            field=refused.field))
    except EngineError as err:
        return _kept(task_id, err)
    return _after_action(task_id, _("Comment added."))


@bp.post("/tasks/<task_id>/attachments")
@context.roles_required(*access.TASK_WORKERS)
def attach(task_id):
    limit = context.settings().max_attachment_bytes
    filename, content_type, content = files.read_upload("file", limit)
    with context.transaction() as db:
        scope = tasks.scope(db, context.actor(), task_id)
        task_notes.add_attachment(db, context.actor(), scope, filename,
                                  content_type, content, max_bytes=limit,
                                  attachments_dir=context.settings().attachments_dir)
    return _after_action(task_id, _("File attached."))


@bp.get("/attachments/<id:attachment_id>")
@context.roles_required(*access.TASK_WORKERS)
def attachment(attachment_id):
    with context.transaction() as db:
        meta, content = tasks.attachment(db, context.actor(), attachment_id,
                                         context.settings().attachments_dir)
    return files.download(meta, content)


# ------------------------------------------------------------------ helpers

def _kept(task_id: str, err: EngineError):
    """The answer to a refused completion that keeps the person's input: for the page's script
    the sentence alone (it keeps the form), for a plain post the pane with the posted values."""
    status, message = context.status_of(err), refusals.say(err)
    if context.is_fragment():
        headers = {"X-Keep-Input": "1"}
        try:
            with context.transaction() as db:
                headers["X-Task-Version"] = str(tasks.open_task(db, task_id)["version"])
        except NotFound:            # completed or gone: there is nothing to send again
            pass
        return render_template("_error.html", status=status, message=message), status, headers
    try:
        detail = _detail(task_id, values=request.form)
    except EngineError:
        return render_template("error.html", status=status, message=message), status
    return render_template("task.html", detail=detail, flash=message, flash_kind="error"), status


def _next_task(done_id: str) -> str | None:
    """The first task of the person's list (the posted `list` query, else the whole inbox)
    that is not the one just done and that nobody else has claimed."""
    args = {k: v for k, v in parse_qsl(request.form.get("list", "")) if k in LIST_ARGS and v}
    args.pop("page", None)
    me = context.actor().name
    return next((row["task_id"] for row in _listing(args)["rows"]
                 if row["task_id"] != done_id and row["claimed_by"] in (None, me)), None)


def _after_action(task_id: str, message: str, kind: str = "success", status: int = 200):
    """The task's pane (or page) after an action, with `message` above it."""
    if context.is_fragment():
        return render_template("_task_detail.html", detail=_detail(task_id), flash=message,
                               flash_kind=kind), status, {"X-Refresh-List": "1"}
    return render_template("task.html", detail=_detail(task_id), flash=message,
                           flash_kind=kind), status


def _listing(args: dict) -> dict:
    filters, sort, page, per_page = query.task_filters(args)
    now = clock.now()
    with context.transaction() as db:
        rows, total = tasklist.list_tasks(db, context.actor(), filters, sort, page, per_page,
                                          now=now)
        rows = task_context.with_case(db, rows, now)
    pages = max(1, -(-total // per_page))
    return {"rows": rows, "total": total, "page": page, "pages": pages, "args": args,
            "sort": sort, "query": urlencode(args),
            "page_url": lambda n: url_for("pages.inbox", **{**args, "page": n})}


def _processes() -> list[tuple[str, str]]:
    """(key, name) of every deployed process, for the filter (the name in the page's language,
    from the BPMN's bilingual name; the key when it has none)."""
    with context.transaction() as db:
        return [(row["process_key"], i18n.bpmn_name(row["name"]) or row["process_key"])
                for row in catalog.latest_all_json(db)]


def _detail(task_id: str, values=None, errors=None) -> dict:
    """Everything the right-hand pane shows about one task (open or already completed):
    engine.tasks.detail, and beside the form the case (engine.task_context.pane). An
    escalation task shows the request it escalates, its order and the breached task."""
    actor = context.actor()
    with context.transaction() as db:
        detail = tasks.detail(db, context.runtime(), actor, task_id, with_history=True)
        definition = catalog.show(db, detail["definition_id"])
        escalated = task_context.escalated_request(db, detail["task"].get("request_number"))
        if detail["request"] is None and escalated is not None:
            detail.update(request=escalated, order=tasks.order_of(db, actor, escalated),
                          payments=tasks.payments_of(db, actor, escalated))
        case = task_context.pane(db, actor, detail["request"], detail["order"])
        present = presence.others(db, task_id, actor, clock.now()) if detail["open"] else []
        claim_first = detail["open"] and department_settings.claim_required(
            db, detail["task"].get("department"))
    task, data, schema = detail["task"], detail["data"], detail["form_schema"]
    open_task = detail["open"]
    if detail.get("request"):
        detail["request"] = {**detail["request"], "items": _shown_items(detail["request"]["items"])}
    known = task_context.prefill(schema, data, detail["request"], detail["order"],
                                 detail.get("payments"))
    return {**detail, "schema": schema, "case": case, "escalated": escalated,
            "working_on": workspace.working_on(present), "claim_first": claim_first,
            "breached_task": data.get("task_id") if escalated else None,
            "fields": forms.fields_of(schema, dict(values) if values else known, errors),
            "errors": errors or {}, "names": diagram.element_names(definition["sources"]),
            "diagram": diagram.view(definition, diagram.marks_of(**detail["elements"])),
            "mine": open_task and task.get("claimed_by") == actor.name,
            "may_act": open_task and (actor.works_in(task.get("department"))
                                      or task.get("claimed_by") == actor.name)}


def _shown_items(items) -> list[dict]:
    """A request's items as the pane lists them: a request filed before its items were checked
    may hold something other than [{sku, name, quantity}] (`items: ["x"]` was a 500)."""
    if not isinstance(items, list):
        return [] if items is None else [{"name": str(items)}]
    return [i if isinstance(i, dict) else {"name": str(i)} for i in items]


def _field_errors(err: EngineError) -> dict[str, str]:
    """Field name -> message, from the engine's InvalidInput (the first error per field)."""
    errors: dict[str, str] = {}
    for item in err.details if isinstance(err.details, list) else []:
        name = item.get("field") or ""
        errors.setdefault(name, _message(item.get("message", "")))
    if not errors:
        errors[err.field or ""] = refusals.field_message(err) or _message(err.message)
    return errors


def _message(text: str) -> str:
    """jsonschema's message for one field, said for the person filling in the form."""
    if "is a required property" in text:
        return _("This field is required.")
    if re.search(r"is not of type '(number|integer)'", text):
        return _("Enter a number.")
    if "is not of type 'boolean'" in text:
        return _("Choose yes or no.")
    if "is not one of" in text:
        return _("Choose one of the options.")
    bound = re.search(r"is (less|greater) than the (minimum|maximum) of (\S+)", text)
    if bound:
        return (_("Must be at least %(n)s.", n=bound.group(3)) if bound.group(1) == "less"
                else _("Must be at most %(n)s.", n=bound.group(3)))
    if "is too long" in text:
        return _("This is too long.")
    if "is too short" in text or "should be non-empty" in text:
        return _("This is too short.")
    if "does not match" in text:
        return _("This is not in the expected format.")
    return text


@bp.app_template_filter("span")
def span(seconds: int | None) -> str:
    """A length of time for a task row, the two largest units ("2 d 3 h", "45 min")."""
    if seconds is None:
        return "–"
    minutes = abs(int(seconds)) // 60
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return _("%(d)s d %(h)s h", d=days, h=hours)
    if hours:
        return _("%(h)s h %(m)s min", h=hours, m=minutes)
    return _("%(m)s min", m=minutes)
