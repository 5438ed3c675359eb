"""Supervisor pages: the overdue board across the departments a supervisor oversees,
reassigning its tasks in bulk (all or nothing, like POST /api/tasks/reassign), and the rules of
those departments (engine.department_settings: a claim before completing)."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from engine import access, clock, config, department_settings, tasklist, tasks, users
from engine.errors import EngineError, InvalidInput
from web.pages import bp, context, i18n

BOARD_SIZE = tasklist.MAX_PER_PAGE


@bp.get("/overdue")
@context.roles_required(*access.SUPERVISORS)
def overdue():
    return render_template("overdue.html", settings=_settings(), **_board())


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
