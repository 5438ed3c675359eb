"""After-sales requests (售后单): filing, lists, the timeline, and the customer's answers.

Customers see only their own requests: another customer's request is 404, as if it did not
exist, and their timeline never shows internal events. A customer's answer (quote, complaint
feedback, rating, return shipment) is delivered to the request's instance as a message; when
the request is not waiting for that answer the reply is 409.
"""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, feedback, payments, service_requests
from engine.errors import Forbidden
from web.api import schemas
from web.api.base import actor, allow, body, only_args, page_args, paged, runtime, transaction

bp = Blueprint("requests", __name__)

# Customer answers: route name -> (message name, body schema).
ANSWERS = {"quote-answer": ("quote_answered", schemas.QUOTE_ANSWER),
           "feedback": ("complaint_feedback", schemas.FEEDBACK),
           "rating": ("csat_submitted", schemas.RATING),
           "shipped": ("return_shipped", schemas.SHIPPED)}
FILTERS = ("status", "category", "type", "customer_id", "order_id")


@bp.post("/requests")
@allow(*access.REQUEST_FILERS)
def file_request():
    who = actor()
    if who.role in access.STAFF_ROLES and who.department not in access.FILING_DEPARTMENTS:
        raise Forbidden("only customer service files requests for customers")
    fields = body(schemas.FILE_REQUEST if who.role == "customer" else schemas.STAFF_FILE_REQUEST)
    with transaction() as session:
        filed, created = service_requests.file(session, runtime(), fields, who)
        return filed, 201 if created else 200


@bp.get("/requests")
@allow(*access.REQUEST_READERS)
def list_requests():
    only_args(*FILTERS, "page", "per_page")
    page, per_page = page_args()
    filters = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    with transaction() as session:
        items, total = service_requests.list_requests(session, actor(), filters, page=page,
                                                      per_page=per_page)
        return paged(items, total, page, per_page)


@bp.get("/requests/<ref>")
@allow(*access.REQUEST_READERS)
def show(ref):
    with transaction() as session:
        found = service_requests.view(session, actor(), ref)
        said = feedback.of_request(session, found["id"], internal=actor().role != "customer")
    return {**_without_waiting(found), "awaiting": awaiting(found["waiting_for"]),
            "feedback": said}


@bp.get("/requests/<ref>/payments")
@allow(*access.REQUEST_READERS)
def payments_of(ref):
    with transaction() as session:
        return payments.of_request(session, actor(), ref)


def answer(route: str):
    message, schema = ANSWERS[route]

    @allow("customer")
    def view(ref):
        payload = body(schema)
        with transaction() as session:
            after = service_requests.answer(session, runtime(), actor(), ref, message, payload,
                                            route.replace("-", " "))
        answered = {**_without_waiting(after), "awaiting": awaiting(after["waiting_for"])}
        return answered, 202 if after["buffered"] else 200
    view.__name__ = route.replace("-", "_")
    return view


for _route in ANSWERS:
    bp.add_url_rule(f"/requests/<ref>/{_route}", view_func=answer(_route), methods=["POST"])


def awaiting(waiting_for: list[str]) -> list[str]:
    """The customer answers a request waits for now (names of the answer routes)."""
    return [route for route, (message, _) in ANSWERS.items() if message in waiting_for]


def _without_waiting(found: dict) -> dict:
    return {k: v for k, v in found.items() if k != "waiting_for"}
