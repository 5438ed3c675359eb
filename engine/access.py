"""Who may see and do what: the roles, the `Actor` that issues every command, and the rules
that decide which departments' work an actor sees and acts on.

The rules by role and department live here: the engine verbs ask whether an actor may act on a
task of a lane, the task list and task reads which departments it sees, and the web layer's
route guards take the role groups below. Supervisors oversee the departments listed for their
own department in `engine.config.SUPERVISES`. Rules that need a row sit beside the rows they
read: a customer sees only their own requests (engine.service_requests.visible) and orders
(engine.orders.visible), a task is seen through its scope (engine.tasks.scope).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine import config
from engine.errors import Forbidden

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


def may_see(actor: Actor, department: str | None, claimed_by: str | None) -> bool:
    """May `actor` see a task of `department` claimed by `claimed_by`?"""
    try:
        departments = visible_departments(actor)
    except Forbidden:
        return False
    return departments is None or department in departments or claimed_by == actor.name
