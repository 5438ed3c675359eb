"""What-if: run finished instances' recorded inputs against a candidate bundle before deploying it.

The candidate is validated and compiled in memory (nothing is stored). For each chosen instance
its history is first verified and replayed as it really happened (engine/history/replay.py);
then the same inputs go to the candidate, each in a unit of work at the recorded time and with
the same deterministic task ids (engine/runtime/unit.py): the start data, each task completion
(found by the element's BPMN id, since recorded task ids belong to the original run), each
message, each timer firing, cancellations and retries. After every input the candidate's
position (READY tasks, WAITING events, completed elements) is compared with the recorded one;
at the end, the outcome (status and data). The first difference is the instance's divergence.
Service tasks are only collected, never called.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import money
from engine.definitions import catalog, forms
from engine.definitions.bundle import Bundle
from engine.errors import Conflict, EngineError, InvalidDefinition, NotFound
from engine.history import audit, replay
from engine.models import FINISHED, Instance
from engine.runtime import projection, steps, tree_move, unit

POSITION = ("ready", "waiting", "completed")


@dataclass
class Outcome:
    instance_id: int
    business_key: str
    process_key: str
    events: int = 0                      # recorded inputs the candidate accepted
    divergence: dict | None = None       # {"seq", "kind", "element", "problem", "recorded", "candidate"}
    notes: list[str] = field(default_factory=list)
    # What the candidate asked to pay while it followed the recorded inputs: payment operation
    # (payment.refund, payment.clawback) -> the sum of the amounts of its intents.
    asked: dict = field(default_factory=dict)

    @property
    def diverges(self) -> bool:
        return self.divergence is not None

    def as_dict(self) -> dict:
        return {"instance_id": self.instance_id, "business_key": self.business_key,
                "process_key": self.process_key, "events": self.events,
                "diverges": self.diverges, "divergence": self.divergence, "notes": self.notes,
                "asked": dict(self.asked)}


class _Diverged(Exception):
    def __init__(self, problem: str, recorded=None, candidate=None):
        super().__init__(problem)
        self.problem, self.recorded, self.candidate = problem, recorded, candidate


def compile_bundle(session: Session, bundle: Bundle) -> dict[str, catalog.Compiled]:
    """Every process deploying the candidate would version or keep, compiled in memory, by
    process key (what the upload leaves out resolved against what is deployed, as deploy
    resolves it).

    Raises InvalidDefinition (every problem in `details`) like a deploy would.
    """
    planned = catalog.plan(session, bundle)
    if planned.errors:
        raise InvalidDefinition(f"{len(planned.errors)} problem(s) in the candidate",
                                details=[p.as_dict() for p in planned.problems])
    return {p.process_key: p.compiled or catalog.compile_sources(p.process_key, p.sources,
                                                                 p.forms, p.messages)
            for p in planned.processes}


def whatif(session: Session, bundle: Bundle, script_engine, *,
           instance_ids=None, limit: int = 20, mapping: dict | None = None,
           finished_since=None, candidates: dict | None = None) -> list[Outcome]:
    """Replay finished instances against `bundle`; one Outcome per instance.

    Without `instance_ids`, the `limit` most recently finished instances of the bundle's
    processes are taken (those finished at `finished_since` or later, when given). `mapping`
    ({old_id: new_id}) translates recorded element ids to the candidate's. `candidates` is
    compile_bundle's answer for `bundle` when the caller has it already. Raises
    InvalidDefinition for a bad bundle and NotFound for an unknown instance.
    """
    mapping = tree_move.normalize_mapping(mapping)
    candidates = candidates if candidates is not None else compile_bundle(session, bundle)
    if instance_ids is None:
        query = select(Instance.id).where(Instance.process_key.in_(sorted(candidates)),
                                          Instance.status.in_(FINISHED))
        if finished_since is not None:
            query = query.where(Instance.updated_at >= finished_since)
        instance_ids = list(session.scalars(
            query.order_by(Instance.updated_at.desc(), Instance.id.desc()).limit(limit)))
    outcomes = []
    for instance_id in instance_ids:
        instance = session.get(Instance, instance_id)
        if instance is None:
            raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
        outcomes.append(_compare(session, instance, candidates, script_engine, mapping))
    return outcomes


def _compare(session, instance, candidates, script_engine, mapping) -> Outcome:
    outcome = Outcome(instance.id, instance.business_key, instance.process_key)
    candidate = candidates.get(instance.process_key)
    if candidate is None:
        outcome.divergence = _at(None, "the candidate does not contain this process")
        return outcome
    if instance.status not in FINISHED:
        outcome.divergence = _at(None, f"instance is {instance.status}: only finished "
                                       f"instances can be compared")
        return outcome
    recorded = replay.verify(session, instance.id, script_engine, keep_steps=True)
    if not recorded.ok:
        outcome.divergence = _at(None, "the recorded history does not verify: "
                                       + recorded.divergence["problem"])
        return outcome
    by_seq = {step.seq: step for step in recorded.steps}
    events = audit.events(session, instance.id)
    workflow = None
    previous = None
    for event in events:
        if event.kind == "migrated":
            outcome.notes.append(f"event {event.seq} moved the instance between versions; "
                                 f"the candidate runs the whole history on itself")
            continue
        if event.kind not in audit.STATE_CHANGING:
            continue
        step = by_seq[event.seq]
        try:
            workflow = _apply(workflow, event, candidate, script_engine, instance, mapping,
                              previous, outcome.asked)
            _same_position(step, replay.snapshot(event, workflow), mapping)
        except _Diverged as err:
            outcome.divergence = _at(event, err.problem, err.recorded, err.candidate)
            return outcome
        outcome.events += 1
        previous = step
    if workflow is not None and events:
        last = events[-1]
        final = replay.snapshot(last, workflow)
        status = "completed" if workflow.is_completed() else (
            "cancelled" if instance.status == "cancelled" else "unfinished")
        if status != instance.status:
            outcome.divergence = _at(last, "the candidate ends differently",
                                     instance.status, status)
        else:
            recorded_data, candidate_data = _data_difference(by_seq[last.seq].data, final.data)
            if recorded_data or candidate_data:
                outcome.divergence = _at(last, "different outcome data", recorded_data,
                                         candidate_data)
    return outcome


def _apply(workflow, event, candidate, script_engine, instance, mapping, previous, asked):
    payload = event.payload
    with unit.of_work(instance.business_key, event.seq, event.at) as work:
        if event.kind == "started":
            apply = steps.start(candidate.spec, candidate.subprocess_specs, script_engine,
                                payload["data"])
        elif event.kind == "task_completed":
            apply = _completion(workflow, event, candidate, mapping, previous)
        elif event.kind == "message_delivered":
            apply = steps.message(payload["name"], payload["payload"])
        elif event.kind == "signal_received":
            apply = steps.signal(payload["name"], payload["payload"])
        elif event.kind == "timer_fired":
            _check_timers(workflow, payload.get("timers") or [], event.at, mapping)
            apply = steps.timers()
        elif event.kind == "cancelled":
            apply = steps.cancel()
        elif event.kind == "retried":
            failed = workflow.get_tasks(state=TaskState.ERROR)
            if not failed:
                raise _Diverged("the recorded retry finds no failed task in the candidate")
            apply = steps.retry(str(failed[0].id), payload.get("data"))
        else:
            raise _Diverged(f"unknown event kind '{event.kind}'")
        try:
            workflow = apply(workflow)
        except Conflict as err:
            raise _Diverged(f"the candidate refuses the recorded input: {err.message}") from err
        except EngineError as err:
            raise _Diverged(f"the candidate fails: {err.message}") from err
        error, _ = work.advance(workflow)
        for intent in work.intents:
            if intent.operation.startswith("payment.") and "amount" in intent.payload:
                asked[intent.operation] = asked.get(intent.operation, money.ZERO) + \
                    money.amount(intent.payload["amount"], "amount")
    if error and not payload.get("error"):
        raise _Diverged("the candidate fails where the real run did not", None, error)
    return workflow


def _completion(workflow, event, candidate, mapping, previous):
    element = tree_move.mapped_name(event.element or "", mapping)
    ready = [t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
             if t.task_spec.bpmn_id == element]
    if not ready:
        raise _Diverged(f"'{element}' is not ready in the candidate",
                        _mapped(previous.ready, mapping) if previous else None,
                        sorted(t.task_spec.bpmn_id for t in
                               workflow.get_tasks(state=TaskState.READY, manual=True)))
    data = event.payload["data"]
    try:
        forms.validate(candidate.form_schema(element), data)
    except EngineError as err:
        form = candidate.tasks[element].form if element in candidate.tasks else None
        raise _Diverged(f"the recorded data does not fit the candidate's form: {err.message}",
                        data, {"form": form, "problems": err.details}) from err
    return steps.complete(str(ready[0].id), data)


def _check_timers(workflow, timers: list[str], at, mapping) -> None:
    waiting = {t.bpmn_id: t.due_at for t in projection.project(workflow).timers.values()}
    for bpmn_id in timers:
        element = tree_move.mapped_name(bpmn_id, mapping)
        if element not in waiting:
            raise _Diverged(f"timer '{element}' is not waiting in the candidate", timers,
                            sorted(waiting))
        if not waiting[element] < at:
            raise _Diverged(f"timer '{element}' would not be due yet in the candidate",
                            at.isoformat(), waiting[element].isoformat())


def _same_position(recorded: replay.Step, candidate: replay.Step, mapping) -> None:
    """Raise when READY, WAITING or completed elements differ; report only the differences."""
    rec, cand = {}, {}
    for part in POSITION:
        a = Counter(_mapped(getattr(recorded, part), mapping))
        b = Counter(getattr(candidate, part))
        if a != b:
            rec[part], cand[part] = sorted((a - b).elements()), sorted((b - a).elements())
    if rec:
        raise _Diverged("the candidate takes a different path", rec, cand)


def _mapped(ids, mapping) -> list[str]:
    return sorted(tree_move.mapped_name(i, mapping) for i in ids)


def _data_difference(recorded: dict, candidate: dict) -> tuple[dict, dict]:
    keys = sorted(k for k in recorded.keys() | candidate.keys()
                  if recorded.get(k, _MISSING) != candidate.get(k, _MISSING))
    return ({k: recorded[k] for k in keys if k in recorded},
            {k: candidate[k] for k in keys if k in candidate})


_MISSING = object()


def _at(event, problem, recorded=None, candidate=None) -> dict:
    return {"seq": getattr(event, "seq", None), "kind": getattr(event, "kind", None),
            "element": getattr(event, "element", None), "problem": problem,
            "recorded": recorded, "candidate": candidate}
