"""Who may see and do what: the roles, the `Actor` that issues every command, and the rules
that decide which departments' work an actor sees and acts on.

The rules by role and department live here: the engine verbs ask whether an actor may act on a
task of a lane, the task list and task reads which departments it sees, and the web layer's
route guards take the role groups below. Supervisors oversee the departments listed for their
own department in `engine.config.SUPERVISES`. Rules that need a row sit beside the rows they
read: a customer sees only their own requests (engine.service_requests.visible) and orders
(engine.orders.visible), a task is seen through its scope (engine.tasks.scope).

An instance is judged by its `InstanceScope` (its open and completed human tasks, which
`instance_scope` reads here rather than in engine.instances because the verbs need it too and
the runtime cannot import engine.instances): staff and supervisors read an instance only through
a task of it they may see, and supervisors operate on (suspend, resume, cancel, retry, skip) an
instance only when its open work lies in departments they supervise.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine import config, prebuilt
from engine.errors import Forbidden
from engine.models import AuditEvent, HumanTask

# Staff and supervisors work in a department; the other roles are defined by their role alone.
STAFF_ROLES = ("staff", "supervisor")
ROLES = STAFF_ROLES + ("process_owner", "auditor", "admin", "customer", "courier", "payment",
                      "shop")
# Machines: couriers and payment providers only deliver messages, the shop only sends orders.
MACHINE_ROLES = ("courier", "payment", "shop")
PAGE_ROLES = ("staff", "supervisor", "process_owner", "auditor", "admin")

# Role groups that routes admit.
ADMIN = ("admin",)
TASK_WORKERS = ("staff", "supervisor", "admin")
TASK_READERS = TASK_WORKERS + ("auditor",)
ASSIGNABLE = TASK_WORKERS                       # who a supervisor may hand a task to
REQUEST_READERS = ("customer", "staff", "supervisor", "auditor", "admin")
REQUEST_FILERS = ("customer", "staff", "supervisor", "admin")
FILING_DEPARTMENTS = ("customer_service", "cs_supervisor")
INSTANCE_READERS = ("staff", "supervisor", "process_owner", "auditor", "admin")
SUPERVISORS = ("supervisor", "admin")
OWNERS = ("process_owner", "admin")
OWNER_READERS = OWNERS + ("auditor",)
KPI_READERS = ("supervisor", "process_owner", "auditor", "admin")
AUDITORS = ("auditor", "admin")                 # the auditors' pages
EXPORT_READERS = ("supervisor", "auditor", "admin")
INCIDENT_READERS = ("admin", "auditor")
ORDER_WRITERS = ("shop",)                       # PUT /api/orders/<id>
ORDER_READERS = REQUEST_READERS                 # customers: their own orders
# Which messages each role may deliver to POST /api/messages (None: any).
MESSAGE_SENDERS = {"courier": frozenset({"picked_up", "pickup_booked"}),
                   "payment": frozenset({"refund_result", "clawback_result"}),
                   "admin": None}
READ_ALL_ROLES = ("admin", "auditor", "system")
# Who reads every instance: process owners too (they have no department, and migrate instances).
INSTANCE_READ_ALL = READ_ALL_ROLES + ("process_owner",)


@dataclass(frozen=True)
class Actor:
    """Who issues a command: a user (with role and department) or the system itself."""

    name: str
    role: str = "staff"
    department: str | None = None
    customer_id: str | None = None

    def works_in(self, department: str | None) -> bool:
        """May this actor act on tasks of `department`'s lane?"""
        if self.role in ("admin", "system"):
            return True
        if self.role == "staff":
            return department is not None and department == self.department
        if self.role == "supervisor":
            return department in config.SUPERVISES.get(self.department, (self.department,))
        return False

    def supervises(self, department: str | None) -> bool:
        """May this actor reassign, release or complete others' tasks of `department`?"""
        return self.role in ("admin", "system") or (self.role == "supervisor"
                                                     and self.works_in(department))


SYSTEM = Actor("system", "system")


@dataclass(frozen=True)
class TaskScope:
    """Where a task belongs (its instance, department and claim), as engine.tasks.scope finds
    it and `may_see` judges it. For a completed task `claimed_by` is who completed it, and
    `bpmn_id` comes from the completion event."""

    task_id: str
    instance_id: int
    department: str | None
    claimed_by: str | None
    bpmn_id: str | None
    open: bool


def visible_departments(actor: Actor) -> tuple[str, ...] | None:
    """Departments whose tasks `actor` sees (None: all). Raises Forbidden for other roles."""
    if actor.role in READ_ALL_ROLES:
        return None
    if actor.role == "staff" and actor.department:
        return (actor.department,)
    if actor.role == "supervisor" and actor.department:
        departments = tuple(config.SUPERVISES.get(actor.department, (actor.department,)))
        return None if set(departments) >= set(config.DEPARTMENTS) else departments
    raise Forbidden(f"{actor.role} users have no task list")


def reads_every_request(actor: Actor) -> bool:
    """May `actor` read every 售后单 (list, view, payments)? Customer service files and answers
    for any customer, so its staff and supervisors do, as the roles that read everything;
    customers read their own (engine.service_requests.visible), other staff only requests whose
    instance they may read (`may_read_instance`)."""
    if actor.role in STAFF_ROLES:
        return actor.department in FILING_DEPARTMENTS or visible_departments(actor) is None
    return actor.role in READ_ALL_ROLES


def may_see(actor: Actor, department: str | None, claimed_by: str | None) -> bool:
    """May `actor` see a task of `department` claimed by `claimed_by`?"""
    try:
        departments = visible_departments(actor)
    except Forbidden:
        return False
    return departments is None or department in departments or claimed_by == actor.name


@dataclass(frozen=True)
class InstanceScope:
    """Where an instance's work belongs, as `instance_scope` finds it: (department, who holds
    it) of each open human task, (department, who completed it) of each completed one, oldest
    first, and the lanes of its process's user tasks."""

    instance_id: int
    open: tuple[tuple[str | None, str | None], ...]
    done: tuple[tuple[str | None, str], ...]
    lanes: frozenset[str | None]

    def work_departments(self) -> frozenset[str | None]:
        """The departments of the open work: of the open tasks, else of the last completed
        task (an instance waiting for a message or a timer, or whose step failed), else the
        lanes of its process (an instance that failed before its first task)."""
        if self.open:
            return frozenset(department for department, _ in self.open)
        return frozenset({self.done[-1][0]}) if self.done else self.lanes


# The two reads of instance_scope, built once (it runs before every instance read and verb).
_OPEN_WORK = select(HumanTask.department, HumanTask.claimed_by).where(
    HumanTask.instance_id == bindparam("instance_id")).order_by(HumanTask.id)
_DONE_WORK = select(AuditEvent.payload, AuditEvent.actor).where(
    AuditEvent.instance_id == bindparam("instance_id"),
    AuditEvent.kind == "task_completed").order_by(AuditEvent.seq)


def instance_scope(session: Session, instance_id: int, user_tasks) -> InstanceScope:
    """The scope of instance `instance_id` (which need not exist): its open and completed
    human tasks, and the lanes of `user_tasks` (its definition's, engine.definitions.catalog's
    Compiled.tasks values: the caller has them, and this foundation module cannot load them)."""
    params = {"instance_id": instance_id}
    open_work = tuple((d, c) for d, c in prebuilt.read(session, _OPEN_WORK, params))
    # A completion records its task's department (engine.runtime.verbs._task_facts).
    done = tuple(((payload or {}).get("department"), actor)
                 for payload, actor in prebuilt.read(session, _DONE_WORK, params))
    return InstanceScope(instance_id, open_work, done, frozenset(t.lane for t in user_tasks))


def may_read_instance(actor: Actor, scope: InstanceScope) -> bool:
    """May `actor` read the instance (its state, history, replay, exports)? Staff and
    supervisors only through a task of it, open or completed, that they may see (`may_see`);
    supervisors also an instance they may operate on."""
    if actor.role in INSTANCE_READ_ALL:
        return True
    if any(may_see(actor, department, person) for department, person in scope.open + scope.done):
        return True
    return actor.role == "supervisor" and may_operate_instance(actor, scope)


def may_operate_instance(actor: Actor, scope: InstanceScope) -> bool:
    """May `actor` suspend, resume, cancel, retry or skip the instance? Admins and the system
    always; supervisors when every department of its open work (InstanceScope.work_departments)
    is one they supervise. An instance with no work anywhere is for supervisors of all
    departments."""
    departments = scope.work_departments() or config.DEPARTMENTS
    return all(actor.supervises(department) for department in departments)
