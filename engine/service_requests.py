"""After-sales requests (售后单): filing them from an order, and keeping them in step with their
instance.

A filing takes its facts from the order (engine.orders): the customer chooses the order, the
items and quantities (engine.request_items), the type, the reason, damage and pickup. Photos
come with a filing through engine.customer_app.file_with_photos (the same filing and the
photos in one unit of work); staff attach files to tasks (engine.task_notes).

`file_request()` creates the request row and starts the entry process in the same transaction;
the routing table also reads how many complaints the customer filed in the 30 days before
(`repeat_complaints`, counted here from the platform's records, never taken from the filing).
`sync()` is a runtime hook: after every state change it copies what the business record shows
(route, priority, service tier, outcome, CSAT, first response / resolution / closing times,
status) from the workflow into the request row.
"""
from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from engine import (
    access,
    clock,
    db,
    instances,
    json_safety,
    message_buffer,
    money,
    order_fetch,
    orders,
    prebuilt,
    request_items,
)
from engine.access import Actor
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.models import (
    FINISHED,
    AuditEvent,
    HumanTask,
    Instance,
    Ledger,
    Outbox,
    ServiceRequest,
    ShopOrder,
)
from engine.orders import CATEGORIES
from engine.runtime import workflow_cache
from engine.service_tiers import SERVICE_TIERS

ENTRY_PROCESS = "aftersales_request"
TYPES = ("return_refund", "exchange", "repair", "complaint")
TIERS = ("normal", "vip")
STATUSES = ("open", "in_progress", "resolved", "closed", "cancelled", "error", "on_hold")
# What the caller of a filing chooses; the facts below come from the order.
CUSTOMER_FILING = {"order_id", "type", "reason", "items", "damage", "pickup", "idempotency_key"}
STAFF_FILING = CUSTOMER_FILING | {"customer_id", "customer_tier"}
FROM_ORDER = {"category", "amount", "in_warranty", "address", "currency",
              "unit_price", "paid_amount", "warranty_until", "shipping_address"}
# The routing table's repeat_complaints (bpmn/routing.dmn): the customer's complaints filed in
# this window before a filing, counted from the platform's records.
REPEAT_WINDOW = timedelta(days=30)

# Notifications about money: the timeline shows the ledger's rows instead.
MONEY_TEMPLATES = frozenset({"refund_paid", "clawback"})
# Fields of a notification a customer may see on the timeline (others, e.g. the internal
# priority, stay inside).
CUSTOMER_FIELDS = ("refund_amount", "refunded_amount", "amount", "quote_amount", "tracking_no",
                   "carrier", "slot_start", "slot_end", "what", "compensation_amount",
                   "complaint_response", "complaint_resolution", "resolution")


def file(session: Session, runtime, fields: dict, actor: Actor) -> tuple[dict, bool]:
    """File a request (see `file_request`); returns (its summary, whether it was created now
    rather than found by its `idempotency_key`)."""
    filed, created = _filed(session, runtime, fields, actor)
    return ({"id": filed.id, "number": filed.number, "instance_id": filed.instance_id,
             "status": status_now(session, filed)}, created)


def status_now(session: Session, request: ServiceRequest) -> str:
    """The request's status as its row holds it now: the one `sync` noted for its instance's
    row as this transaction wrote it (engine.instances.written_now), else read back (`sync`
    writes the row with Core, so the ORM object is expired instead of refreshed: one column
    read, not the whole row)."""
    written = instances.written_now(session, request.instance_id) \
        if request.instance_id is not None else None
    if written is not None:
        head, values, _stamps = workflow_cache.notes(written.workflow).get(
            "service_request", (None, None, None))
        if head == session.get(Instance, request.instance_id).audit_head:
            return values["status"]
    session.flush()
    request_id = request.id
    session.expire(request)
    return prebuilt.run(session, _STATUS, {"id": request_id}).scalar()


def file_request(session: Session, runtime, fields: dict, actor) -> ServiceRequest:
    """Validate `fields`, take the facts from the order, create the request and start its
    process.

    The caller chooses the order, the type, the reason, the items (see engine.request_items),
    damage and pickup; staff filing for a customer name its `customer_id` (and may set
    `customer_tier`). Category, amount, warranty, address and prices come from the order, so a
    field that would set them is refused. An order the store does not know is asked of the
    shop when its order API is configured (engine.order_fetch). A repeated `idempotency_key`
    returns the request it created the first time, but not to another customer (Conflict).
    Raises InvalidInput naming the field, NotFound naming order_id for an unknown order (or
    another customer's), Conflict when an item does not allow the type now (its window closed,
    not delivered, an open request holds it: engine.request_items.actions) or the shop's order
    API cannot answer.
    """
    return _filed(session, runtime, fields, actor)[0]


def _filed(session: Session, runtime, fields: dict, actor) -> tuple[ServiceRequest, bool]:
    """(the request, whether it was created now) for `file_request`."""
    if not isinstance(fields, dict):
        raise InvalidInput("the request must be an object", field="body")
    json_safety.check(fields)   # a reason with NUL is a 500 on PostgreSQL, for every filer
    allowed = CUSTOMER_FILING if actor.role == "customer" else STAFF_FILING
    refused = sorted(set(fields) - allowed)
    if refused:
        name = refused[0]
        why = ("it is the caller's own" if name == "customer_id" else
               "it comes from the order" if name in FROM_ORDER else "it is not a field of a request")
        raise InvalidInput(f"{name} may not be set: {why}", field=name)
    key = fields.get("idempotency_key")
    if key is not None:
        _text(fields, "idempotency_key", 200)
        existing = session.scalars(select(ServiceRequest).where(ServiceRequest.idempotency_key == key)).first()
        if existing is not None:
            if actor.role == "customer" and existing.customer_id != actor.customer_id:
                raise Conflict("this idempotency_key was already used", field="idempotency_key")
            return existing, False
    order_id = _text(fields, "order_id", 100)
    if actor.role == "customer":
        customer_id = actor.customer_id
    else:
        customer_id = _text(fields, "customer_id", 100)
    order = orders.find(session, order_id)
    if order is None:
        order = order_fetch.fetch(session, runtime.settings, order_id)
    if order is None or (actor.role == "customer" and order.customer_id != customer_id):
        raise NotFound(f"order {order_id} does not exist", field="order_id")
    if order.customer_id != customer_id:
        raise InvalidInput(f"order {order_id} is not an order of {customer_id}",
                           field="customer_id")
    seen = order.filings        # read before its items are checked (`_count_filing`)
    kind = _choice(fields, "type", TYPES)
    tier = _choice({"customer_tier": fields.get("customer_tier", "normal")}, "customer_tier", TIERS)
    reason = fields.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise InvalidInput("reason must be text of at most 2000 characters", field="reason")
    flags = {}
    for name in ("damage", "pickup"):
        value = fields.get(name, False)
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false", field=name)
        flags[name] = value
    items = request_items.choose(order, fields.get("items"))
    now = clock.now()
    request_items.refuse_disallowed(session, order, kind, items, now)
    amount = request_items.price(items)

    flags["in_warranty"] = order.warranty_until is not None and order.warranty_until >= now
    repeats = earlier_complaints(session, customer_id, now)
    number = _next_number(session, now)
    request = ServiceRequest(number=number, order_id=order_id, customer_id=customer_id,
                             customer_tier=tier, type=kind, category=order.category, amount=amount,
                             reason=reason, items=items, status="open", opened_at=now,
                             idempotency_key=key, priority=3)
    data = {"request_no": number, "order_id": order_id, "customer_id": customer_id,
            "customer_tier": tier, "type": kind, "category": order.category,
            "amount": amount, "reason": reason, "items": items,
            "address": order.shipping_address, "repeat_complaints": repeats, **flags}

    def write_request(session: Session) -> None:
        # Once the process's first steps have run. With its id drawn ahead (PostgreSQL) the
        # row is queued with the unit's writes, which begin the transaction at the commit.
        _count_filing(session, order, seen)
        prebuilt.add_drawn(session, request)

    instance = runtime.start(session, ENTRY_PROCESS, data, actor, business_key=number,
                             before_write=write_request)
    prebuilt.change_queued(session, request, {"instance_id": instance.id})
    return request, True


_COUNT_FILING = (update(ShopOrder.__table__)
                 .where(ShopOrder.order_id == bindparam("b_order_id"),
                        ShopOrder.filings == bindparam("b_seen"))
                 .values(filings=ShopOrder.filings + 1))


def _count_filing(session: Session, order: ShopOrder, seen: int) -> None:
    """Make "one open request per item" hold between two filings at once: count this filing on
    the order, queued with the unit's writes, if the count is still `seen`, the one read before
    the items were checked. Else another filing counted itself meanwhile: this one lost its
    race (nothing of it is kept) and, run again, checks the items against the other's request.
    Nothing is locked while the process starts."""
    prebuilt.write(session, _COUNT_FILING, {"b_order_id": order.order_id, "b_seen": seen},
                   rows=1, lost=Conflict.lost_race)
    prebuilt.changed(session, order, {"filings": seen + 1})


def earlier_complaints(session: Session, customer_id: str, now: datetime) -> int:
    """How many complaints `customer_id` filed in the REPEAT_WINDOW up to `now`."""
    return prebuilt.read(session, _EARLIER_COMPLAINTS,
                         {"customer_id": customer_id, "since": now - REPEAT_WINDOW}).scalar()


# The statements every filing, answer and step runs, built once (see engine/runtime/writeback.py).
_BY_ID = prebuilt.rows_of(ServiceRequest).where(ServiceRequest.id == bindparam("ref"))
_BY_NUMBER = prebuilt.rows_of(ServiceRequest).where(ServiceRequest.number == bindparam("ref"))
_STATUS = select(ServiceRequest.status).where(ServiceRequest.id == bindparam("id"))
_EARLIER_COMPLAINTS = select(func.count()).select_from(ServiceRequest).where(
    ServiceRequest.customer_id == bindparam("customer_id"), ServiceRequest.type == "complaint",
    ServiceRequest.opened_at > bindparam("since"))
_HIGHEST_NUMBER = select(func.max(ServiceRequest.number)).where(
    ServiceRequest.number.like(bindparam("prefix")))


def get(session: Session, number_or_id) -> ServiceRequest:
    """The request of an id (an int, or its ASCII digits) or a number. Raises NotFound."""
    as_id = number_or_id if isinstance(number_or_id, int) else db.row_id(str(number_or_id))
    if as_id is not None:
        query, ref = _BY_ID, as_id
    else:
        query, ref = _BY_NUMBER, str(number_or_id)
    request = prebuilt.one(session, ServiceRequest, query, {"ref": ref})
    if request is None:
        raise NotFound(f"request {number_or_id} does not exist", field="id")
    return request


def list_requests(session: Session, actor: Actor, filters: dict, *, page: int,
                  per_page: int) -> tuple[list[dict], int]:
    """(requests newest first as `request_json`, how many match) for `filters` (status,
    category, type, customer_id, order_id: exact values). Customers see only their own.
    Raises InvalidInput naming a filter with an unknown value."""
    where = []
    for name, allowed in (("status", STATUSES), ("category", CATEGORIES), ("type", TYPES)):
        value = filters.get(name)
        if value:
            if value not in allowed:
                raise InvalidInput(f"{name} must be one of {', '.join(allowed)}", field=name)
            where.append(getattr(ServiceRequest, name) == value)
    if actor.role == "customer":
        where.append(ServiceRequest.customer_id == actor.customer_id)
    elif not access.reads_every_request(actor):
        where.append(_in_reach_of(actor))
    for name in ("customer_id", "order_id"):
        if filters.get(name):
            where.append(getattr(ServiceRequest, name) == filters[name])
    total = session.scalar(select(func.count()).select_from(ServiceRequest).where(*where))
    rows = session.scalars(select(ServiceRequest).where(*where)
                           .order_by(ServiceRequest.opened_at.desc(), ServiceRequest.id.desc())
                           .limit(per_page).offset((page - 1) * per_page))
    internal = actor.role != "customer"
    return [request_json(r, internal=internal) for r in rows], total


def visible(session: Session, actor: Actor, ref) -> ServiceRequest:
    """The request `ref` (id or number) if `actor` may see it; NotFound otherwise (another
    customer's request is not found, as if it did not exist), Forbidden for staff outside
    customer service when its instance is outside their reach (engine.access.reads_every_request)."""
    found = named(session, actor, ref)
    if actor.role != "customer" and not access.reads_every_request(actor):
        if found.instance_id is None:
            raise Forbidden(f"{actor.name} may not read request {found.number}: it has no "
                            f"work of your department")
        instances.readable(session, actor, found.instance_id)    # Forbidden outside its reach
    return found


def named(session: Session, actor: Actor, ref) -> ServiceRequest:
    """The request `ref` (id or number), a customer's own only; NotFound otherwise. Who may read
    it beyond that is the caller's rule (`visible` for the request itself)."""
    if not isinstance(ref, str) or len(ref) > 40:
        raise NotFound(f"request {ref} does not exist", field="id")
    found = get(session, ref)
    if actor.role == "customer" and found.customer_id != actor.customer_id:
        raise NotFound(f"request {ref} does not exist", field="id")
    return found


def _in_reach_of(actor: Actor):
    """Requests with open work in the departments `actor` sees, or a task `actor` completed
    (a request read by number is judged in full by instances.readable)."""
    open_work = select(HumanTask.instance_id).where(
        HumanTask.department.in_(access.visible_departments(actor)))
    done = select(AuditEvent.instance_id).where(AuditEvent.kind == "task_completed",
                                                AuditEvent.actor == actor.name)
    return or_(ServiceRequest.instance_id.in_(open_work), ServiceRequest.instance_id.in_(done))


def view(session: Session, actor: Actor, ref) -> dict:
    """A request with its timeline and the messages its process waits for (`waiting_for`),
    as `actor` may see them. Raises NotFound."""
    found = visible(session, actor, ref)
    internal = actor.role != "customer"
    return {**request_json(found, internal=internal),
            "timeline": timeline(session, found, internal=internal),
            "waiting_for": (instances.waiting_for(session, found.instance_id)
                            if found.instance_id is not None else [])}


def answer(session: Session, runtime, actor: Actor, ref, message: str, payload: dict,
           what: str) -> dict:
    """Deliver the customer's answer (`message`, e.g. quote_answered) to the request's process,
    or keep it until the process waits for it (engine.message_buffer: a return shipment
    reported before the refund is paid); returns {"id", "number", "status", "waiting_for",
    "buffered"} after it. Raises NotFound, and Conflict (saying `what` was not awaited) when
    the process does not wait for it and does not keep it."""
    found = visible(session, actor, ref)
    if found.instance_id is None:
        raise Conflict(f"request {found.number} has no running process")
    try:
        done = message_buffer.deliver(session, runtime, message, found.number, payload, actor)
    except NotFound:
        raise Conflict(f"request {found.number} is not waiting for {what} now") from None
    request_id, number, instance_id = found.id, found.number, found.instance_id
    return {"id": request_id, "number": number, "status": status_now(session, found),
            "waiting_for": instances.waiting_for(session, instance_id),
            "buffered": isinstance(done, message_buffer.Buffered)}


def summary_of_instance(session: Session, instance_id: int) -> dict | None:
    """What staff see of the request an instance runs (None: it runs none)."""
    found = session.scalars(select(ServiceRequest).where(
        ServiceRequest.instance_id == instance_id)).first()
    if found is None:
        return None
    return {"id": found.id, "number": found.number, "type": found.type,
            "category": found.category, "amount": money.text(found.amount), "order_id": found.order_id,
            "customer_id": found.customer_id, "customer_tier": found.customer_tier,
            "reason": found.reason, "status": found.status, "priority": found.priority,
            "items": found.items, "opened_at": found.opened_at}


def request_json(r: ServiceRequest, *, internal: bool) -> dict:
    result = {"id": r.id, "number": r.number, "order_id": r.order_id, "customer_id": r.customer_id,
              "type": r.type, "category": r.category, "amount": money.text(r.amount), "reason": r.reason,
              "items": r.items, "status": r.status, "outcome": r.outcome,
              "opened_at": r.opened_at, "first_response_at": r.first_response_at,
              "resolved_at": r.resolved_at, "closed_at": r.closed_at, "csat": r.csat}
    if internal:
        result.update(instance_id=r.instance_id, priority=r.priority, route=r.route,
                      customer_tier=r.customer_tier, service_tier=r.service_tier)
    return result


def timeline(session: Session, request: ServiceRequest, *, internal: bool = False) -> list[dict]:
    """The request's progress as the customer may see it (internal=True adds staff detail)."""
    entries = [{"at": request.opened_at.isoformat(), "event": "request_received"}]
    # Money is told from the ledger alone: a refund is "paid" when the ledger says so.
    for row in session.scalars(select(Ledger).where(Ledger.request_no == request.number)
                               .order_by(Ledger.id)):
        entries.append({"at": (row.settled_at or row.created_at).isoformat(),
                        "event": f"{row.kind}_{row.status}",
                        "details": {"amount": money.text(row.amount)}})
    if request.instance_id is not None:
        for row in session.scalars(select(Outbox).where(Outbox.instance_id == request.instance_id,
                                                        Outbox.operation == "notify.customer")
                                   .order_by(Outbox.id)):
            template = row.payload.get("template")
            if template in MONEY_TEMPLATES:
                # The money itself is the ledger's entry above; this is only its message.
                entries.append({"at": row.created_at.isoformat(), "event": "notification",
                                "details": {"template": template},
                                "delivery": delivery(row, internal=internal)})
                continue
            entries.append({"at": row.created_at.isoformat(), "event": template,
                            "details": {k: v for k, v in row.payload.items()
                                        if internal or k in CUSTOMER_FIELDS},
                            "delivery": delivery(row, internal=internal)})
        if internal:
            for event in session.scalars(select(AuditEvent).where(
                    AuditEvent.instance_id == request.instance_id).order_by(AuditEvent.seq)):
                entries.append({"at": event.at.isoformat(), "event": event.kind,
                                "element": event.element, "actor": event.actor})
    for name in ("first_response_at", "resolved_at", "closed_at"):
        value = getattr(request, name)
        if value is not None:
            entries.append({"at": value.isoformat(), "event": name.removesuffix("_at")})
    entries.sort(key=lambda e: e["at"])
    return entries


def delivery(row: Outbox, *, internal: bool) -> dict:
    """How a notification went (engine/notifications.py): {state: pending, sent, failed or
    not_sent, channel}; staff also see the provider's id, the masked address and the error."""
    result = row.result if row.status == "done" and isinstance(row.result, dict) else {}
    state = {"pending": "pending", "incident": "failed", "skipped": "failed"}.get(
        row.status, result.get("state", "sent"))
    shown = {"state": state, "channel": result.get("channel")}
    if internal:
        shown.update(provider_id=result.get("provider_id"), to=result.get("to"),
                     error=result.get("error") or result.get("reason") or row.last_error)
    return shown


def sync(session: Session, instance, workflow, event: dict) -> None:
    """Runtime hook: bring the request row in line with its instance after a state change.

    Most units of work change none of the row's columns: when this process wrote the same
    values for the instance's previous event (noted with the live workflow,
    engine.runtime.workflow_cache.notes), nothing is written. This hook is the only writer of
    these columns."""
    if workflow is None and event["kind"] not in ("suspended", "resumed"):
        return
    values: dict = {}
    stamped: list[str] = []         # set to the event's time unless set already
    if workflow is not None:
        data = current_data(workflow)
        if isinstance(data.get("route"), str):
            values["route"] = data["route"]
        if isinstance(data.get("priority"), int):
            values["priority"] = data["priority"]
        if data.get("service_tier") in SERVICE_TIERS:
            values["service_tier"] = data["service_tier"]
        outcome = data.get("outcome")
        if isinstance(outcome, str):
            values["outcome"] = outcome
            stamped.append("resolved_at")
        csat = _csat(data)
        if csat is not None:
            values["csat"] = csat
    if event["kind"] == "task_completed" and event["actor"] != "system":
        stamped.append("first_response_at")
    values["status"] = _request_status(instance.status, values.get("outcome"))
    if instance.status in FINISHED:
        stamped.append("closed_at")
    if workflow is not None and _written_before(workflow, event, values, stamped):
        return
    params = dict(values, b_number=instance.business_key)
    if stamped:
        params["b_at"] = event["at"]
    prebuilt.write(session, _SYNC[frozenset(stamped)], params)


def _sync_statements() -> dict[frozenset, object]:
    """sync's UPDATE for each set of stamps, built once: SET takes the values from the keys of
    the parameters, and each stamp becomes the event's time `b_at` unless it is set already."""
    table = ServiceRequest.__table__
    statement = update(table).where(table.c.number == bindparam("b_number"))
    columns = ("first_response_at", "resolved_at", "closed_at")
    return {frozenset(stamps): statement.values(
                {c: func.coalesce(table.c[c], bindparam("b_at")) for c in stamps})
            for stamps in itertools.chain.from_iterable(
                itertools.combinations(columns, k) for k in range(len(columns) + 1))}


_SYNC = _sync_statements()


def _written_before(workflow, event: dict, values: dict, stamped: list[str]) -> bool:
    """Whether the row holds `values` and `stamped` is set already because this process wrote
    them for the instance as it stood before `event` (noted with its live workflow); notes
    what the row holds after `event`."""
    notes = workflow_cache.notes(workflow)
    head, noted_values, noted_stamps = notes.get("service_request", (None, None, frozenset()))
    chained = head == event["prev_hash"]
    same = chained and noted_values == values and noted_stamps.issuperset(stamped)
    # A copy: the caller goes on to add the stamps' expressions to `values`.
    notes["service_request"] = (event["hash"], dict(values),
                                noted_stamps.union(stamped) if chained else frozenset(stamped))
    return same


def current_data(workflow) -> dict:
    """The data of the most recent task, across the workflow and its call activities."""
    candidates = [workflow.last_task] + [sp.last_task for sp in workflow.subprocesses.values()]
    candidates = [t for t in candidates if t is not None]
    if not candidates:
        return {}
    newest = max(candidates, key=lambda t: t.last_state_change)
    merged = dict(workflow.last_task.data) if workflow.last_task is not None else {}
    merged.update(newest.data)
    return merged


def _request_status(instance_status: str, outcome) -> str:
    return {"completed": "closed", "cancelled": "cancelled", "error": "error",
            "suspended": "on_hold"}.get(instance_status, "resolved" if outcome else "in_progress")


def _csat(data: dict) -> int | None:
    value = data.get("csat")
    if isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, int) and 1 <= value <= 5:
        return value
    return None


# Draw the day's next number; the day's first draw (no row yet) starts after its highest
# request (numbers filed before the table existed).
_DRAW_NEXT = "UPDATE request_number SET last = last + 1 WHERE day = %(day)s RETURNING last"
_DRAW_FIRST = ("INSERT INTO request_number (day, last) VALUES (%(day)s, %(first)s) "
               "ON CONFLICT (day) DO UPDATE SET last = request_number.last + 1 RETURNING last")


def _next_number(session: Session, now: datetime) -> str:
    """The next request number of `now`'s day (AS-YYYYMMDD-NNNN), drawn from the day's
    `request_number` row by a statement that commits by itself (engine.db.autocommitted), so
    that two filers at once never draw the same number and neither waits for the other's
    process to start; a filing refused after its draw leaves a gap in the day's numbers. A
    day's first draw goes on from the highest number filed before the table was there (a
    LIKE over the numbers, which no index serves: read once a day, not on every filing)."""
    prefix, day = f"AS-{now:%Y%m%d}-", f"{now:%Y%m%d}"
    drawn = db.autocommitted(session, _DRAW_NEXT, {"day": day})
    if drawn is None:
        last = prebuilt.read(session, _HIGHEST_NUMBER, {"prefix": prefix + "%"}).scalar()
        first = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        drawn = db.autocommitted(session, _DRAW_FIRST, {"day": day, "first": first})
    return f"{prefix}{drawn[0]:04d}"


def _text(fields: dict, name: str, max_len: int) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is required and must be text", field=name)
    if len(value) > max_len or not re.fullmatch(r"[\w\-.:@/ ]+", value):
        raise InvalidInput(f"{name} must be at most {max_len} letters, digits or -_.:@/", field=name)
    return value


def _choice(fields: dict, name: str, allowed) -> str:
    value = fields.get(name)
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}", field=name)
    return value
