"""After-sales requests (售后单): filing, lists, the timeline, and the customer's answers.

Customers see only their own requests: another customer's request is 404, as if it did not
exist, and their timeline never shows internal events. A customer's answer (quote, complaint
feedback, rating, return shipment) is delivered to the request's instance as a message; when
the request is not waiting for that answer the reply is 409.
"""
from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import func, select

from engine import service_requests
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.models import MessageSubscription, ServiceRequest
from web.api import schemas
from web.api.base import (
    REQUEST_READERS,
    actor,
    allow,
    body,
    only_args,
    page_args,
    paged,
    runtime,
    transaction,
)

bp = Blueprint("requests", __name__)

FILERS = ("customer", "staff", "supervisor", "admin")
FILING_DEPARTMENTS = ("customer_service", "cs_supervisor")
# Customer answers: route name -> (message name, body schema).
ANSWERS = {"quote-answer": ("quote_answered", schemas.QUOTE_ANSWER),
           "feedback": ("complaint_feedback", schemas.FEEDBACK),
           "rating": ("csat_submitted", schemas.RATING),
           "shipped": ("return_shipped", schemas.SHIPPED)}
STATUSES = ("open", "in_progress", "resolved", "closed", "cancelled", "error", "on_hold")


@bp.post("/requests")
@allow(*FILERS)
def file_request():
    who = actor()
    if who.role in ("staff", "supervisor") and who.department not in FILING_DEPARTMENTS:
        raise Forbidden("only customer service files requests for customers")
    customer = who.role == "customer"
    fields = body(schemas.FILE_REQUEST if customer else schemas.STAFF_FILE_REQUEST)
    if customer:
        fields.setdefault("customer_id", who.customer_id)
    with transaction() as session:
        key = fields.get("idempotency_key")
        existing = key and session.scalars(
            select(ServiceRequest).where(ServiceRequest.idempotency_key == key)).first()
        if existing and customer and existing.customer_id != who.customer_id:
            raise Conflict("this idempotency_key was already used", field="idempotency_key")
        filed = existing or service_requests.file_request(session, runtime(), fields, who)
        session.refresh(filed)
        return ({"id": filed.id, "number": filed.number, "instance_id": filed.instance_id,
                 "status": filed.status}, 200 if existing else 201)


@bp.get("/requests")
@allow(*REQUEST_READERS)
def list_requests():
    only_args("status", "category", "type", "customer_id", "order_id", "page", "per_page")
    page, per_page = page_args()
    where = []
    for name, allowed in (("status", STATUSES), ("category", service_requests.CATEGORIES),
                          ("type", service_requests.TYPES)):
        value = request.args.get(name)
        if value:
            if value not in allowed:
                raise InvalidInput(f"{name} must be one of {', '.join(allowed)}", field=name)
            where.append(getattr(ServiceRequest, name) == value)
    if actor().role == "customer":
        where.append(ServiceRequest.customer_id == actor().customer_id)
    for name in ("customer_id", "order_id"):
        if request.args.get(name):
            where.append(getattr(ServiceRequest, name) == request.args[name])
    with transaction() as session:
        total = session.scalar(select(func.count()).select_from(ServiceRequest).where(*where))
        rows = session.scalars(select(ServiceRequest).where(*where)
                               .order_by(ServiceRequest.opened_at.desc(), ServiceRequest.id.desc())
                               .limit(per_page).offset((page - 1) * per_page))
        internal = actor().role != "customer"
        return paged([request_json(r, internal=internal) for r in rows], total, page, per_page)


@bp.get("/requests/<ref>")
@allow(*REQUEST_READERS)
def show(ref):
    internal = actor().role != "customer"
    with transaction() as session:
        found = visible_request(session, ref)
        result = request_json(found, internal=internal)
        result["timeline"] = service_requests.timeline(session, found, internal=internal)
        result["awaiting"] = awaiting_answers(session, found)
        return result


def answer(route: str):
    message, schema = ANSWERS[route]

    @allow("customer")
    def view(ref):
        payload = body(schema)
        with transaction() as session:
            found = visible_request(session, ref)
            if found.instance_id is None:
                raise Conflict(f"request {found.number} has no running process")
            try:
                runtime().deliver_message(session, message, found.number, payload, actor())
            except NotFound:
                raise Conflict(f"request {found.number} is not waiting for {route.replace('-', ' ')} "
                               "now") from None
            session.refresh(found)
            return {"id": found.id, "number": found.number, "status": found.status,
                    "awaiting": awaiting_answers(session, found)}
    view.__name__ = route.replace("-", "_")
    return view


for _route in ANSWERS:
    bp.add_url_rule(f"/requests/<ref>/{_route}", view_func=answer(_route), methods=["POST"])


def visible_request(session, ref) -> ServiceRequest:
    """The request `ref` (id or number) if the caller may see it; 404 otherwise."""
    if not isinstance(ref, str) or len(ref) > 40:
        raise NotFound(f"request {ref} does not exist", field="id")
    if ref.isdigit() and int(ref) > 2**62:
        raise NotFound(f"request {ref} does not exist", field="id")
    found = service_requests.get(session, ref)
    who = actor()
    if who.role == "customer" and found.customer_id != who.customer_id:
        raise NotFound(f"request {ref} does not exist", field="id")
    return found


def awaiting_answers(session, found: ServiceRequest) -> list[str]:
    """The customer answers the request waits for now (names of the answer routes)."""
    if found.instance_id is None:
        return []
    names = set(session.scalars(select(MessageSubscription.name).where(
        MessageSubscription.instance_id == found.instance_id)))
    return [route for route, (message, _) in ANSWERS.items() if message in names]


def request_json(r: ServiceRequest, *, internal: bool) -> dict:
    result = {"id": r.id, "number": r.number, "order_id": r.order_id, "customer_id": r.customer_id,
              "type": r.type, "category": r.category, "amount": r.amount, "reason": r.reason,
              "items": r.items, "status": r.status, "outcome": r.outcome,
              "opened_at": r.opened_at, "first_response_at": r.first_response_at,
              "resolved_at": r.resolved_at, "closed_at": r.closed_at, "csat": r.csat}
    if internal:
        result.update(instance_id=r.instance_id, priority=r.priority, route=r.route,
                      customer_tier=r.customer_tier)
    return result
