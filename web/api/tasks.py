"""Task lists and task actions: list, show, claim, release, complete, reassign (one or many).

Staff see and act on the tasks of their department and on tasks assigned to them; supervisors
on the departments they oversee (engine.access); auditors read all of them. A task outside the
caller's reach is 403 before any verb runs (engine.tasks.scope), so the answer does not depend
on the task's state.
"""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, department_settings, tasklist, tasks, users
from engine.errors import EngineError
from web import query
from web.api import schemas
from web.api.base import actor, allow, body, platform, runtime, transaction

bp = Blueprint("tasks", __name__)


@bp.get("/tasks")
@allow(*access.TASK_READERS)
def list_tasks():
    filters, sort, page, per_page = query.task_filters(request.args)
    with transaction() as session:
        rows, total = tasklist.list_tasks(session, actor(), filters, sort, page, per_page)
        return {"items": rows, "total": total, "total_exact": total < tasklist.COUNT_LIMIT,
                "page": page, "per_page": per_page}


@bp.get("/tasks/<task_id>")
@allow(*access.TASK_READERS)
def show(task_id):
    with transaction() as session:
        detail = tasks.detail(session, runtime(), actor(), task_id)
        return {key: detail[key] for key in ("task", "form_schema", "data", "request",
                                             "comments", "attachments")}


@bp.post("/tasks/<task_id>/claim")
@allow(*access.TASK_WORKERS)
def claim(task_id):
    body(schemas.EMPTY, optional=True)
    with transaction() as session:
        tasks.scope(session, actor(), task_id)
        runtime().claim(session, task_id, actor())
        return tasks.open_task(session, task_id)


@bp.post("/tasks/<task_id>/release")
@allow(*access.TASK_WORKERS)
def release(task_id):
    body(schemas.EMPTY, optional=True)
    with transaction() as session:
        tasks.scope(session, actor(), task_id)
        runtime().release(session, task_id, actor())
        return tasks.open_task(session, task_id)


@bp.post("/tasks/<task_id>/complete")
@allow(*access.TASK_WORKERS)
def complete(task_id):
    fields = body(schemas.COMPLETE)
    with transaction() as session:
        found = tasks.scope(session, actor(), task_id)
        department_settings.check_complete(session, found, actor())
        instance = runtime().complete(session, task_id, fields["data"], actor(),
                                      expected_version=fields.get("version"))
        done = {"instance_id": instance.id, "status": instance.status,
                "version": instance.version}
    # Read once the completion is committed, in no transaction: a read after the unit's
    # writes would send them before its commit (on PostgreSQL, begin its transaction early).
    return dict(done, next_tasks=tasks.next_tasks(platform().engine, actor(), instance.id))


@bp.post("/tasks/<task_id>/reassign")
@allow(*access.SUPERVISORS)
def reassign(task_id):
    assignee = body(schemas.REASSIGN)["assignee"]
    with transaction() as session:
        users.check_assignee(session, assignee)
        tasks.scope(session, actor(), task_id)
        runtime().reassign(session, task_id, assignee, actor())
        return tasks.open_task(session, task_id)


@bp.post("/tasks/reassign")
@allow(*access.SUPERVISORS)
def reassign_many():
    fields = body(schemas.BULK_REASSIGN)
    assignee = fields["assignee"]
    with transaction() as session:   # all or nothing: the first refusal rolls back every change
        users.check_assignee(session, assignee)
        done = []
        for index, task_id in enumerate(fields["task_ids"]):
            try:
                tasks.scope(session, actor(), task_id)
                runtime().reassign(session, task_id, assignee, actor())
            except EngineError as err:
                err.details = {**(err.as_dict()["details"] or {}), "index": index,
                               "task_id": task_id}
                raise
            done.append(tasks.open_task(session, task_id))
        return {"reassigned": done}
