"""Process instances: state, audit history, replay, and the supervisors' controls (suspend,
resume, cancel, and for an instance in error: retry, optionally with corrected data, or skip).

Who may read an instance and who may operate on it is the engine's rule
(engine.access.may_read_instance, checked by engine.instances; may_operate_instance, checked by
the verbs): staff and supervisors of another department get a 403, as for its tasks."""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint

from engine import access, instances
from engine.history import replay
from web.api import schemas
from web.api.base import actor, allow, body, only_args, page_args, paged, runtime, transaction

bp = Blueprint("instances", __name__)


@bp.get("/instances/<id:instance_id>")
@allow(*access.INSTANCE_READERS)
def show(instance_id):
    with transaction() as session:
        return instances.show(session, runtime(), actor(), instance_id)


@bp.get("/instances/<id:instance_id>/history")
@allow(*access.INSTANCE_READERS)
def history(instance_id):
    only_args("page", "per_page")
    page, per_page = page_args(default_per_page=50)
    with transaction() as session:
        events, total = instances.history(session, actor(), instance_id,
                                          offset=(page - 1) * per_page, limit=per_page)
        return paged(events, total, page, per_page)


@bp.get("/instances/<id:instance_id>/replay")
@allow(*access.INSTANCE_READERS)
def replay_all(instance_id):
    with transaction() as session:
        instances.readable(session, actor(), instance_id)
        result = replay.verify(session, instance_id, runtime().script_engine, keep_steps=True)
        return asdict(result)


@bp.get("/instances/<id:instance_id>/replay/<id:seq>")
@allow(*access.INSTANCE_READERS)
def replay_step(instance_id, seq):
    with transaction() as session:
        instances.readable(session, actor(), instance_id)
        return asdict(replay.state_at(session, instance_id, seq, runtime().script_engine))


def control(verb: str):
    schema = schemas.RETRY if verb == "retry" else schemas.INSTANCE_ACTION

    @allow(*access.SUPERVISORS)
    def view(instance_id):
        fields = body(schema, optional=True)
        with transaction() as session:
            if verb == "retry":
                instance = runtime().retry(session, instance_id, actor(), fields.get("data"))
            else:
                instance = getattr(runtime(), verb)(session, instance_id, actor(),
                                                    fields.get("reason", ""))
            return instances.instance_json(instance)
    view.__name__ = verb
    return view


for _verb in ("suspend", "resume", "cancel", "retry", "skip"):
    bp.add_url_rule(f"/instances/<id:instance_id>/{_verb}", view_func=control(_verb),
                    methods=["POST"])
