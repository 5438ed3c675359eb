"""The case around a task: what a task row and a task pane show of the request a task serves,
its customer and its order, and what the task's form can be prefilled with.

A row of the task list alone (engine.tasklist) says only which step is due when; people working
a queue all day tell their tasks apart by the customer, the amount, the type and the reason.
`with_case` adds them to a page of rows in two queries (the requests by number, the customers'
names), whatever the page's size. An escalation task serves the request it escalates: its
business key is `engine.jobs.sla.escalation_key(number, level)`, read back by `request_number_of`.

`pane` gathers for one task what stands beside its form: the customer, the customer's other
requests (as far as the reader may read them) and the form's known values (`prefill`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import money, service_requests
from engine.access import Actor
from engine.jobs.sla import LEVELS, escalation_key
from engine.models import ServiceRequest, User

SNIPPET = 80             # characters of the reason a row shows
OTHER_REQUESTS = 5       # the customer's other requests a pane lists, newest first
_ESCALATION_PREFIX = escalation_key("", LEVELS[0]).split("-", 1)[0] + "-"


def request_number_of(business_key: str | None) -> str | None:
    """The number of the request a task's instance serves: its own business key, or for an
    escalation instance the escalated request's number; None for a task serving no request
    key at all."""
    if not business_key:
        return None
    if business_key.startswith(_ESCALATION_PREFIX):
        for level in LEVELS:
            suffix = escalation_key("", level)[len(_ESCALATION_PREFIX):]
            if business_key.endswith(suffix):
                return business_key[len(_ESCALATION_PREFIX):-len(suffix)] or None
    return business_key


def snippet(text: str | None, limit: int = SNIPPET) -> str:
    """The first `limit` characters of a text on one line, with an ellipsis when cut."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def with_case(session: Session, rows: list[dict], now: datetime) -> list[dict]:
    """The task list's rows (engine.tasklist.row_dict), each with "case" (`case_json` of the
    request it serves, None for tasks serving none), "age_seconds" (since it became ready) and
    "left_seconds" (until its SLA due time; negative once overdue, None without one)."""
    numbers = {request_number_of(row["request_number"]) for row in rows} - {None}
    found = {r.number: r for r in session.scalars(
        select(ServiceRequest).where(ServiceRequest.number.in_(numbers)))} if numbers else {}
    names = customer_names(session, {r.customer_id for r in found.values()})
    result = []
    for row in rows:
        number = request_number_of(row["request_number"])
        request = found.get(number)
        case = None if request is None else {
            **case_json(request, names), "escalation": number != row["request_number"]}
        result.append({**row, "case": case,
                       "age_seconds": _seconds(now, row["created_at"]),
                       "left_seconds": (None if row["due_at"] is None
                                        else -_seconds(now, row["due_at"]))})
    return result


def case_json(request: ServiceRequest, names: dict[str, str]) -> dict:
    """What a row shows of a request: number, customer (id, name, tier), type, category,
    amount (a decimal string), a reason snippet, status, priority and the service tier it
    needs (L1, L2, expert: engine.service_tiers)."""
    return {"number": request.number, "customer_id": request.customer_id,
            "customer_name": names.get(request.customer_id), "tier": request.customer_tier,
            "service_tier": request.service_tier,
            "type": request.type, "category": request.category,
            "amount": money.text(request.amount), "reason": snippet(request.reason),
            "status": request.status, "priority": request.priority}


def customer_names(session: Session, customer_ids: set[str]) -> dict[str, str]:
    """customer id -> the name of the customer's account (its display name, else its user
    name), for the ids that have an account."""
    if not customer_ids:
        return {}
    rows = session.execute(select(User.customer_id, User.display_name, User.username).where(
        User.role == "customer", User.customer_id.in_(customer_ids)))
    return {cid: display or username for cid, display, username in rows}


def escalated_request(session: Session, business_key: str | None) -> dict | None:
    """For an escalation task's business key, the escalated request as
    `service_requests.summary_of_instance` shows it; None for any other task."""
    number = request_number_of(business_key)
    if number is None or number == business_key:
        return None
    instance_id = session.scalar(select(ServiceRequest.instance_id).where(
        ServiceRequest.number == number))
    return (service_requests.summary_of_instance(session, instance_id)
            if instance_id is not None else None)


def pane(session: Session, actor: Actor, request: dict | None, order: dict | None) -> dict:
    """What stands beside a task's form: {"customer": {id, name, tier, phone} or None,
    "other_requests": the customer's other requests `actor` may read (newest first, at most
    OTHER_REQUESTS, as service_requests.request_json), "more_requests": how many more}."""
    if request is None:
        return {"customer": None, "other_requests": [], "more_requests": 0}
    customer_id = request["customer_id"]
    contact = (order or {}).get("contact") or {}
    others, total = service_requests.list_requests(
        session, actor, {"customer_id": customer_id}, page=1, per_page=OTHER_REQUESTS + 1)
    others = [r for r in others if r["number"] != request["number"]][:OTHER_REQUESTS]
    # `total` counts this request too: whoever reads its task may read it.
    return {"customer": {"id": customer_id,
                         "name": customer_names(session, {customer_id}).get(customer_id),
                         "tier": request.get("customer_tier"), "phone": contact.get("phone")},
            "other_requests": others, "more_requests": max(0, total - 1 - len(others))}


def prefill(schema: dict | None, data: dict, request: dict | None,
            order: dict | None, payments: dict | None = None) -> dict:
    """Values for a form's empty fields from what is known of the case: the process data
    first (a loop back shows what was entered), then the request and its order (the refund
    amount: what is still refundable when the reader sees the ledger (`payments`, as
    engine.payments.of_request), else what the items cost; the pickup address and phone the
    shop has, whether the order is still in warranty, the item to replace). Only the fields
    the form has."""
    if not schema:
        return {}
    fields = schema.get("properties", {})
    known = _known_facts(data, request, order)
    if (payments or {}).get("refundable") is not None:
        known["refund_amount"] = payments["refundable"]
    values = {name: known[name] for name in fields if known.get(name) is not None}
    values.update((name, data[name]) for name in fields if name in data)
    return values


def _known_facts(data: dict, request: dict | None, order: dict | None) -> dict:
    """Form field name -> the value the case already holds for it."""
    request, order = request or {}, order or {}
    chosen = [item.get("sku") for item in request.get("items") or []
              if isinstance(item, dict) and item.get("sku")]
    warranty = order.get("warranty")
    return {"refund_amount": request.get("amount") or data.get("amount"),
            "pickup_address": data.get("address") or order.get("shipping_address"),
            "contact_phone": (order.get("contact") or {}).get("phone"),
            "in_warranty": None if warranty is None else warranty == "in_warranty",
            "replacement_sku": chosen[0] if len(chosen) == 1 else None}


def _seconds(now: datetime, iso: str | None) -> int | None:
    if iso is None:
        return None
    return int((now - datetime.fromisoformat(iso)).total_seconds())
