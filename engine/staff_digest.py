"""Staff notifications by email, as a digest: work a department should hear of (a new P1 task,
a task at risk, a breached or escalated SLA) is noted as it happens and mailed once per run of
the digest job, one mail per department listing all of its notices, not one mail per event.

Notices come from two places: the notify.staff intents of the SLA job (engine/jobs/sla.py),
which the outbox hands to `notice` (the notify.staff adapter), and the P1 tasks the job itself
finds open with no notice yet. A department's mail goes to its active staff and supervisors who
have an email address (engine.users); a department with none gets its notices marked not_sent,
so they do not pile up. A mail the SMTP server does not take leaves the notices for the next
run; a crash between sending and the commit sends that digest again (at least once).
Functions that persist take a session and flush; `run` owns its transactions.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import clock, notification_templates, notifications
from engine.access import STAFF_ROLES
from engine.config import Settings
from engine.models import HumanTask, Outbox, StaffNotice, User

log = logging.getLogger(__name__)

NEW_P1 = "new_p1_task"


def notice(session: Session, row: Outbox, settings: Settings) -> tuple[dict, None]:
    """The notify.staff adapter: note the event for the department's next digest."""
    payload = row.payload
    _add(session, key=row.idempotency_key, department=payload.get("department"),
         kind=payload.get("template") or "sla_at_risk", task_id=payload.get("task_id"),
         request_no=payload.get("request_no") or row.business_key, task_name=payload.get("task"))
    return {"state": "queued", "digest": payload.get("department")}, None


def note_new_p1_tasks(session: Session) -> int:
    """Note each open P1 task that has no notice yet; returns how many were noted."""
    noted = select(StaffNotice.task_id).where(StaffNotice.kind == NEW_P1,
                                              StaffNotice.task_id.is_not(None))
    tasks = session.scalars(select(HumanTask).where(HumanTask.priority == 1,
                                                    HumanTask.task_id.not_in(noted)))
    count = 0
    for task in tasks:
        _add(session, key=f"{NEW_P1}:{task.task_id}", department=task.department, kind=NEW_P1,
             task_id=task.task_id, request_no=task.business_key, task_name=task.name)
        count += 1
    return count


def run(sessions, settings: Settings, now: datetime | None = None) -> dict:
    """One run of the digest job: note new P1 tasks, then mail each department its waiting
    notices. Returns {"noted", "departments", "mailed", "notices"}."""
    now = now or clock.now()
    with sessions.begin() as session:
        noted = note_new_p1_tasks(session)
        departments = sorted({d for d in session.scalars(
            select(StaffNotice.department).where(StaffNotice.sent_at.is_(None)))}, key=str)
    counts = {"noted": noted, "departments": 0, "mailed": 0, "notices": 0}
    for department in departments:
        try:
            with sessions.begin() as session:
                mailed, notices = _send_digest(session, settings, department, now)
        except Exception as err:    # the mail server may be back next run: keep the notices
            log.warning("staff digest of %s not sent: %s: %s", department,
                        type(err).__name__, err)
            continue
        counts["departments"] += 1
        counts["mailed"] += mailed
        counts["notices"] += notices
    return counts


def _send_digest(session: Session, settings: Settings, department: str | None,
                 now: datetime) -> tuple[int, int]:
    query = (select(StaffNotice).where(StaffNotice.sent_at.is_(None),
                                       StaffNotice.department.is_(None) if department is None
                                       else StaffNotice.department == department)
             .order_by(StaffNotice.id)
             .with_for_update(skip_locked=True))          # another scheduler's run
    notices = list(session.scalars(query))
    if not notices:
        return 0, 0
    recipients = list(session.scalars(
        select(User.email).where(User.active.is_(True), User.role.in_(STAFF_ROLES),
                                 User.department == department, User.email.is_not(None))
        .order_by(User.email))) if department is not None else []
    if not recipients:
        delivery = {"state": "not_sent", "reason": f"no one in {department} has an email address"}
    elif not settings.smtp_host:
        delivery = {"state": "not_sent", "reason": "no email service is configured here"}
    else:
        subject, text = digest(department, notices)
        message_id = notifications.send_email(settings, recipients, subject, text)
        delivery = {"state": "sent", "provider_id": message_id, "recipients": len(recipients)}
    for row in notices:
        row.sent_at, row.delivery = now, delivery
    session.flush()
    return (1 if delivery["state"] == "sent" else 0), len(notices)


def digest(department: str, notices: list[StaffNotice]) -> tuple[str, str]:
    """The subject and text of one department's digest: Chinese, then English."""
    values = {"department": department, "count": len(notices)}
    subject = notification_templates.digest_subject("zh-CN", values)
    parts = []
    for language in ("zh-CN", "en"):
        parts.append("\n".join(
            "- " + notification_templates.staff_line(
                n.kind, language, {"task": n.task_name or n.task_id, "request_no": n.request_no})
            for n in notices))
    return subject, "\n\n".join(parts) + "\n"


def _add(session: Session, **values) -> None:
    """Insert one notice; one with the same key (a redelivered outbox row) is left as is."""
    row = {**values, "created_at": clock.now()}
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(module.insert(StaffNotice).values(**row)
                    .on_conflict_do_nothing(index_elements=["key"]))
