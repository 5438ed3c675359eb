"""The database tables (SQLAlchemy 2.0 typed models). Alembic migrations are made from these.

Instance rows are the source of truth for workflow state; `human_task`, `timer` and
`message_subscription` are projections rebuilt from the state by the runtime on every change.
`audit_event` is append-only; a `ledger` row is settled once.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from engine import clock


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite drops the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Definition(Base):
    """One deployed version of one process, with the whole bundle it was deployed from."""

    __tablename__ = "definition"
    __table_args__ = (UniqueConstraint("process_key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    sources: Mapped[dict[str, Any]]            # file name -> BPMN/DMN text
    forms: Mapped[dict[str, Any]]              # form file name -> JSON Schema
    # message name -> JSON Schema of its payload (engine.definitions.messages); {} for versions
    # deployed before message schemas existed, whose payloads are not checked.
    messages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deployed_at: Mapped[datetime] = mapped_column(default=clock.now)
    deployed_by: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)


# Instance statuses: the one list every module reads.
ACTIVE = ("running", "waiting")                 # the engine may move it on
UNFINISHED = ACTIVE + ("suspended", "error")    # it may still finish (and can be migrated)
FINISHED = ("completed", "cancelled")
STATUSES = UNFINISHED + FINISHED


class Instance(Base):
    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # one of STATUSES
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(default=1)
    audit_seq: Mapped[int] = mapped_column(default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str | None] = mapped_column(Text)
    error_task_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    __mapper_args__ = {"version_id_col": version}


class HumanTask(Base):
    """Projection of a READY manual task: what the task lists show."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_dept_due", "department", "due_at"),
        Index("ix_human_task_dept_priority_due", "department", "priority", "due_at"),
        Index("ix_human_task_dept_created", "department", "created_at"),
        Index("ix_human_task_claimed_due", "claimed_by", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(40), unique=True)
    bpmn_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    process_key: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(50))
    form_key: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(default=3)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    at_risk_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # Up the SLA ladder (engine/jobs/sla.py): the service tier the task was handed to (None:
    # its request's), how many levels it went up and when it goes up the next (None: not
    # breached yet, or at the top).
    tier: Mapped[str | None] = mapped_column(String(10))
    sla_level: Mapped[int] = mapped_column(default=0, server_default="0")
    next_level_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]


class ElementSpan(Base):
    """A stretch during which an element of an instance held a token (a READY user task, a
    waiting timer or message catch): opened and closed by the write-back that changes the
    projection, so the dashboard's heatmap sums them instead of replaying histories."""

    __tablename__ = "element_span"
    __table_args__ = (Index("ix_element_span_open", "instance_id", "task_id", "ended_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(40))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Timer(Base):
    __tablename__ = "timer"
    __table_args__ = (UniqueConstraint("instance_id", "task_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(40))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(index=True)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))


class MessageSubscription(Base):
    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_subscription_lookup", "name", "correlation"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    correlation: Mapped[str] = mapped_column(String(100))
    task_id: Mapped[str] = mapped_column(String(40))
    bpmn_id: Mapped[str] = mapped_column(String(200))


class Outbox(Base):
    """A side effect toward another system, delivered after commit, at least once; its effect
    once (the provider deduplicates by `idempotency_key`). A dispatcher that takes a due row
    holds it under a lease (`claimed_by` its claim, until `lease_until`), so others skip it
    until the lease runs out (engine/jobs/outbox.py)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instance.id", ondelete="SET NULL"), index=True)
    business_key: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    operation: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending/done/incident/skipped
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Append-only history: the input of every state change, chained by hashes."""

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("instance_id", "seq"), Index("ix_audit_at", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigId, index=False)
    seq: Mapped[int]
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    element: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]]
    state_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ReceivedMessage(Base):
    """Ids of external messages already delivered: a retried webhook is not applied twice."""

    __tablename__ = "received_message"

    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    instance_ids: Mapped[list[Any]]
    received_at: Mapped[datetime]


class ServiceRequest(Base):
    """The after-sales request (售后单) that customers and staff talk about."""

    __tablename__ = "service_request"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    order_id: Mapped[str] = mapped_column(String(100), index=True)
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    customer_tier: Mapped[str] = mapped_column(String(20), default="normal")
    type: Mapped[str] = mapped_column(String(30))
    category: Mapped[str] = mapped_column(String(30), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    reason: Mapped[str | None] = mapped_column(Text)
    items: Mapped[list[Any]]
    priority: Mapped[int] = mapped_column(default=3)
    route: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    outcome: Mapped[str | None] = mapped_column(String(40))
    instance_id: Mapped[int | None] = mapped_column(BigId, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    opened_at: Mapped[datetime] = mapped_column(index=True)
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    csat: Mapped[int | None]
    service_tier: Mapped[str | None] = mapped_column(String(10))    # L1, L2, expert (routing)


class ShopOrder(Base):
    """Orders as the shop sent them (engine.orders validates and stores them); requests are
    filed from them. `items` holds {sku, name, quantity, unit_price (a decimal string)}; their
    sum is `paid_amount`."""

    __tablename__ = "shop_order"

    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    category: Mapped[str] = mapped_column(String(30))
    paid_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), server_default="CNY")
    channel: Mapped[str] = mapped_column(String(50), server_default="web")
    items: Mapped[list[Any]]
    shipping_address: Mapped[str | None] = mapped_column(String(300))
    paid_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    warranty_until: Mapped[datetime | None]
    # The customer's email/phone/WeChat id and their channel and language for notifications,
    # as the shop knows them (engine.orders.CONTACT_FIELDS); None: the shop sent none.
    contact: Mapped[dict[str, Any] | None]
    # Requests filed from the order: each filing's version check (engine.service_requests).
    filings: Mapped[int] = mapped_column(server_default="0")


class RequestNumber(Base):
    """The last request number drawn for a day on PostgreSQL (engine.service_requests
    `_next_number`: drawn outside the filing's transaction, so filers do not queue for their
    numbers while their processes start)."""

    __tablename__ = "request_number"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)      # YYYYMMDD
    last: Mapped[int] = mapped_column(Integer)


class Ledger(Base):
    """The book of money (engine/payments.py): one row per refund or claw-back, written when the
    process asks for it (pending) and settled once by the provider's answer (paid / failed).
    The only truth about what was paid: timelines, KPIs and reconciliation read it."""

    __tablename__ = "ledger"
    __table_args__ = (CheckConstraint("amount > 0", name="ledger_amount_positive"),
                      CheckConstraint("status IN ('pending', 'paid', 'failed')",
                                      name="ledger_status_known"),
                      CheckConstraint("kind IN ('refund', 'clawback')", name="ledger_kind_known"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_no: Mapped[str] = mapped_column(String(40), index=True)
    order_id: Mapped[str | None] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))   # refund / clawback
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    status: Mapped[str] = mapped_column(String(20), server_default="paid")
    actor: Mapped[str | None] = mapped_column(String(100))      # who approved it
    reference: Mapped[str | None] = mapped_column(String(100))  # the provider's
    provider_status: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class OrderBalance(Base):
    """What an order paid and what was refunded and clawed back of it, kept beside the ledger
    so that the database itself refuses a refund above what was paid (the CHECKs hold even if
    engine code is wrong). `*_held` counts pending and paid rows, `*_paid` the paid ones."""

    __tablename__ = "order_balance"
    __table_args__ = (
        CheckConstraint("refunds_paid >= 0 AND clawbacks_paid >= 0", name="balance_nonnegative"),
        CheckConstraint("refunds_paid <= refunds_held", name="balance_refunds_paid_held"),
        CheckConstraint("clawbacks_paid <= clawbacks_held", name="balance_clawbacks_paid_held"),
        # Rounded to the cent: SQLite subtracts NUMERIC money as floats (migration 0024).
        CheckConstraint("round(refunds_held - clawbacks_paid, 2) <= paid",
                        name="balance_refunds_within_paid"),
        CheckConstraint("clawbacks_held <= refunds_paid", name="balance_clawbacks_within_refunds"),
    )

    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    paid: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    refunds_held: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)
    refunds_paid: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)
    clawbacks_held: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)
    clawbacks_paid: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    display_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))   # staff/supervisor/process_owner/auditor/admin/customer/courier/payment
    department: Mapped[str | None] = mapped_column(String(50))
    customer_id: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    email: Mapped[str | None] = mapped_column(String(254))   # staff digests (notifications)


class ApiToken(Base):
    __tablename__ = "api_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]


class ClientSecret(Base):
    """A machine client's signing secret (engine/client_secrets.py), stored as issued: an HMAC
    is checked with the secret itself. Active until `expires_at` (None: no end)."""
    __tablename__ = "client_secret"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class StaffNotice(Base):
    """Work a department should hear of (a new P1 task, a task at risk, a breach), waiting
    for the next staff digest (engine/staff_digest.py); `sent_at` and `delivery` once mailed."""
    __tablename__ = "staff_notice"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)   # the outbox row's, or new_p1:<task>
    department: Mapped[str | None] = mapped_column(String(50), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[str | None] = mapped_column(String(40))
    request_no: Mapped[str | None] = mapped_column(String(100))
    task_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    delivery: Mapped[dict[str, Any] | None]


class TaskComment(Base):
    __tablename__ = "task_comment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigId, index=True)
    task_id: Mapped[str | None] = mapped_column(String(40))
    author: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigId, index=True)
    task_id: Mapped[str | None] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    path: Mapped[str | None] = mapped_column(String(400))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Alert(Base):
    """Operational alerts (complaint surges), one per surge and category."""

    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]]
    count: Mapped[float] = mapped_column(Float, default=0)


class BufferedMessage(Base):
    """A message for a known request that its process did not wait for yet: kept until the
    process subscribes (then delivered, in order) or its time to live runs out (expired)."""

    __tablename__ = "buffered_message"
    __table_args__ = (Index("ix_buffered_message_pending", "business_key", "status"),
                      Index("ix_buffered_message_expiry", "status", "expires_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_key: Mapped[str] = mapped_column(String(100))
    instance_id: Mapped[int | None] = mapped_column(BigId)
    name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    message_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending/delivered/expired
    settled_at: Mapped[datetime | None]


# ------------------------------------------------------- the global audit log (issue 22)

class AuditAction(Base):
    """An audited action outside any instance's history (a deployment, an account change, a
    login or a failed one, an export, an archive): a leaf of the global log
    (engine/history/global_log.py) like every instance event. Append-only."""

    __tablename__ = "audit_action"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]


class AuditPending(Base):
    """An instance event or an action written but not yet given its place in the global log:
    writers only insert these, and the one sequencer takes them in order (global_log.sequence),
    so no writer waits for another to number its events."""

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(BigId)
    seq: Mapped[int | None]
    action_id: Mapped[int | None] = mapped_column(BigId)


class AuditLeaf(Base):
    """Position `position` of the global log: which event (instance_id, seq) or action it is,
    and its RFC 6962 leaf hash as computed when it was sequenced. Append-only."""

    __tablename__ = "audit_leaf"
    __table_args__ = (UniqueConstraint("instance_id", "seq"), UniqueConstraint("action_id"))

    position: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    instance_id: Mapped[int | None] = mapped_column(BigId)
    seq: Mapped[int | None]
    action_id: Mapped[int | None] = mapped_column(BigId)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    sequenced_at: Mapped[datetime]


class AuditCheckpoint(Base):
    """A copy of each signed tree head (engine/history/checkpoints.py), for SQL reports of
    when the log was signed; nothing trusts it: verification and the pages read the
    checkpoint file outside the database. Append-only."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(32))
    line: Mapped[str] = mapped_column(Text)      # the signed line as written to the file


class AuditRemoval(Base):
    """An instance whose history the retention archive removed (engine/history/archive.py):
    the database lets the events of these instances, and no others, be deleted; the signed
    record of what was removed is in the checkpoint folder. Append-only."""

    __tablename__ = "audit_removal"

    instance_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    archive: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]


class Draft(Base):
    """A process owner's work in progress on a bundle (engine/definitions/drafts.py): never
    deployed by being saved, so it never affects running work. Its files are those of its
    newest revision (`head`); `base` names the deployed versions it started from."""

    __tablename__ = "draft"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    head: Mapped[int] = mapped_column(default=1)
    base: Mapped[dict[str, Any]] = mapped_column(default=dict)     # process key -> version
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    deployed_revision: Mapped[int | None]
    deployed_at: Mapped[datetime | None]


class DraftRevision(Base):
    """One saved state of a draft: every file by path (`x.bpmn`, `forms/x.json`,
    `messages/x.json`) and the note its author gave. Never changed once written."""

    __tablename__ = "draft_revision"
    __table_args__ = (UniqueConstraint("draft_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("draft.id", ondelete="CASCADE"))
    number: Mapped[int]
    files: Mapped[dict[str, Any]]
    note: Mapped[str | None] = mapped_column(Text)
    saved_by: Mapped[str] = mapped_column(String(100))
    saved_at: Mapped[datetime] = mapped_column(default=clock.now)


class DraftShare(Base):
    """Another process owner who may open, edit and deploy a draft."""

    __tablename__ = "draft_share"

    draft_id: Mapped[int] = mapped_column(ForeignKey("draft.id", ondelete="CASCADE"),
                                          primary_key=True)
    username: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    shared_by: Mapped[str] = mapped_column(String(100))
    shared_at: Mapped[datetime] = mapped_column(default=clock.now)


class DraftWhatif(Base):
    """The last what-if report of a draft (engine/whatif_results.py), replaced by each run:
    what its owners tried, kept for the supervisors of the departments it touches."""

    __tablename__ = "draft_whatif"

    draft_id: Mapped[int] = mapped_column(ForeignKey("draft.id", ondelete="CASCADE"),
                                          primary_key=True)
    revision: Mapped[int]
    days: Mapped[int]
    since: Mapped[datetime]
    run_by: Mapped[str] = mapped_column(String(100))
    run_at: Mapped[datetime] = mapped_column(default=clock.now)
    report: Mapped[dict[str, Any]]


# ------------------------------------------------------- the staff workspace (issue 19)

class TaskPresence(Base):
    """Who has a task open right now (engine/presence.py): one row per task and person,
    refreshed by the open pane every few seconds and ignored once it is older than a minute."""

    __tablename__ = "task_presence"

    task_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime]


class DepartmentSetting(Base):
    """A department's own rules for its work (engine/department_settings.py): whether a task
    must be claimed before it is completed. No row: the defaults."""

    __tablename__ = "department_setting"

    department: Mapped[str] = mapped_column(String(50), primary_key=True)
    claim_required: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime | None]


class SavedFilter(Base):
    """A named task-list filter (the inbox's query string) kept for its owner and, when shared,
    for everyone in `department` (engine/saved_filters.py)."""

    __tablename__ = "saved_filter"
    __table_args__ = (Index("ix_saved_filter_owner", "owner"),
                      Index("ix_saved_filter_department", "department"))

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(1000))
    department: Mapped[str | None] = mapped_column(String(50))     # shared with it; None: own
    created_at: Mapped[datetime]


class Feedback(Base):
    """What a customer said about a request, in their words (engine/feedback.py): the filing
    reason, a complaint's text, a rating's comment, a reopened complaint's reason. Its classes
    are `feedback_class` rows, given by the taxonomy version `taxonomy_version`."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("instance_id", "event_seq", "kind",
                                       name="uq_feedback_event"),
                      Index("ix_feedback_request", "request_id"),
                      Index("ix_feedback_at", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(BigId)
    request_no: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    taxonomy_version: Mapped[int]
    instance_id: Mapped[int] = mapped_column(BigId)
    event_seq: Mapped[int]
    at: Mapped[datetime]


class FeedbackClass(Base):
    """One class (the taxonomy's Chinese name) the classifier gave a feedback row."""

    __tablename__ = "feedback_class"
    __table_args__ = (Index("ix_feedback_class_name", "name", "feedback_id"),)

    feedback_id: Mapped[int] = mapped_column(BigId, ForeignKey("feedback.id", ondelete="CASCADE"),
                                             primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)


class FeedbackTaxonomy(Base):
    """A deployed version of the feedback taxonomy and its keyword table (bpmn/feedback/
    taxonomy.json, engine/feedback_taxonomy.py); the newest classifies. Identical content is
    not deployed twice."""

    __tablename__ = "feedback_taxonomy"

    version: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[dict[str, Any]]
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime]


class Report(Base):
    """A stored after-sales report of one period (engine/reports.py): its figures as built."""

    __tablename__ = "report"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(10), unique=True)     # 2026-W48, 2026-11, 2026-Q4
    kind: Mapped[str] = mapped_column(String(10))
    figures: Mapped[dict[str, Any]]
    generated_at: Mapped[datetime]
    generated_by: Mapped[str] = mapped_column(String(100))


class StaffTier(Base):
    """The service tier of a staff member (engine/service_tiers.py): L1, L2 or expert."""

    __tablename__ = "staff_tier"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    tier: Mapped[str] = mapped_column(String(10))
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]
