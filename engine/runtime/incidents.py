"""Incidents: the one failure path of a command that cannot be applied.

When applying a command or running the engine's steps raises anything but an EngineError (a
post-script, a data output, a condition, a multi-instance input, a message payload that breaks
a script), the unit of work (engine/runtime/unit.py) raises `StepFailed` and writes nothing, so
the caller's transaction rolls back the command's effects. `transaction(sessions)` is the one
place that then, in a transaction of its own, records the instance in `error` with an incident:
a non-state-changing audit event `incident` (the input's kind, the element, the message, the
input that failed and the actor), so replay stays bit-exact. The StepFailed goes on to the
caller (the API answers 422 naming the problem and the element; 409 if the instance changed in
between and the incident could not be recorded).

An operator then retries the incident (`Runtime.retry`: the same input again, optionally with
corrected data, recorded as the input's own kind), skips it (`skip`: the input is dropped and
the instance runs on as before), or cancels the instance.

A command that changes no workflow (claim, release, reassign, suspend, resume, skip) and fails
in an unexpected way is refused (`refused_on_failure`): a 422 that records nothing, as there is
no input to retry; the client does it again. A start whose command cannot be applied stores nothing: as in Camunda, where a start whose
first transaction fails is refused with the exception and leaves no instance, the caller gets
the 422 and may start again. Only a start whose engine steps fail (a WorkflowException: a script
task, a condition) is stored in error with the failed task in its state (`error_task_id`), so
that a new version can take it by migration and `retry` re-run that task.
"""
from __future__ import annotations

import contextlib
from copy import deepcopy

from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine import clock
from engine.access import Actor
from engine.errors import Conflict, EngineError, InvalidInput, LostRace, StepFailed
from engine.history import audit
from engine.models import AuditEvent, Instance
from engine.runtime import serialization, writeback

KIND = "incident"
SKIPPED = "incident_skipped"

# Where an input's correctable data sits in its payload (kinds absent here take no data).
_DATA_FIELD = {"task_completed": "data", "message_delivered": "payload", "retried": "data",
               "signal_received": "payload"}

_WHAT = {"started": "starting the process", "task_completed": "completing the task",
         "message_delivered": "delivering the message",
         "signal_received": "receiving the signal", "timer_fired": "firing the timer",
         "cancelled": "cancelling", "retried": "retrying the failed task",
         "migrated": "moving to the new version", "timer_rescheduled": "moving the timer",
         "task_claimed": "claiming the task", "task_released": "releasing the task",
         "task_reassigned": "reassigning the task", "suspended": "suspending",
         "resumed": "resuming", SKIPPED: "skipping the incident"}


def failure(err: Exception, *, instance: Instance | None, kind: str, actor: Actor, payload: dict,
            element: str | None, task_id: str | None, version: int | None = None) -> StepFailed:
    """The StepFailed that stands for `err`, raised while applying a `kind` input to
    `instance` (None: nothing is stored, as for a start) at its `version` (default: the
    instance's version now)."""
    failed_task = getattr(err, "task", None)
    spec = getattr(failed_task, "task_spec", None) or getattr(err, "task_spec", None)
    where = getattr(spec, "bpmn_id", None) or getattr(err, "element", None) or element
    problem = str(err).strip()
    if not isinstance(err, SpiffWorkflowException):    # Spiff's own messages name the error
        problem = f"{type(err).__name__}: {problem}" if problem else type(err).__name__
    message = f"{_WHAT.get(kind, kind)} failed" + (f" at {where}" if where else "") + f": {problem}"
    incident = {"kind": kind, "element": where, "message": message, "actor": actor.name,
                "input": {"element": element, "task_id": task_id, "payload": payload},
                "instance_id": instance.id if instance is not None else None,
                "version": (version if version is not None else instance.version)
                           if instance is not None else None}
    return StepFailed(message, incident=incident, task_id=task_id,
                      instance_id=incident["instance_id"])


@contextlib.contextmanager
def refused_on_failure(kind: str, actor: Actor, payload: dict, element: str | None = None,
                       task_id: str | None = None):
    """Around a command that changes no workflow: an unexpected exception (not an EngineError,
    not the database's own) becomes a StepFailed that records nothing; the caller's transaction
    rolls the command back."""
    try:
        yield
    except (EngineError, SQLAlchemyError):
        raise
    except Exception as err:
        raise failure(err, instance=None, kind=kind, actor=actor, payload=payload,
                      element=element, task_id=task_id) from err


@contextlib.contextmanager
def transaction(sessions):
    """`with sessions.begin() as session:` for a command that changes an instance: a StepFailed
    rolls the block back, then the incident is recorded in a transaction of its own and the
    StepFailed re-raised. The API, the pages, the CLI and the jobs open their units of work here."""
    try:
        with sessions.begin() as session:
            yield session
    except StepFailed as failed:
        if failed.incident["instance_id"] is not None and not failed.recorded:
            with sessions.begin() as session:
                record(session, failed)
        raise


LOST_RACE_ATTEMPTS = 3


def again_if_lost(work, race: type[Exception] = LostRace):
    """`work()`, a whole unit of work in a transaction of its own, run again when it lost a
    race for an instance (`race`, by default LostRace: another writer changed it between its
    reads and its write, and it wrote nothing), up to LOST_RACE_ATTEMPTS times; the last one
    goes on to the caller. The API and the pages (web/__init__.py) and the jobs run their units
    of work this way, so that two commands on one instance at once both land, one after the
    other."""
    for _ in range(LOST_RACE_ATTEMPTS - 1):
        try:
            return work()
        except race:
            pass
    return work()


def record(session: Session, failed: StepFailed) -> Instance:
    """Put the failed command's instance in error with its incident event; returns it.

    Raises Conflict when the instance changed since the command read it (the incident would
    describe a state that is gone)."""
    incident = failed.incident
    instance = session.get(Instance, incident["instance_id"])
    if instance is None or instance.version != incident["version"]:
        raise Conflict(f"{failed.message}; the request changed meanwhile, reload and try again",
                       instance_id=incident["instance_id"]) from failed
    at = clock.now()
    instance.status, instance.error, instance.updated_at = "error", incident["message"], at
    instance.error_task_id = incident["input"]["task_id"]
    payload = {k: incident[k] for k in ("kind", "element", "message", "input")}
    audit.append(session, instance, at=at, actor=incident["actor"], kind=KIND, payload=payload,
                 state_hash=serialization.state_hash(instance.state), element=incident["element"],
                 task_id=incident["input"]["task_id"])
    writeback.flush_or_conflict(session, instance)
    failed.recorded = True
    return instance


def open_incident(session: Session, instance: Instance) -> AuditEvent | None:
    """The incident event the instance is in error for (None: no open incident)."""
    if instance.status != "error":
        return None
    last = session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance.id,
                                 AuditEvent.kind.in_(audit.STATE_CHANGING | {KIND, SKIPPED}))
        .order_by(AuditEvent.seq.desc()).limit(1)).first()
    return last if last is not None and last.kind == KIND else None


def retry_input(incident: AuditEvent, data: dict | None) -> tuple[str, dict]:
    """The (kind, payload) to apply again for `incident`, with `data` in place of the input's
    data (the form data of a completion, the payload of a message) and the data it replaces
    as `corrected_from`. Raises InvalidInput when the input takes no data."""
    kind = incident.payload["kind"]
    payload = deepcopy(incident.payload["input"]["payload"])
    if data is not None:
        if kind not in _DATA_FIELD:
            raise InvalidInput(f"a failed {kind} takes no corrected data", field="data")
        # The data before the correction stays in the event: who changed what, from what.
        payload["corrected_from"] = payload.get(_DATA_FIELD[kind])
        payload[_DATA_FIELD[kind]] = data
    if kind == "started" or kind == "migrated":
        raise Conflict(f"a failed {kind} is not retried here; run it again",
                       instance_id=incident.instance_id)
    return kind, dict(payload, retry_of=incident.seq)


def skip(session: Session, instance: Instance, actor: Actor, reason: str = "") -> dict:
    """Drop the input of the instance's open incident: the instance runs on as it was before it
    (running with its open tasks, else waiting); returns the event row. Raises Conflict without
    an open incident."""
    incident = open_incident(session, instance)
    if incident is None:
        raise Conflict(f"instance is {instance.status} without an open incident; nothing to skip",
                       instance_id=instance.id)
    at = clock.now()
    instance.status = writeback.active_status(session, instance.id)
    instance.error = instance.error_task_id = None
    instance.updated_at = at
    event = audit.append(session, instance, at=at, actor=actor.name, kind=SKIPPED,
                 payload={"incident": incident.seq, "kind": incident.payload["kind"],
                          "reason": reason},
                 state_hash=serialization.state_hash(instance.state), element=incident.element,
                 task_id=incident.task_id)
    writeback.flush_or_conflict(session, instance)
    return event


def open_incidents(session: Session) -> list[dict]:
    """Every instance in error, oldest first, as `incident_json`: those with an incident event,
    and those whose task failed inside the engine's steps (the error is in the stored state)."""
    rows = session.scalars(select(Instance).where(Instance.status == "error")
                           .order_by(Instance.id))
    return [incident_json(instance, open_incident(session, instance)) for instance in rows]


def incident_json(instance: Instance, event: AuditEvent | None) -> dict:
    """An instance incident in the shape of the outbox's (engine/jobs/outbox.py), `kind` apart;
    `operation` is the kind of the input that failed ("step" for a task failed in the steps)."""
    item = {"kind": "instance", "id": instance.id, "instance_id": instance.id,
            "business_key": instance.business_key, "status": instance.status,
            "operation": "step", "element": None, "task_id": instance.error_task_id,
            "last_error": instance.error, "payload": None, "actor": None,
            "created_at": instance.updated_at}
    if event is not None:
        item.update(operation=event.payload["kind"], element=event.element,
                    task_id=event.task_id, last_error=event.payload["message"],
                    payload=event.payload["input"]["payload"], actor=event.actor,
                    created_at=event.at)
    return item
