"""The engine verbs: the one door for every change of a process instance.

Each verb checks its command (the task is open, the actor may act on it, the form data is
valid) and hands it to one unit of work on the caller's session (engine/runtime/unit.py; the
caller owns the transaction): rebuild the workflow from the cached spec, apply, advance, write
back the state with an optimistic version check, the projections, the outbox rows and one audit
event. Verbs that change no workflow state (claim, suspend, record...) write their event alone.
Moving an instance to another version (engine/runtime/instance_migration.py) goes through the
same unit of work and write-back path.

Every verb on an existing instance first reads its row and only then its tasks, computes, and
writes the row back with a version check: load, compute, write. Of two commands on one instance
at once the second to write finds the version moved and raises LostRace having written nothing
(the API runs it again, on the fresh rows: web/__init__.py), so of ten users claiming one task
at once exactly one wins, and a claim and another user's completion cannot both succeed. No
row is locked while the workflow runs: the transaction begins with the first write (engine/db.py),
so no PostgreSQL backend is idle in a transaction and SQLite's write lock is not held while
Python computes (another process's writers run meanwhile). Instance-level verbs (suspend, resume,
cancel, retry, skip) are for the supervisors of the instance's open work
(engine.access.may_operate_instance).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine import access, clock, config, json_safety, prebuilt, service_tiers
from engine.access import SYSTEM, Actor
from engine.business_time import BusinessCalendar
from engine.definitions import catalog, forms, messages
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound, StepFailed
from engine.history import audit
from engine.jobs import timers
from engine.models import (
    ACTIVE,
    FINISHED,
    Definition,
    HumanTask,
    Instance,
    MessageSubscription,
    ReceivedMessage,
    Timer,
)
from engine.runtime import (
    determinism,
    incidents,
    projection,
    script_workers,
    separation,
    serialization,
    services,
    state_store,
    steps,
    task_rows,
    unit,
    workflow_cache,
    writeback,
)
from engine.runtime.scripting import PlatformScriptEngine

# The hot path's queries, built once (see engine/runtime/writeback.py for why).
_LATEST_DEFINITION = (select(Definition.id).where(Definition.process_key == bindparam("key"))
                      .order_by(Definition.version.desc()).limit(1))
# Read after the instance row: populate_existing replaces what the session held.
_OPEN_TASK = prebuilt.rows_of(HumanTask).where(HumanTask.task_id == bindparam("task_id"))
_TASK_INSTANCE = select(HumanTask.instance_id).where(HumanTask.task_id == bindparam("task_id"))
_INSTANCE_BY_ID = prebuilt.rows_of(Instance).where(Instance.id == bindparam("id"))
_SEEN = select(ReceivedMessage.instance_ids).where(ReceivedMessage.message_id == bindparam("id"))
_RECEIVED = insert(ReceivedMessage)
_SIGNAL_WAITERS = select(MessageSubscription.instance_id).where(
    MessageSubscription.name == bindparam("name"))
_SUBSCRIBERS = select(MessageSubscription.instance_id).where(
    MessageSubscription.name == bindparam("name"),
    MessageSubscription.correlation == bindparam("correlation"))
# An operator moves a timer at most this far from now.
MAX_TIMER_MOVE = timedelta(days=3660)
_DUE_TIMERS = select(Timer.bpmn_id).where(Timer.instance_id == bindparam("instance_id"),
                                          Timer.due_at < bindparam("now"))


class Runtime:
    """Engine verbs bound to one configuration (settings, calendar, script engine)."""

    def __init__(self, settings: config.Settings | None = None, hooks=(), intent_guards=(),
                 form_guards=()):
        determinism.install()
        self.settings = settings or config.Settings()
        self.calendar = BusinessCalendar.from_settings(self.settings)
        self.script_engine = PlatformScriptEngine(time_limit=self.settings.script_time_limit,
                                                  service_handler=services.handle_service_call)
        script_workers.configure(self.settings.script_workers,
                                 self.settings.script_memory_mb * 2**20)
        # Called after every state change as hook(session, instance, workflow, event_row).
        self.hooks = list(hooks)
        # Called as guard(session, business_key, intents, actor) before a unit writes anything.
        self.intent_guards = list(intent_guards)
        # Called as guard(session, business_key, schema, data) with a user task's form data once
        # it satisfies its schema, before the task completes: raises InvalidInput naming a field
        # (e.g. a refund amount above what the request may still be refunded).
        self.form_guards = list(form_guards)
        # Called with the due time of every new timer row (the scheduler re-arms its wake-up).
        self.timer_listeners: list = []

    # ----------------------------------------------------------------- verbs

    def start(self, session: Session, process_key: str, data: dict, actor: Actor = SYSTEM,
              business_key: str | None = None, before_write=None) -> Instance:
        """Start the newest version of `process_key`; returns the flushed instance row. Raises
        InvalidInput naming the field when `data` is not an object or cannot be stored
        (engine.json_safety: too deep, NUL, lone surrogates, NaN). `before_write(session)` is
        called after the process's first steps ran, before anything is written
        (engine/runtime/unit.py)."""
        if not isinstance(data, dict):
            raise InvalidInput("start data must be an object", field="data")
        json_safety.check(data, "data")    # stored in the state and the audit log for good
        definition_id = _latest_definition_id(session, process_key)
        compiled = catalog.compiled(session, definition_id)
        at = clock.now()
        business_key = business_key or data.get("request_no") or f"{process_key}-{at.timestamp():.6f}"
        instance = Instance(definition_id=definition_id, process_key=process_key,
                            business_key=business_key, status="running", state="",
                            serializer_version=serialization.CHUNKED_VERSION,
                            created_at=at, updated_at=at, audit_seq=0, audit_head="")

        apply = steps.start(compiled.spec, compiled.subprocess_specs, self.script_engine, data)
        return unit.run(session, self, instance, compiled, at=at, kind="started", actor=actor,
                        payload={"data": data, "business_key": business_key,
                                 "definition_id": definition_id},
                        apply=apply, new=True, before_write=before_write)

    def claim(self, session: Session, task_id: str, actor: Actor) -> HumanTask:
        """Claim an open task for `actor`; returns the task row. Raises NotFound, Forbidden,
        Conflict (claimed by someone else, completed, or its instance is not active)."""
        task, instance = self._task_and_instance(session, task_id)
        self._check_may_act(task, actor)
        if task.claimed_by not in (None, actor.name):
            raise Conflict(f"task is already claimed by {task.claimed_by}", task_id=task_id,
                           instance_id=task.instance_id)
        self._check_active(instance)
        if task.claimed_by is None:
            service_tiers.check_may_take(session, task, actor)
        separation.check(session, catalog.compiled(session, instance.definition_id), task, actor)
        task.claimed_by, task.claimed_at = actor.name, clock.now()
        self._record(session, instance, "task_claimed", actor, {}, element=task.bpmn_id,
                     task_id=task_id)
        return task

    def release(self, session: Session, task_id: str, actor: Actor) -> HumanTask:
        task, instance = self._task_and_instance(session, task_id)
        if task.claimed_by is None:
            raise Conflict("task is not claimed", task_id=task_id, instance_id=task.instance_id)
        if task.claimed_by != actor.name and not self._supervises(actor, task):
            raise Forbidden(f"task is claimed by {task.claimed_by}", task_id=task_id)
        self._check_active(instance)
        previous = task.claimed_by
        task.claimed_by, task.claimed_at = None, None
        self._record(session, instance, "task_released", actor, {"previous": previous},
                     element=task.bpmn_id, task_id=task_id)
        return task

    def reassign(self, session: Session, task_id: str, assignee: str | None, actor: Actor) -> HumanTask:
        """Supervisors hand a task to someone else (None: back to the department queue)."""
        task, instance = self._task_and_instance(session, task_id)
        if not self._supervises(actor, task):
            raise Forbidden("only a supervisor of the task's department may reassign it",
                            task_id=task_id)
        self._check_active(instance)
        previous = task.claimed_by
        task.claimed_by, task.claimed_at = assignee, (clock.now() if assignee else None)
        self._record(session, instance, "task_reassigned", actor,
                     {"previous": previous, "assignee": assignee}, element=task.bpmn_id,
                     task_id=task_id)
        return task

    def complete(self, session: Session, task_id: str, data: dict, actor: Actor,
                 expected_version: int | None = None) -> Instance:
        """Complete a READY user task with form `data` (validated against its JSON Schema);
        returns the instance. Raises NotFound, Forbidden, Conflict (claimed by someone else,
        already completed, a stale `expected_version`, an instance not active), InvalidInput."""
        task, instance = self._task_and_instance(session, task_id)
        self._check_may_act(task, actor)
        if task.claimed_by not in (None, actor.name) and not self._supervises(actor, task):
            raise Conflict(f"task is claimed by {task.claimed_by}", task_id=task_id,
                           instance_id=task.instance_id)
        self._check_active(instance)
        if expected_version is not None and expected_version != instance.version:
            raise Conflict(f"the request changed since you loaded it (version {instance.version}, "
                           f"yours {expected_version}); reload and try again",
                           instance_id=instance.id, task_id=task_id)
        if task.claimed_by is None:
            service_tiers.check_may_take(session, task, actor)
        compiled = catalog.compiled(session, instance.definition_id)
        separation.check(session, compiled, task, actor)
        data = self._form_data(session, instance, compiled, task.bpmn_id, data)
        return unit.run(session, self, instance, compiled, kind="task_completed", actor=actor,
                        payload={"data": data, **_task_facts(task)}, element=task.bpmn_id,
                        task_id=task_id, apply=steps.complete(task_id, data))

    def deliver_message(self, session: Session, name: str, correlation: str, payload: dict,
                        actor: Actor = SYSTEM, message_id: str | None = None,
                        before_write=None) -> list[Instance]:
        """Deliver an external message to the instances waiting for it with this correlation.
        `before_write(session)` is called in each instance's unit of work once its process has
        heard the message, before anything is written (engine/runtime/unit.py).

        A `message_id` seen before returns the instances it went to, without applying it again.
        Raises InvalidInput naming the field when the message cannot be stored
        (engine.json_safety) or its payload does not satisfy the message's schema in a waiting
        instance's version (engine.definitions.messages), NotFound when no instance waits for
        (name, correlation).
        """
        if not isinstance(payload, dict):
            raise InvalidInput("payload must be an object", field="payload")
        # The message as the API's body has it: its texts are query values, its payload state.
        json_safety.check({"name": name, "correlation": correlation, "payload": payload,
                           "message_id": message_id})
        if message_id is not None:
            seen = prebuilt.run(session, _SEEN, {"id": message_id}).first()
            if seen is not None:
                return [session.get(Instance, i) for i in seen.instance_ids]
        # Subscriptions are written by Core only, so a Core read needs no autoflush first.
        instance_ids = sorted(set(prebuilt.run(
            session, _SUBSCRIBERS, {"name": name, "correlation": correlation}).scalars()))
        if not instance_ids:
            raise NotFound(f"no request is waiting for message '{name}' with correlation "
                           f"'{correlation}'", field="correlation")
        waiting = []
        for instance_id in instance_ids:
            instance = self._active_instance(session, instance_id)
            compiled = catalog.compiled(session, instance.definition_id)
            # Against the schema of each instance's version, before anything is applied.
            messages.check_payload(compiled.messages, name, payload)
            waiting.append((instance, compiled))
        delivered = []
        for instance, compiled in waiting:
            delivered.append(unit.run(
                session, self, instance, compiled, kind="message_delivered", actor=actor,
                payload={"name": name, "payload": payload, "message_id": message_id},
                element=name, apply=steps.message(name, payload), before_write=before_write))
        if message_id is not None:
            # Another delivery of the same message at once: lost, and run again it finds
            # this one's.
            prebuilt.write(session, _RECEIVED, {"message_id": message_id, "name": name,
                                                "instance_ids": instance_ids,
                                                "received_at": clock.now()},
                           lost=Conflict.lost_race)
        return delivered

    def send_signal(self, session: Session, name: str, payload: dict,
                    actor: Actor = SYSTEM) -> list[Instance]:
        """Send signal `name` to every active instance waiting for it (an intermediate or
        boundary catch, an event subprocess's start), each its own unit of work recorded as
        `signal_received` with the actor and the payload; returns those instances, in id order.

        Each instance takes it in a savepoint: one whose steps fail is rolled back to it and
        put in error with its incident (status "error"), and the others take it on. Raises
        InvalidInput naming the field (no name, a payload that is not an object or cannot be
        stored), NotFound when no active instance waits for the signal, Forbidden (nothing
        sent) when `actor` may not operate on one of them (as Camunda refuses a signal to
        instances the caller has no authorization for).
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("a signal needs a name", field="name")
        if not isinstance(payload, dict):
            raise InvalidInput("payload must be an object", field="payload")
        json_safety.check({"name": name, "payload": payload})
        subscription = projection.signal_subscription(name)
        instance_ids = sorted(set(session.connection().scalars(_SIGNAL_WAITERS,
                                                               {"name": subscription})))
        waiting = [instance for instance in (self._instance(session, i) for i in instance_ids)
                   if instance.status in ACTIVE]
        if not waiting:
            raise NotFound(f"no request is waiting for signal '{name}'", field="name")
        for instance in waiting:
            self._check_may_operate(session, instance, actor)
        for instance in waiting:
            compiled = catalog.compiled(session, instance.definition_id)
            try:
                with session.begin_nested():
                    unit.run(session, self, instance, compiled, kind="signal_received",
                             actor=actor, payload={"name": name, "payload": payload},
                             element=name, apply=steps.signal(name, payload))
            except StepFailed as failed:
                incidents.record(session, failed)
        return waiting

    def fire_due_timers(self, session: Session, now: datetime | None = None, limit: int = 100) -> int:
        """Fire every timer due before `now` (at most `limit` instances); returns instances fired.

        Each instance fires in a savepoint: one whose firing fails is rolled back to it, put in
        error with its incident, and the others fire on."""
        now = now or clock.now()
        fired = 0
        for instance_id in timers.due_instance_ids(session, now, limit):
            try:
                with session.begin_nested():
                    self.fire_timers(session, instance_id, now)
                fired += 1
            except StepFailed as failed:
                incidents.record(session, failed)
        return fired

    def fire_timers(self, session: Session, instance_id: int, now: datetime | None = None) -> Instance:
        """Fire the due timers of one instance (a unit of work recorded as `timer_fired`)."""
        now = now or clock.now()
        instance = self._active_instance(session, instance_id)
        compiled = catalog.compiled(session, instance.definition_id)
        due = sorted(session.connection().scalars(_DUE_TIMERS, {"instance_id": instance_id,
                                                                "now": now}))
        return unit.run(session, self, instance, compiled, at=now, kind="timer_fired",
                        actor=SYSTEM, payload={"timers": due}, element=",".join(due) or None,
                        apply=steps.timers())

    def reschedule_timer(self, session: Session, instance_id: int, task_id: str,
                         due_at: datetime | None, actor: Actor, reason: str = "") -> Instance:
        """Move a waiting timer of an instance to `due_at` (None: fire it now), an operator's
        action recorded as `timer_rescheduled` (replay moves it the same way); a timer due by
        then fires in the same unit of work. Raises NotFound (no such timer), Forbidden (not a
        supervisor of the instance's work), Conflict (not active), InvalidInput (a naive time,
        or one more than ten years away)."""
        instance = self._instance(session, instance_id)
        self._check_may_operate(session, instance, actor)
        self._check_active(instance)
        timer = session.scalars(select(Timer).where(Timer.instance_id == instance_id,
                                                    Timer.task_id == task_id)).first()
        if timer is None:
            raise NotFound(f"instance {instance_id} has no timer {task_id} waiting",
                           instance_id=instance_id, task_id=task_id)
        if due_at is not None and (due_at.tzinfo is None or
                                   abs(due_at - clock.now()) > MAX_TIMER_MOVE):
            raise InvalidInput("due_at must be a time with its offset within ten years of now",
                               field="due_at")
        payload = {"task_id": task_id, "bpmn_id": timer.bpmn_id, "reason": reason,
                   "from": timer.due_at.isoformat(),
                   "due_at": due_at.astimezone(timezone.utc).isoformat() if due_at else None}
        compiled = catalog.compiled(session, instance.definition_id)
        return unit.run(session, self, instance, compiled, kind="timer_rescheduled", actor=actor,
                        payload=payload, element=timer.bpmn_id, task_id=task_id,
                        apply=steps.reschedule_timer(task_id, payload["due_at"]))

    def suspend(self, session: Session, instance_id: int, actor: Actor, reason: str = "") -> Instance:
        instance = self._instance(session, instance_id)
        self._check_may_operate(session, instance, actor)
        self._check_active(instance)
        instance.status = "suspended"
        self._record(session, instance, "suspended", actor, {"reason": reason})
        return instance

    def resume(self, session: Session, instance_id: int, actor: Actor, reason: str = "") -> Instance:
        instance = self._instance(session, instance_id)
        self._check_may_operate(session, instance, actor)
        if instance.status != "suspended":
            raise Conflict(f"instance is {instance.status}, not suspended", instance_id=instance_id)
        instance.status = writeback.active_status(session, instance_id)
        # The SLA clock stood still while suspended: open tasks keep the business time they had.
        suspended_at = task_rows.suspended_since(session, instance_id)
        payload: dict = {"reason": reason}
        if suspended_at is not None:
            paused = task_rows.resume_slas(session, self.calendar, instance_id, suspended_at,
                                           clock.now())
            payload.update(suspended_at=suspended_at.isoformat(),
                           sla_paused_seconds=int(paused.total_seconds()))
        self._record(session, instance, "resumed", actor, payload)
        return instance

    def cancel(self, session: Session, instance_id: int, actor: Actor, reason: str = "") -> Instance:
        instance = self._instance(session, instance_id)
        self._check_may_operate(session, instance, actor)
        if instance.status in FINISHED:
            raise Conflict(f"instance is already {instance.status}", instance_id=instance_id)
        compiled = catalog.compiled(session, instance.definition_id)
        return unit.run(session, self, instance, compiled, kind="cancelled", actor=actor,
                        payload={"reason": reason}, apply=steps.cancel(), final_status="cancelled")

    def retry(self, session: Session, instance_id: int, actor: Actor, data: dict | None = None) -> Instance:
        """Re-run what put an instance in error, optionally with corrected data: the input of
        its open incident (recorded as that input's own kind; `data` replaces a completion's
        form data or a message's payload), else the task that failed in the engine's steps."""
        instance = self._instance(session, instance_id)
        self._check_may_operate(session, instance, actor)
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("data must be an object", field="data")
        incident = incidents.open_incident(session, instance)
        if incident is not None:
            return self._retry_incident(session, instance, incident, actor, data)
        if instance.status != "error" or not instance.error_task_id:
            raise Conflict(f"instance is {instance.status}, not in error", instance_id=instance_id)
        compiled = catalog.compiled(session, instance.definition_id)
        failed = instance.error_task_id
        return unit.run(session, self, instance, compiled, kind="retried", actor=actor,
                        payload={"task_id": failed, "data": data}, task_id=failed,
                        apply=steps.retry(failed, data))

    def skip(self, session: Session, instance_id: int, actor: Actor, reason: str = "") -> Instance:
        """Drop the input of an instance's open incident; it runs on as before the input."""
        instance = self._instance(session, instance_id)
        self._check_may_operate(session, instance, actor)
        with incidents.refused_on_failure(incidents.SKIPPED, actor, {"reason": reason}):
            event = incidents.skip(session, instance, actor, reason)
            for hook in self.hooks:
                hook(session, instance, None, event)
        return instance

    def record(self, session: Session, instance_id: int, kind: str, actor: Actor, payload: dict,
               element: str | None = None, task_id: str | None = None) -> Instance:
        """Record an event that changes no workflow state (SLA warnings and escalations).

        Comments and attachments are notes, recorded by engine.task_notes without a new
        instance version."""
        instance = self._instance(session, instance_id)
        self._record(session, instance, kind, actor, payload, element, task_id)
        return instance

    # -------------------------------------------------------------- queries

    def workflow(self, session: Session, instance: Instance) -> BpmnWorkflow:
        """The instance's workflow, rebuilt read-only (changes to it are never saved)."""
        compiled = catalog.compiled(session, instance.definition_id)
        return state_store.load(session, instance, compiled, self.script_engine)[0]

    def human_task_row(self, instance: Instance, compiled: catalog.Compiled, task,
                       opened_at: datetime) -> dict:
        """The human_task row of READY user task `task`, its SLA running from `opened_at`."""
        return task_rows.human_task_row(instance, compiled, task, opened_at, self.calendar,
                                        self.settings.at_risk_fraction)

    # ------------------------------------------------------------- internals

    def _retry_incident(self, session, instance, incident, actor, data) -> Instance:
        kind, payload = incidents.retry_input(incident, data)
        element = incident.payload["input"]["element"]     # the command's, not where it failed
        compiled = catalog.compiled(session, instance.definition_id)
        if kind == "task_completed":
            payload["data"] = self._form_data(session, instance, compiled, element,
                                              payload["data"])
        apply = steps.for_event(kind, payload, incident.task_id, compiled, self.script_engine)
        return unit.run(session, self, instance, compiled, kind=kind, actor=actor, payload=payload,
                        element=element, task_id=incident.task_id,
                        apply=apply, final_status="cancelled" if kind == "cancelled" else None)

    def _form_data(self, session, instance, compiled, element: str, data) -> dict:
        """A user task's form `data` as its schema reads it, checked by the form guards.
        Raises InvalidInput naming the field."""
        schema = compiled.form_schema(element)
        data = forms.validate(schema, data)
        for guard in self.form_guards:
            guard(session, instance.business_key, schema, data)
        return data

    def _record(self, session, instance, kind, actor, payload, element=None, task_id=None):
        at = clock.now()
        instance.updated_at = at
        with incidents.refused_on_failure(kind, actor, payload, element, task_id):
            row_before = workflow_cache.key_of(instance)
            event = audit.append(session, instance, at=at, actor=actor.name, kind=kind,
                                 payload=payload, element=element, task_id=task_id,
                                 state_hash=serialization.state_hash(instance.state))
            writeback.flush_or_conflict(session, instance)
            # The state stays as it was: a live workflow kept for the row goes on to the next.
            workflow_cache.cache.carry(session, row_before, instance)
            for hook in self.hooks:
                hook(session, instance, None, event)

    def _open_task(self, session, task_id: str) -> HumanTask:
        if not isinstance(task_id, str) or not task_id:
            raise InvalidInput("task id must be a string", field="task_id")
        task = prebuilt.one(session, HumanTask, _OPEN_TASK, {"task_id": task_id}, refresh=True)
        if task is not None:
            return task
        done = audit.completion_of(session, task_id)
        if done is not None:
            raise Conflict(f"task was already completed by {done.actor}", task_id=task_id,
                           instance_id=done.instance_id)
        raise NotFound(f"task {task_id} does not exist or is not open", task_id=task_id)

    def _task_and_instance(self, session, task_id: str) -> tuple[HumanTask, Instance]:
        """(open task `task_id`, its instance), the task read after the instance row.

        Read the other way round, a claimer could see the instance a rival claim had just
        committed and the task row from before it, and both would win."""
        if not isinstance(task_id, str) or not task_id:
            raise InvalidInput("task id must be a string", field="task_id")
        instance_id = prebuilt.read(session, _TASK_INSTANCE, {"task_id": task_id}).scalar()
        if instance_id is None:
            self._open_task(session, task_id)           # raises: completed or unknown
        instance = self._instance(session, instance_id)
        return self._open_task(session, task_id), instance

    def _check_may_act(self, task: HumanTask, actor: Actor) -> None:
        if actor.works_in(task.department) or task.claimed_by == actor.name:
            return
        raise Forbidden(f"{actor.name} may not act on tasks of {task.department}",
                        task_id=task.task_id, instance_id=task.instance_id)

    def _supervises(self, actor: Actor, task: HumanTask) -> bool:
        return actor.supervises(task.department)

    def _check_may_operate(self, session, instance: Instance, actor: Actor) -> None:
        user_tasks = catalog.compiled(session, instance.definition_id).tasks.values()
        if not access.may_operate_instance(actor, access.instance_scope(session, instance.id,
                                                                        user_tasks)):
            raise Forbidden(f"{actor.name} may not act on instance {instance.id}: its open work "
                            f"is not in a department you supervise", instance_id=instance.id)

    def _instance(self, session, instance_id: int) -> Instance:
        """The instance row (not locked: its write is version-checked). Raises NotFound."""
        # session.get() without its per-call statement: the identity map, else a prebuilt
        # select. An instance the session already holds stays as loaded, so a caller who read
        # an older version loses on the version check (LostRace, never an overwrite).
        instance = session.identity_map.get(identity_key(Instance, instance_id))
        if instance is None:
            instance = prebuilt.one(session, Instance, _INSTANCE_BY_ID, {"id": instance_id})
        if instance is None:
            raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
        return instance

    def _active_instance(self, session, instance_id: int) -> Instance:
        return self._check_active(self._instance(session, instance_id))

    def _check_active(self, instance: Instance) -> Instance:
        if instance.status not in ACTIVE:
            raise Conflict(f"instance is {instance.status}", instance_id=instance.id)
        return instance


def _task_facts(task: HumanTask) -> dict:
    """What KPIs need to know about a completed task (recorded with its completion)."""
    return {"department": task.department, "ready_at": task.created_at.isoformat(),
            "due_at": task.due_at.isoformat() if task.due_at else None,
            "claimed_by": task.claimed_by}


def _latest_definition_id(session: Session, process_key: str) -> int:
    """The id of the newest version of `process_key` (only the id: the row carries the whole
    bundle, which a start does not need). Raises NotFound like catalog.latest_definition."""
    definition_id = prebuilt.run(session, _LATEST_DEFINITION, {"key": process_key}).scalar()
    if definition_id is None:
        raise NotFound(f"process '{process_key}' is not deployed", field="process_key")
    return definition_id

