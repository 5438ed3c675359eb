"""Task lists and task actions: list, show, claim, release, complete, reassign (one or many).

Staff see and act on the tasks of their department and on tasks assigned to them; supervisors
on the departments they oversee (engine.config.SUPERVISES); auditors read all of them. A task
outside the caller's reach is 403 before any verb runs, so the answer does not depend on the
task's state.
"""
from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from flask import Blueprint, request
from sqlalchemy import select

from engine import access, clock, tasklist, users
from engine.definitions import catalog
from engine.errors import EngineError, Forbidden, InvalidInput, NotFound
from engine.models import AuditEvent, HumanTask, Instance, ServiceRequest
from web.api import schemas
from web.api.base import (
    SUPERVISORS,
    TASK_READERS,
    TASK_WORKERS,
    actor,
    allow,
    body,
    runtime,
    transaction,
)

bp = Blueprint("tasks", __name__)

ASSIGNABLE_ROLES = ("staff", "supervisor", "admin")


@dataclass
class Scope:
    """Where a task belongs, open or completed."""

    task_id: str
    instance_id: int
    department: str | None
    claimed_by: str | None        # for a completed task: who completed it
    row: HumanTask | None         # None once completed
    completed: AuditEvent | None


@bp.get("/tasks")
@allow(*TASK_READERS)
def list_tasks():
    filters, sort, page, per_page = tasklist.parse_query(request.args)
    with transaction() as session:
        rows, total = tasklist.list_tasks(session, actor(), filters, sort, page, per_page)
        return {"items": rows, "total": total, "total_exact": total < tasklist.COUNT_LIMIT,
                "page": page, "per_page": per_page}


@bp.get("/tasks/<task_id>")
@allow(*TASK_READERS)
def show(task_id):
    from web.api.task_files import attachments_of, comments_of

    with transaction() as session:
        scope = task_scope(session, task_id)
        instance = session.get(Instance, scope.instance_id)
        compiled = catalog.compiled(session, instance.definition_id)
        if scope.row is not None:
            task = task_json(scope.row, instance)
            workflow = runtime().workflow(session, instance)
            spiff_task = workflow.get_task_from_id(UUID(task_id))
            data = dict(spiff_task.data) if spiff_task is not None else {}
        else:
            event = scope.completed
            task = {"task_id": task_id, "bpmn_id": event.element, "status": "completed",
                    "department": scope.department, "instance_id": scope.instance_id,
                    "completed_by": event.actor, "completed_at": event.at,
                    "version": instance.version}
            data = event.payload.get("data", {})
        found = session.scalars(select(ServiceRequest).where(
            ServiceRequest.instance_id == scope.instance_id)).first()
        return {"task": task, "form_schema": compiled.form_schema(task["bpmn_id"]), "data": data,
                "request": _request_summary(found), "comments": comments_of(session, task_id),
                "attachments": attachments_of(session, task_id)}


@bp.post("/tasks/<task_id>/claim")
@allow(*TASK_WORKERS)
def claim(task_id):
    body(schemas.EMPTY, optional=True)
    with transaction() as session:
        task_scope(session, task_id)
        row = runtime().claim(session, task_id, actor())
        return task_json(row, session.get(Instance, row.instance_id))


@bp.post("/tasks/<task_id>/release")
@allow(*TASK_WORKERS)
def release(task_id):
    body(schemas.EMPTY, optional=True)
    with transaction() as session:
        task_scope(session, task_id)
        row = runtime().release(session, task_id, actor())
        return task_json(row, session.get(Instance, row.instance_id))


@bp.post("/tasks/<task_id>/complete")
@allow(*TASK_WORKERS)
def complete(task_id):
    fields = body(schemas.COMPLETE)
    with transaction() as session:
        task_scope(session, task_id)
        instance = runtime().complete(session, task_id, fields["data"], actor(),
                                      expected_version=fields.get("version"))
        now = clock.now()
        next_tasks = [tasklist.row_dict(row, now) for row in session.execute(
            select(*tasklist.COLUMNS).where(HumanTask.instance_id == instance.id))
            if access.may_see(actor(), row.department, row.claimed_by)]
        return {"instance_id": instance.id, "status": instance.status,
                "version": instance.version, "next_tasks": next_tasks}


@bp.post("/tasks/<task_id>/reassign")
@allow(*SUPERVISORS)
def reassign(task_id):
    assignee = body(schemas.REASSIGN)["assignee"]
    with transaction() as session:
        _check_assignee(session, assignee)
        task_scope(session, task_id)
        row = runtime().reassign(session, task_id, assignee, actor())
        return task_json(row, session.get(Instance, row.instance_id))


@bp.post("/tasks/reassign")
@allow(*SUPERVISORS)
def reassign_many():
    fields = body(schemas.BULK_REASSIGN)
    assignee = fields["assignee"]
    with transaction() as session:   # all or nothing: the first refusal rolls back every change
        _check_assignee(session, assignee)
        done = []
        for index, task_id in enumerate(fields["task_ids"]):
            try:
                task_scope(session, task_id)
                row = runtime().reassign(session, task_id, assignee, actor())
            except EngineError as err:
                err.details = {**(err.as_dict()["details"] or {}), "index": index,
                               "task_id": task_id}
                raise
            done.append(task_json(row, session.get(Instance, row.instance_id)))
        return {"reassigned": done}


def task_scope(session, task_id: str) -> Scope:
    """Where task `task_id` belongs; 404 if unknown, 403 if outside the caller's reach."""
    if len(task_id) > 40:
        raise NotFound(f"task {task_id} does not exist", task_id=task_id[:40])
    row = session.scalars(select(HumanTask).where(HumanTask.task_id == task_id)).first()
    if row is not None:
        scope = Scope(task_id, row.instance_id, row.department, row.claimed_by, row, None)
    else:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.task_id == task_id, AuditEvent.kind == "task_completed")).first()
        if event is None:
            raise NotFound(f"task {task_id} does not exist", task_id=task_id)
        department = event.payload.get("department")      # recorded with the completion
        if department is None:
            instance = session.get(Instance, event.instance_id)
            meta = catalog.compiled(session, instance.definition_id).tasks.get(event.element)
            department = meta.lane if meta else None
        scope = Scope(task_id, event.instance_id, department, event.actor, None, event)
    if not access.may_see(actor(), scope.department, scope.claimed_by):
        raise Forbidden(f"{actor().name} may not see tasks of {scope.department}",
                        task_id=task_id)
    return scope


def task_json(row: HumanTask, instance: Instance) -> dict:
    result = tasklist.row_dict(row, clock.now())
    result.update(status="open", form_key=row.form_key, claimed_at=row.claimed_at,
                  at_risk_at=row.at_risk_at, version=instance.version)
    return result


def _check_assignee(session, assignee: str | None) -> None:
    if assignee is None:
        return
    user = users.find(session, assignee)
    if user is None or not user.active or user.role not in ASSIGNABLE_ROLES:
        raise InvalidInput(f"'{assignee}' is not a member of staff who can take tasks",
                           field="assignee")


def _request_summary(found: ServiceRequest | None) -> dict | None:
    if found is None:
        return None
    return {"id": found.id, "number": found.number, "type": found.type,
            "category": found.category, "amount": found.amount, "order_id": found.order_id,
            "customer_id": found.customer_id, "customer_tier": found.customer_tier,
            "reason": found.reason, "status": found.status, "priority": found.priority}
