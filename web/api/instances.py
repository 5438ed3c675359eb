"""Process instances: state, audit history, replay, and the supervisors' controls."""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select

from engine import clock, tasklist
from engine.definitions import catalog
from engine.errors import NotFound
from engine.history import audit, replay
from engine.models import (
    AuditEvent,
    HumanTask,
    Instance,
    MessageSubscription,
    ServiceRequest,
    Timer,
)
from web.api import schemas
from web.api.base import (
    INSTANCE_READERS,
    SUPERVISORS,
    actor,
    allow,
    body,
    only_args,
    page_args,
    paged,
    runtime,
    transaction,
)

bp = Blueprint("instances", __name__)


@bp.get("/instances/<id:instance_id>")
@allow(*INSTANCE_READERS)
def show(instance_id):
    with transaction() as session:
        instance = _instance(session, instance_id)
        compiled = catalog.compiled(session, instance.definition_id)
        workflow = runtime().workflow(session, instance)
        now = clock.now()
        number = session.scalar(select(ServiceRequest.number).where(
            ServiceRequest.instance_id == instance.id))
        return {**instance_json(instance), "definition_version": compiled.version,
                "request_number": number, "elements": _elements(workflow),
                "tasks": [tasklist.row_dict(r, now) for r in session.execute(
                    select(*tasklist.COLUMNS).where(HumanTask.instance_id == instance.id))],
                "timers": [{"bpmn_id": t.bpmn_id, "due_at": t.due_at} for t in session.scalars(
                    select(Timer).where(Timer.instance_id == instance.id))],
                "waiting_for": sorted({s.name for s in session.scalars(select(
                    MessageSubscription).where(MessageSubscription.instance_id == instance.id))})}


@bp.get("/instances/<id:instance_id>/history")
@allow(*INSTANCE_READERS)
def history(instance_id):
    only_args("page", "per_page")
    page, per_page = page_args(default_per_page=50)
    with transaction() as session:
        _instance(session, instance_id)
        total = session.scalar(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.instance_id == instance_id))
        events = audit.events(session, instance_id, offset=(page - 1) * per_page, limit=per_page)
        return paged([event_json(e) for e in events], total, page, per_page)


@bp.get("/instances/<id:instance_id>/replay")
@allow(*INSTANCE_READERS)
def replay_all(instance_id):
    with transaction() as session:
        result = replay.verify(session, instance_id, runtime().script_engine, keep_steps=True)
        return asdict(result)


@bp.get("/instances/<id:instance_id>/replay/<id:seq>")
@allow(*INSTANCE_READERS)
def replay_step(instance_id, seq):
    with transaction() as session:
        _instance(session, instance_id)
        return asdict(replay.state_at(session, instance_id, seq, runtime().script_engine))


def control(verb: str):
    schema = schemas.RETRY if verb == "retry" else schemas.INSTANCE_ACTION

    @allow(*SUPERVISORS)
    def view(instance_id):
        fields = body(schema, optional=True)
        with transaction() as session:
            if verb == "retry":
                instance = runtime().retry(session, instance_id, actor(), fields.get("data"))
            else:
                instance = getattr(runtime(), verb)(session, instance_id, actor(),
                                                    fields.get("reason", ""))
            return instance_json(instance)
    view.__name__ = verb
    return view


for _verb in ("suspend", "resume", "cancel", "retry"):
    bp.add_url_rule(f"/instances/<id:instance_id>/{_verb}", view_func=control(_verb),
                    methods=["POST"])


def instance_json(i: Instance) -> dict:
    return {"id": i.id, "process_key": i.process_key, "definition_id": i.definition_id,
            "business_key": i.business_key, "status": i.status, "version": i.version,
            "created_at": i.created_at, "updated_at": i.updated_at,
            "completed_at": i.completed_at, "error": i.error, "error_task_id": i.error_task_id,
            "events": i.audit_seq}


def event_json(e: AuditEvent) -> dict:
    return {"seq": e.seq, "at": e.at, "actor": e.actor, "kind": e.kind, "element": e.element,
            "task_id": e.task_id, "payload": e.payload, "state_hash": e.state_hash,
            "prev_hash": e.prev_hash, "hash": e.hash}


def _instance(session, instance_id: int) -> Instance:
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
    return instance


def _elements(workflow) -> dict:
    """BPMN ids by token state, for marking the diagram."""
    states = {"ready": TaskState.READY, "waiting": TaskState.WAITING,
              "completed": TaskState.COMPLETED}
    found: dict = {name: set() for name in states}
    for task in workflow.get_tasks():
        bpmn_id = task.task_spec.bpmn_id
        for name, state in states.items():
            if bpmn_id and task.state == state:
                found[name].add(bpmn_id)
    return {name: sorted(ids) for name, ids in found.items()}
