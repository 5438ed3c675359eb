"""Supervisor pages: the overdue board across the departments a supervisor oversees,
reassigning its tasks in bulk (all or nothing, like POST /api/tasks/reassign), and the rules of
those departments (engine.department_settings: a claim before completing), and one request's
process: suspend, resume, cancel, retry or skip its incident, reassign each task (the verbs of
POST /api/instances/{id}/... and /api/tasks/{id}/reassign), irreversible ones confirmed first;
and the process owners' proposed changes, read only: the last what-if of each draft cut to the
requests and work of the supervisor's departments (engine/whatif_results.py)."""
from __future__ import annotations

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine import (access, clock, config, department_settings, instances, supervision, tasklist,
                    tasks, users, whatif_results)
from engine.errors import EngineError, Forbidden, InvalidInput
from engine.jobs import outbox
from web import read_json
from web.pages import bp, context, i18n, refusals

BOARD_SIZE = tasklist.MAX_PER_PAGE


@bp.get("/overdue")
@context.roles_required(*access.SUPERVISORS)
def overdue():
    return render_template("overdue.html", settings=_settings(), **_board())


@bp.get("/incidents")
@context.roles_required(*access.SUPERVISORS)
def incident_list():
    """Requests whose process stopped on a failed step and that the supervisor may mend."""
    return render_template("incidents.html", **_incidents_view())


def _incidents_view(**extra) -> dict:
    """The requests in error the supervisor may mend and, for admins, the side effects that
    failed too often (outbox incidents: retried, skipped, or retried with a corrected payload)."""
    with context.transaction() as db:
        found = supervision.incidents(db, context.actor())
        effects = outbox.incidents(db) if context.actor().role in access.ADMIN else []
    return {"incidents": found, "effects": effects, **extra}


@bp.post("/incidents/outbox/<id:outbox_id>/<action>")
@context.roles_required(*access.ADMIN)
def resolve_effect(outbox_id, action):
    """Retry a failed side effect (its payload as corrected in the form, the change audited) or
    skip it after a confirmation, as POST /api/incidents/{id} does."""
    if action not in ("retry", "skip"):
        abort(404)
    text = request.form.get("payload", "").strip()
    try:
        if action == "skip" and request.form.get("confirm") != "yes":
            return render_template("incidents.html", **_incidents_view(confirm=outbox_id))
        try:
            payload = read_json(text) if text and action == "retry" else None
        except ValueError:
            raise InvalidInput(_("The payload must be JSON (an object)."), field="payload") \
                from None
        with context.transaction() as db:
            outbox.resolve_incident(db, outbox_id, action, context.actor(), payload)
    except EngineError as err:
        return render_template("incidents.html", flash=refusals.explain(err) + " " + err.message,
                               flash_kind="error", **_incidents_view()), context.status_of(err)
    said = _("Retried: it goes out again.") if action == "retry" else _("Skipped.")
    return render_template("incidents.html", flash=said, **_incidents_view())


@bp.post("/departments/<department>/settings")
@context.roles_required(*access.SUPERVISORS)
def department_setting(department):
    """Turn a department's claim-before-completing rule on or off (its supervisors only)."""
    required = request.form.get("claim_required") == "true"
    try:
        with context.transaction() as db:
            department_settings.set_claim_required(db, context.actor(), department, required,
                                                   clock.now())
    except EngineError as err:
        return render_template("overdue.html", settings=_settings(), flash=err.message,
                               flash_kind="error", **_board()), context.status_of(err)
    message = (_("%(department)s: tasks must now be claimed before they are completed.",
                 department=i18n.label(department)) if required else
               _("%(department)s: tasks may be completed without a claim.",
                 department=i18n.label(department)))
    return render_template("overdue.html", settings=_settings(), flash=message, **_board())


@bp.post("/overdue/reassign")
@context.roles_required(*access.SUPERVISORS)
def reassign():
    task_ids = request.form.getlist("task_id")
    assignee = request.form.get("assignee") or None
    template = "_overdue_board.html" if context.is_fragment() else "overdue.html"
    try:
        if not task_ids:
            raise InvalidInput(_("Tick at least one task."), field="task_id")
        with context.transaction() as db:        # the first refusal rolls every change back
            users.check_assignee(db, assignee)
            for task_id in task_ids:
                tasks.scope(db, context.actor(), task_id)
                context.runtime().reassign(db, task_id, assignee, context.actor())
    except EngineError as err:
        return render_template(template, flash=err.message, flash_kind="error",
                               settings=_settings(), **_board()), context.status_of(err)
    message = (_("%(n)s task(s) reassigned to %(who)s.", n=len(task_ids), who=assignee) if assignee
               else _("%(n)s task(s) put back in the department queue.", n=len(task_ids)))
    return render_template(template, flash=message, settings=_settings(), **_board())


def _settings() -> dict[str, dict]:
    """The settings of the departments the supervisor oversees."""
    departments = access.visible_departments(context.actor()) or config.DEPARTMENTS
    with context.transaction() as db:
        return department_settings.of(db, departments)


def _board() -> dict:
    actor = context.actor()
    departments = access.visible_departments(actor)
    with context.transaction() as db:
        breached, n_breached = tasklist.list_tasks(db, actor, tasklist.Filters(overdue=True),
                                                   "due", 1, BOARD_SIZE)
        at_risk, n_at_risk = tasklist.list_tasks(db, actor, tasklist.Filters(at_risk=True),
                                                 "due", 1, BOARD_SIZE)
        people = users.staff_of(db, departments)
    by_department: dict[str, list] = {}
    for row in breached:
        by_department.setdefault(row["department"], []).append(row)
    return {"breached": breached, "n_breached": n_breached, "at_risk": at_risk,
            "n_at_risk": n_at_risk, "by_department": by_department, "people": people}


# ------------------------------------------------------------------ proposed changes

@bp.get("/supervise/whatif")
@context.roles_required(*access.SUPERVISORS)
def whatif_results_list():
    """The drafts whose last what-if touches requests of the supervisor's departments."""
    with context.transaction() as db:
        found = whatif_results.listing(db, context.actor())
    return render_template("whatif_results.html", results=found,
                           departments=access.visible_departments(context.actor()))


@bp.get("/supervise/whatif/<id:draft_id>")
@context.roles_required(*access.SUPERVISORS)
def whatif_result(draft_id):
    """One draft's last what-if, the requests and work of the supervisor's departments only."""
    with context.transaction() as db:
        shown = whatif_results.result(db, context.actor(), draft_id)
    names = {row["task"]: row["name"] for row in shown["tasks"]}
    return render_template("whatif_result.html", result=shown, names=names,
                           problems=WHATIF_PROBLEMS)


# What-if's divergences that carry no detail (engine/history/whatif.py), said for people; the
# others name an element, a form or a timer and are shown as the engine says them.
WHATIF_PROBLEMS = {
    "the candidate takes a different path": _l("the draft takes another path here"),
    "the candidate ends differently": _l("the draft ends the request differently"),
    "different outcome data": _l("the draft ends with other data"),
    "the candidate fails where the real run did not": _l("a step of the draft fails here"),
    "the candidate does not contain this process": _l("the draft does not contain this process"),
}


# ------------------------------------------------------------------ one request's instance

CONTROLS = ("suspend", "resume", "cancel", "retry", "skip")
# Irreversible: the page asks to confirm first (a second post with confirm=yes).
CONFIRMED = ("cancel", "skip")
NEEDS_REASON = ("suspend", "cancel", "skip")


@bp.get("/supervise/instances/<id:instance_id>")
@context.roles_required(*access.SUPERVISORS)
def supervise(instance_id):
    """What a supervisor does to one request's process: suspend, resume or cancel it with a
    reason, retry or skip its incident, reassign each open task."""
    return render_template("supervise.html", **_instance_view(instance_id))


@bp.post("/supervise/instances/<id:instance_id>/<verb>")
@context.roles_required(*access.SUPERVISORS)
def control(instance_id, verb):
    """One of CONTROLS, as POST /api/instances/{id}/{verb} does it; `cancel` and `skip` answer
    a confirmation first. A refusal shows the page again with the reason as typed."""
    if verb not in CONTROLS:
        abort(404)
    reason = request.form.get("reason", "").strip()
    try:
        if verb in NEEDS_REASON and not reason:
            raise InvalidInput(_("Say why (the reason is kept in the request's history)."),
                               field="reason")
        if verb in CONFIRMED and request.form.get("confirm") != "yes":
            return render_template("supervise.html", confirm=verb, reason=reason,
                                   **_instance_view(instance_id))
        with context.transaction() as db:
            instances.readable(db, context.actor(), instance_id)
            if verb == "retry":
                context.runtime().retry(db, instance_id, context.actor(), _corrected_data())
            else:
                getattr(context.runtime(), verb)(db, instance_id, context.actor(), reason)
    except EngineError as err:
        return render_template("supervise.html", flash=refusals.say(err), flash_kind="error",
                               reason=reason, **_instance_view(instance_id)), \
            context.status_of(err)
    try:
        return render_template("supervise.html", flash=DONE[verb](), **_instance_view(instance_id))
    except Forbidden:       # a cancelled request has no work left that would let one read it
        return render_template("task_done.html", message=DONE[verb]())


@bp.post("/supervise/tasks/<task_id>/reassign")
@context.roles_required(*access.SUPERVISORS)
def reassign_one(task_id):
    """Hand one task to someone (or back to its department's queue) from the request's page."""
    assignee = request.form.get("assignee") or None
    instance_id = request.form.get("instance_id", type=int)
    try:
        with context.transaction() as db:
            users.check_assignee(db, assignee)
            tasks.scope(db, context.actor(), task_id)
            context.runtime().reassign(db, task_id, assignee, context.actor())
    except EngineError as err:
        return render_template("supervise.html", flash=refusals.say(err), flash_kind="error",
                               **_instance_view(instance_id)), context.status_of(err)
    message = (_("%(n)s task(s) reassigned to %(who)s.", n=1, who=assignee) if assignee
               else _("%(n)s task(s) put back in the department queue.", n=1))
    return render_template("supervise.html", flash=message, **_instance_view(instance_id))


# What a request's process may wait for (bpmn/messages/), said for people.
MESSAGE_LABELS = {
    "refund_result": _l("the payment provider's answer to the refund"),
    "clawback_result": _l("the payment provider's answer to the claw-back"),
    "pickup_booked": _l("the courier's booking of the pickup"),
    "picked_up": _l("the courier picking the parcel up"),
    "return_shipped": _l("the customer shipping the goods back"),
    "quote_answered": _l("the customer's answer to the repair quote"),
    "complaint_feedback": _l("the customer's answer to the resolution"),
    "csat_submitted": _l("the customer's rating"),
}

DONE = {"suspend": lambda: _("The request is suspended; its SLA clock stands still."),
        "resume": lambda: _("The request runs again."),
        "cancel": lambda: _("The request is cancelled."),
        "retry": lambda: _("The failed step was run again."),
        "skip": lambda: _("The failed input was dropped; the request runs on without it.")}


def _corrected_data() -> dict | None:
    """The retry's corrected data (a JSON object typed by the supervisor), None if left empty."""
    text = request.form.get("data", "").strip()
    if not text:
        return None
    try:
        data = read_json(text)
    except ValueError:
        raise InvalidInput(_("The corrected data must be a JSON object."), field="data") from None
    if not isinstance(data, dict):
        raise InvalidInput(_("The corrected data must be a JSON object."), field="data")
    return data


def _instance_view(instance_id: int | None) -> dict:
    if instance_id is None:
        abort(404)
    actor = context.actor()
    with context.transaction() as db:
        shown = instances.show(db, context.runtime(), actor, instance_id)
        people = users.staff_of(db, access.visible_departments(actor))
        history, _total = instances.history(db, actor, instance_id)
    shown["waiting_for"] = [str(MESSAGE_LABELS.get(m, m)) for m in shown["waiting_for"]]
    return {"instance": shown, "people": people, "history": history[-10:]}
