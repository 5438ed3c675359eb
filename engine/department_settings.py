"""A department's own rules for its work, set by the supervisors who oversee it: whether its
tasks must be claimed before they are completed (so that two clerks never answer the same
request, and every answer has had an owner). Departments without a row keep the defaults.

`check_complete` is the rule as every completion asks it (the inbox's complete; see the
README's staff workspace section for the API).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine import config, prebuilt
from engine.access import Actor, TaskScope
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.models import DepartmentSetting


def of(session: Session, departments) -> dict[str, dict]:
    """{department: {"claim_required": bool, "updated_by", "updated_at"}} for `departments`
    (the defaults where nothing was set)."""
    rows = {row.department: row for row in session.scalars(select(DepartmentSetting).where(
        DepartmentSetting.department.in_(list(departments))))}
    return {d: {"claim_required": bool(rows[d].claim_required) if d in rows else False,
                "updated_by": rows[d].updated_by if d in rows else None,
                "updated_at": rows[d].updated_at if d in rows else None}
            for d in departments}


def claim_required(session: Session, department: str | None) -> bool:
    """Must a task of `department` be claimed before it is completed?"""
    if department is None:
        return False
    return bool(prebuilt.read(session, _CLAIM_REQUIRED, {"department": department}).scalar())


_CLAIM_REQUIRED = select(DepartmentSetting.claim_required).where(
    DepartmentSetting.department == bindparam("department"))


def set_claim_required(session: Session, actor: Actor, department, value: bool,
                       now: datetime) -> dict:
    """Set the rule for `department`; returns its settings (as `of`). Raises InvalidInput for
    an unknown department, Forbidden for anyone but its supervisors and admins."""
    if department not in config.DEPARTMENTS:
        raise InvalidInput(f"unknown department {department!r}", field="department")
    if actor.role not in ("supervisor", "admin") or not actor.supervises(department):
        raise Forbidden(f"{actor.name} may not change the settings of {department}")
    row = session.get(DepartmentSetting, department)
    if row is None:
        row = DepartmentSetting(department=department)
        session.add(row)
    row.claim_required, row.updated_by, row.updated_at = bool(value), actor.name, now
    session.flush()
    return of(session, [department])[department]


def check_complete(session: Session, found: TaskScope, actor: Actor) -> None:
    """Raise Conflict when `actor` may not complete the open task `found` yet because its
    department requires a claim first and `actor` has not claimed it."""
    if found.open and found.claimed_by is None and claim_required(session, found.department):
        raise Conflict("claim the task before completing it: its department requires a claim",
                       task_id=found.task_id, instance_id=found.instance_id)
