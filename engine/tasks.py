"""Reads about one human task, open or completed, for the people who work on it.

`scope()` answers where a task belongs and whether the caller may see it (the check every
task route makes before any verb runs, so the answer does not depend on the task's state);
`detail()` gathers what a task pane shows: the task, its form, the data it works on, the
request it serves and the order it was filed from (`order_of`), the request's payments for
those who may see money (`payments_of`), its comments and attachments, the instance's history
and token positions.
Open tasks are read from the `human_task` projection; a completed task from the audit event
that completed it.
"""
from __future__ import annotations

from types import SimpleNamespace
from uuid import UUID

from sqlalchemy import Engine, bindparam
from sqlalchemy.orm import Session

from engine import (access, clock, db, instances, money, orders, payments, prebuilt,
                    service_requests, task_notes, tasklist)
from engine.access import Actor, TaskScope
from engine.definitions import catalog
from engine.errors import Forbidden, NotFound
from engine.history import audit
from engine.models import AuditEvent, HumanTask, Instance

MAX_TASK_ID = 40


def scope(session: Session, actor: Actor, task_id: str) -> TaskScope:
    """Where task `task_id` belongs; NotFound if unknown, Forbidden outside `actor`'s reach."""
    if not isinstance(task_id, str) or len(task_id) > MAX_TASK_ID:
        raise NotFound(f"task {task_id} does not exist", task_id=str(task_id)[:MAX_TASK_ID])
    row = _open_row(session, task_id)
    if row is not None:
        found = TaskScope(task_id, row.instance_id, row.department, row.claimed_by, row.bpmn_id,
                          True)
    else:
        event = audit.completion_of(session, task_id)
        if event is None:
            raise NotFound(f"task {task_id} does not exist", task_id=task_id)
        found = TaskScope(task_id, event.instance_id, _completed_department(session, event),
                      event.actor, event.element, False)
    if not access.may_see(actor, found.department, found.claimed_by):
        raise Forbidden(f"{actor.name} may not see tasks of {found.department}", task_id=task_id)
    return found


def open_task(session: Session, task_id: str) -> dict:
    """An open task as the task list shows it, plus its claim, form key and the instance's
    version (what a client sends back to complete it). Raises NotFound."""
    row = _open_row(session, task_id)
    if row is None:
        raise NotFound(f"task {task_id} does not exist or is not open", task_id=task_id)
    return _task_json(session, row, session.get(Instance, row.instance_id).version)


def open_tasks_of(session: Session, actor: Actor, instance_id: int) -> list[dict]:
    """The open tasks of one instance that `actor` may see (what comes next after a step)."""
    return _visible(actor, prebuilt.read(session, _OF_INSTANCE, {"instance_id": instance_id}))


def next_tasks(engine: Engine, actor: Actor, instance_id: int) -> list[dict]:
    """`open_tasks_of` read once a step has committed, as the sign-in check reads: one
    statement in no transaction (engine.db.lone_rows), so that the call's one transaction is its
    unit of work (on PostgreSQL begun at its commit) and a read of its own costs no BEGIN."""
    rows = db.lone_rows(engine, _OF_INSTANCE, {"instance_id": instance_id})
    return _visible(actor, [SimpleNamespace(**row) for row in rows])


def _visible(actor: Actor, rows) -> list[dict]:
    now = clock.now()
    return [tasklist.row_dict(row, now) for row in rows
            if access.may_see(actor, row.department, row.claimed_by)]


def form_schema(session: Session, found: TaskScope) -> dict | None:
    """The JSON Schema of the task's form (None: the task has no form)."""
    instance = session.get(Instance, found.instance_id)
    return catalog.compiled(session, instance.definition_id).form_schema(found.bpmn_id)


def detail(session: Session, runtime, actor: Actor, task_id: str, *,
           with_history: bool = False) -> dict:
    """Everything a task pane shows: {"task", "open", "form_schema", "data", "request",
    "order", "payments", "comments", "attachments", "definition_id"} ("order": `order_of`,
    "payments": `payments_of`); with `with_history` also the
    instance's audit events ("history") and token positions ("elements"). Raises NotFound,
    Forbidden."""
    found = scope(session, actor, task_id)
    instance = session.get(Instance, found.instance_id)
    compiled = catalog.compiled(session, instance.definition_id)
    workflow = runtime.workflow(session, instance) if found.open or with_history else None
    if found.open:
        task = _task_json(session, _open_row(session, task_id), instance.version)
        spiff_task = workflow.get_task_from_id(UUID(task_id))
        data = dict(spiff_task.data) if spiff_task is not None else {}
    else:
        event = audit.completion_of(session, task_id)
        meta = compiled.tasks.get(event.element)
        task = {"task_id": task_id, "bpmn_id": event.element, "status": "completed",
                "name": meta.name if meta else event.element, "department": found.department,
                "instance_id": instance.id, "request_number": instance.business_key,
                "completed_by": event.actor, "completed_at": event.at,
                "version": instance.version}
        data = event.payload.get("data", {})
    request = service_requests.summary_of_instance(session, instance.id)
    result = {"task": task, "open": found.open,
              "form_schema": compiled.form_schema(task["bpmn_id"]), "data": data,
              "request": request, "order": order_of(session, actor, request),
              "payments": payments_of(session, actor, request),
              "comments": task_notes.comments_of(session, task_id),
              "attachments": task_notes.attachments_of(session, task_id),
              "definition_id": instance.definition_id}
    if with_history:
        result["history"] = [instances.event_json(e) for e in audit.events(session, instance.id)]
        result["elements"] = instances.elements(workflow)
    return result


def order_of(session: Session, actor: Actor, request: dict | None) -> dict | None:
    """The order a request was filed from, as `orders.order_json` shows it, plus what a clerk
    needs to judge the request: "warranty" ("in_warranty", "expired", or None when the shop sent
    no warranty_until) and each item's "line_total" and "chosen" (the quantity the request
    chose of it, 0 for an item it is not about). None when the request has no order, or its
    order is not in the order store (requests filed before the store existed)."""
    if request is None or not request.get("order_id"):
        return None
    try:
        order = orders.get(session, actor, request["order_id"])
    except NotFound:
        return None
    chosen = {line.get("sku"): line.get("quantity", 0) for line in request.get("items") or []
              if isinstance(line, dict)}
    until = order["warranty_until"]
    order["warranty"] = None if until is None else \
        "in_warranty" if until >= clock.now() else "expired"
    order["items"] = [{**item, "line_total": money.text(orders.line_total(item)),
                       "chosen": chosen.get(item["sku"], 0)} for item in order["items"]]
    return order


def payments_of(session: Session, actor: Actor, request: dict | None) -> dict | None:
    """The request's refunds and claw-backs from the ledger (`payments.of_request`) for those
    who may see them (finance, the supervisors overseeing it, auditors, admins); None for
    everyone else and for a task that serves no request."""
    if request is None:
        return None
    try:
        return payments.of_request(session, actor, request["number"])
    except Forbidden:
        return None


def attachment(session: Session, actor: Actor, attachment_id: int,
               attachments_dir) -> tuple[dict, bytes]:
    """(description, bytes) of an attachment whose task `actor` may see. Raises NotFound,
    Forbidden."""
    meta = task_notes.attachment(session, attachment_id)
    if meta["task_id"] is None:
        raise Forbidden("this attachment belongs to no task you can see")
    scope(session, actor, meta["task_id"])
    return meta, task_notes.attachment_content(session, attachment_id, attachments_dir)


# ------------------------------------------------------------------ internals

_OPEN_ROW = prebuilt.rows_of(HumanTask).where(HumanTask.task_id == bindparam("task_id"))
_OF_INSTANCE = tasklist.tiered().where(HumanTask.instance_id == bindparam("instance_id"))


def _open_row(session: Session, task_id: str) -> HumanTask | None:
    return prebuilt.one(session, HumanTask, _OPEN_ROW, {"task_id": task_id})


def _completed_department(session: Session, event: AuditEvent) -> str | None:
    department = event.payload.get("department")      # recorded with the completion
    if department is None:
        instance = session.get(Instance, event.instance_id)
        meta = catalog.compiled(session, instance.definition_id).tasks.get(event.element)
        department = meta.lane if meta else None
    return department


def _task_json(session: Session, row: HumanTask, instance_version: int) -> dict:
    [result] = tasklist.with_tiers(session, [tasklist.row_dict(row, clock.now())])
    result.update(status="open", form_key=row.form_key, claimed_at=row.claimed_at,
                  at_risk_at=row.at_risk_at, version=instance_version)
    return result
