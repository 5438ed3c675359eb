"""Moving unfinished instances from one deployed version of their process to another.

What a move keeps, drops and re-predicts, and when a task tree cannot move, is the business of
engine/runtime/tree_move.py; this module moves stored instances with it. `plan()` checks each
instance without writing anything; `migrate()` moves each one in its own savepoint, as one unit
of work like any engine verb: the moved state, the new definition and one `migrated` event go
out through the write-back path, and the projection rows of tasks that stayed are pointed at
their new elements. Replay re-applies a recorded move with `replay_event()`. Moving back to the
previous version with the reverse mapping is a migration like any other.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine import clock
from engine.access import Actor
from engine.definitions import catalog
from engine.errors import Conflict, EngineError, NotFound
from engine.history import audit
from engine.models import UNFINISHED, Definition, HumanTask, Instance, MessageSubscription, Timer
from engine.runtime import projection, serialization, state_store, tree_move, unit, writeback
from engine.runtime.tree_move import normalize_mapping
from engine.runtime.verbs import Runtime

# --------------------------------------------------------------- public API

def plan(session: Session, runtime: Runtime, instance_ids, to_definition_id: int,
         mapping: dict | None = None) -> dict[int, dict]:
    """Dry run: {instance_id: {"can_move", "reasons", "moves"}} for each instance.

    `moves` says where each open element goes ({old_id: new_id}). Nothing is written.
    Raises NotFound for an unknown target definition and InvalidInput for a malformed mapping.
    """
    mapping = normalize_mapping(mapping)
    target = _target(session, to_definition_id)
    out = {}
    for instance_id in instance_ids:
        instance = session.get(Instance, instance_id)
        if instance is None:
            out[instance_id] = {"can_move": False, "reasons": [f"instance {instance_id} does not exist"],
                                "moves": {}}
            continue
        with unit.of_work(instance.business_key, instance.audit_seq + 1, clock.now()):
            reasons, moves, _ = _trial(session, runtime, instance, target, mapping)
        out[instance_id] = {"can_move": not reasons, "reasons": reasons, "moves": moves}
    return out


def migrate(session: Session, runtime: Runtime, instance_ids, to_definition_id: int,
            mapping: dict | None, actor: Actor, dry_run: bool = False) -> dict[int, dict]:
    """Move each instance to `to_definition_id`; all or nothing per instance.

    Returns {instance_id: {"moved", "can_move", "reasons", "moves"}}. An instance that cannot
    move, or whose move fails on the way (a task row, a hook), is left exactly as it was and
    its reasons are reported; the others move. With
    `dry_run` nothing is written (same as `plan()`).
    """
    checks = plan(session, runtime, instance_ids, to_definition_id, mapping)
    if dry_run:
        return {i: dict(c, moved=False) for i, c in checks.items()}
    results = {}
    for instance_id, check in checks.items():
        if not check["can_move"]:
            results[instance_id] = dict(check, moved=False)
            continue
        try:
            with session.begin_nested():
                migrate_instance(session, runtime, instance_id, to_definition_id, mapping, actor)
        except EngineError as err:
            reasons = (err.details or {}).get("reasons") if isinstance(err.details, dict) else None
            results[instance_id] = dict(check, can_move=False, moved=False,
                                        reasons=reasons or [err.message])
            continue
        except SQLAlchemyError:
            raise
        except Exception as err:   # a move that fails on the way is not made, like one refused
            results[instance_id] = dict(check, can_move=False, moved=False, reasons=[
                f"moving failed: {type(err).__name__}: {err}"[:1000]])
            continue
        results[instance_id] = dict(check, moved=True)
    return results


def migrate_instance(session: Session, runtime: Runtime, instance_id: int, to_definition_id: int,
                     mapping: dict | None, actor: Actor) -> Instance:
    """One instance, one unit of work: move the state, rewrite projections, record `migrated`.

    Raises NotFound, and Conflict: with `details={"reasons": [...]}` when it cannot move, or
    when another writer changed the instance first (then the instance is left as it was).
    """
    mapping = normalize_mapping(mapping)
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
    target = _target(session, to_definition_id)
    at = clock.now()
    with unit.of_work(instance.business_key, instance.audit_seq + 1, at):
        reasons, _, moved = _trial(session, runtime, instance, target, mapping)
        if reasons:
            raise Conflict(f"instance {instance_id} cannot move to version {target.version}: "
                           + "; ".join(reasons), instance_id=instance_id,
                           details={"reasons": reasons})
        workflow, before, (stored, state) = moved
        after = projection.project(workflow)
    payload = {"from_definition_id": instance.definition_id,
               "to_definition_id": target.definition_id, "mapping": mapping}
    event = audit.next_event(instance, at=at, actor=actor.name, kind="migrated", payload=payload,
                             state_hash=serialization.state_hash(state.state))
    writeback.write_back(session, instance,
                         dict(state=state.state, definition_id=target.definition_id,
                              status=instance.status, updated_at=at),
                         event, before, after,
                         task_row=lambda task: runtime.human_task_row(instance, target, task, at),
                         timer_listeners=runtime.timer_listeners)
    state_store.write(session, instance.id, state, stored)
    _retarget_rows(session, runtime, instance, target, before, after)
    for hook in runtime.hooks:
        hook(session, instance, workflow, event)
    return instance


def replay_event(workflow, source: catalog.Compiled, target: catalog.Compiled,
                 payload: dict):
    """Re-apply a recorded `migrated` event (replay calls this under the event's time and seed).

    Raises Conflict when the event does not fit the replayed history.
    """
    if source.definition_id is not None and payload.get("from_definition_id") != source.definition_id:
        raise Conflict(f"the event moves from definition {payload.get('from_definition_id')}, "
                       f"but the history is on definition {source.definition_id}")
    return tree_move.move(workflow, target, payload.get("mapping") or {})


def _target(session: Session, definition_id: int) -> catalog.Compiled:
    if session.get(Definition, definition_id) is None:
        raise NotFound(f"definition {definition_id} does not exist", field="to_definition_id")
    return catalog.compiled(session, definition_id)


def _trial(session, runtime, instance, target, mapping):
    """(reasons, moves, (workflow, projection before, (state stored before, state after)) or
    None): the move done in memory (states as engine.runtime.state_store stores them).

    Must run under the unit of work's pinned clock and seed: the state it returns is the one
    that gets stored.
    """
    reasons = []
    if instance.process_key != target.process_key:
        reasons.append(f"instance runs '{instance.process_key}', the target is "
                       f"'{target.process_key}'")
    elif instance.definition_id == target.definition_id:
        reasons.append(f"instance is already on version {target.version}")
    if instance.status not in UNFINISHED:
        reasons.append(f"instance is {instance.status}")
    unknown = sorted(new for new in set(mapping.values()) if not tree_move.in_target(new, target))
    reasons += [f"mapping target '{new}' does not exist in version {target.version}"
                for new in unknown]
    if reasons:
        return reasons, {}, None
    source = catalog.compiled(session, instance.definition_id)
    workflow, stored = state_store.load(session, instance, source, runtime.script_engine)
    before = projection.project(workflow)
    items, problems, moves = tree_move.layout(workflow, target, mapping)
    if problems:
        return problems, moves, None
    try:
        tree_move.apply(workflow, target, items)
        state = state_store.dump(workflow, instance.serializer_version)    # a new tree
        # The stored state must load against the target alone.
        state_store.rebuild(state, target, runtime.script_engine)
    except Exception as err:       # the engine refused the reshaped tree: report, move nothing
        return [f"the moved state is not valid for version {target.version}: {err}"], moves, None
    return [], moves, (workflow, before, (stored, state))


def _retarget_rows(session, runtime, instance, target, before, after) -> None:
    """Rows of tasks, timers and waits that stayed now describe their element in the target
    (new and gone rows were written like any step's)."""
    for task_id, task in after.human.items():
        if task_id not in before.human:
            continue
        row = session.scalars(select(HumanTask).where(HumanTask.task_id == task_id)).one()
        # The SLA runs from when the task opened, by the target's SLA.
        fresh = runtime.human_task_row(instance, target, task, row.created_at)
        if row.department != fresh["department"]:
            row.claimed_by, row.claimed_at = None, None
        if row.due_at != fresh["due_at"]:   # a new SLA: its warning and ladder start over
            row.warned_at, row.escalated_at = None, None
            row.tier, row.sla_level, row.next_level_at = None, 0, None
        for key in ("bpmn_id", "name", "department", "form_key", "process_key", "due_at",
                    "at_risk_at"):
            setattr(row, key, fresh[key])
    for task_id, due in after.timers.items():
        if task_id in before.timers:
            session.execute(update(Timer).where(Timer.instance_id == instance.id,
                                                Timer.task_id == task_id)
                            .values(bpmn_id=due.bpmn_id))
    for (task_id, name), waiting in after.messages.items():
        if (task_id, name) in before.messages:
            session.execute(update(MessageSubscription).where(
                MessageSubscription.instance_id == instance.id,
                MessageSubscription.task_id == task_id, MessageSubscription.name == name)
                .values(bpmn_id=waiting.bpmn_id))
