"""Supervisor pages: the overdue board across the departments a supervisor oversees, and
reassigning its tasks in bulk (all or nothing, like POST /api/tasks/reassign)."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from engine import access, tasklist, tasks, users
from engine.errors import EngineError, InvalidInput
from web.pages import bp, context

BOARD_SIZE = tasklist.MAX_PER_PAGE


@bp.get("/overdue")
@context.roles_required(*access.SUPERVISORS)
def overdue():
    return render_template("overdue.html", **_board())


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
                               **_board()), context.status_of(err)
    message = (_("%(n)s task(s) reassigned to %(who)s.", n=len(task_ids), who=assignee) if assignee
               else _("%(n)s task(s) put back in the department queue.", n=len(task_ids)))
    return render_template(template, flash=message, **_board())


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
