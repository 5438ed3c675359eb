"""What the customer's after-sales app shows and does (the pages under /m/ and /api/app/): the
customer's orders with what each item allows now, filing with photos, a request's progress in
plain terms, the pickup slots the courier offers, and the message centre.

Everything here is the customer's own: orders and requests of other customers are not found
(engine.orders.visible, engine.service_requests.visible), and what is shown of a request is its
customer timeline (no internal notes, no staff names: who handles it is a department). Every
change goes through the engine's doors with the customer as actor: filing through
service_requests.file_request (which starts the process), answers through the runtime's
deliver_message, photos as attachments with their audit events (engine.request_photos).

The pickup slot is the customer's answer where the process waits for the courier's booking
(`pickup_booked`): the courier offers slots (an HTTP courier that accepts a booking may name
them in its answer, `slots: [{slot_start, slot_end}]`; otherwise the built-in courier's offer,
BUILTIN_SLOTS on the next SLOT_DAYS days), the customer picks one, and that pick is the
booking's result: it is delivered under the result id of the booking call
(engine.integrations.result_id), so the booking's own answer, arriving later, finds it already
there and the outbox row is done without a second booking. With the built-in courier
dispatching at once there is no wait to answer; deployments where customers choose set
`courier.book_pickup=off` or an HTTP courier that answers `accepted`.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import (
    clock,
    instances,
    integrations,
    notification_templates,
    orders,
    payments,
    request_items,
    request_photos,
    service_requests,
)
from engine.access import Actor
from engine.errors import Conflict, InvalidInput, NotFound
from engine.models import HumanTask, Outbox, ServiceRequest, Timer

# The customer's answers: the app's name of each -> the message the process waits for.
ANSWERS = {"quote-answer": "quote_answered", "feedback": "complaint_feedback",
           "rating": "csat_submitted", "shipped": "return_shipped",
           "pickup-slot": "pickup_booked"}
# Goods go back to the warehouse for these types: they get a return label.
LABEL_TYPES = ("return_refund", "exchange", "repair")
BUILTIN_SLOTS = ((time(9), time(12)), (time(14), time(18)))
SLOT_DAYS = 3
LANGUAGES = {"zh_CN": "zh-CN", "en": "en"}


def my_orders(session: Session, actor: Actor, now: datetime) -> list[dict]:
    """The customer's orders, newest paid first, as engine.orders.order_json with, on each
    item, `actions` (request type -> verdict, engine.request_items.actions) and, on each order,
    its `requests` [{number, type, status}] newest first."""
    shown = []
    for order in orders.list_orders(session, actor, None):
        row = orders.visible(session, actor, order["order_id"])
        allowed = request_items.actions(session, row, now)
        order["items"] = [{**item, "actions": allowed.get(item.get("sku"), {})}
                          for item in order["items"]]
        order["requests"] = [{"number": r.number, "type": r.type, "status": r.status}
                             for r in session.scalars(select(ServiceRequest).where(
                                 ServiceRequest.order_id == row.order_id,
                                 ServiceRequest.customer_id == actor.customer_id)
                                 .order_by(ServiceRequest.id.desc()))]
        shown.append(order)
    return shown


def file_with_photos(session: Session, runtime, actor: Actor, fields: dict,
                     uploads: list[tuple[str, bytes]], *, max_bytes: int,
                     attachments_dir: Path | None) -> dict:
    """File a request (engine.service_requests.file) with up to six photos in one unit of
    work; returns the filing's summary with its `photos`. The photos are checked first
    (engine.request_photos.check), so a bad photo files nothing; a filing refused files no
    photo either (the caller's transaction rolls both back)."""
    photos = request_photos.check(uploads, max_bytes)
    filed, created = service_requests.file(session, runtime, fields, actor)
    if photos and not created:
        raise Conflict("this idempotency_key was already used for a filing; photos are sent "
                       "with the filing itself", field="idempotency_key")
    stored = request_photos.store(session, actor, filed["instance_id"], photos,
                                  max_bytes=max_bytes, attachments_dir=attachments_dir)
    return {**filed, "photos": stored}


def request_page(session: Session, actor: Actor, ref, settings) -> dict:
    """A request as the app shows it: the customer view (engine.service_requests.view, its
    timeline without internal events) plus `progress` (see `progress`), `payments` (amounts
    and states, no approver), `photos`, the `pickup` slot booked, the `awaiting` answers with
    the slots `offered` when a pickup slot is awaited, whether a return `label` exists, and
    the `return_address` (Settings.return_address) while the return shipment is awaited."""
    found = service_requests.view(session, actor, ref)
    instance_id = service_requests.get(session, found["number"]).instance_id
    money = payments.of_request(session, actor, found["number"])
    awaiting = [name for name, message in ANSWERS.items() if message in found["waiting_for"]]
    pickup = next((e["details"] for e in reversed(found["timeline"])
                   if e["event"] == "pickup_scheduled" and e.get("details")), None)
    # A milestone the request records itself (received, resolved) is not told twice by the
    # notification that announced it.
    recorded = {e["event"] for e in found["timeline"] if "delivery" not in e}
    found["timeline"] = [e for e in found["timeline"]
                         if "delivery" not in e or e["event"] not in recorded]
    page = {**{k: v for k, v in found.items() if k != "waiting_for"},
            "progress": progress(session, instance_id, found["status"], awaiting),
            "payments": {**{k: money[k] for k in ("refunded", "pending", "clawed_back")},
                         "items": [{k: p[k] for k in ("kind", "amount", "status", "created_at",
                                                      "settled_at")} for p in money["items"]]},
            "photos": request_photos.of_instance(session, instance_id) if instance_id else [],
            "pickup": pickup, "awaiting": awaiting,
            "quote": _quote(found["timeline"]) if "quote-answer" in awaiting else None,
            "label": found["type"] in LABEL_TYPES,
            # Where the goods go when the customer sends them (not for a pickup).
            "return_address": settings.return_address if "shipped" in awaiting else None}
    if "pickup-slot" in awaiting:
        page["offered"] = offered_slots(session, actor, found["number"], settings)
    return page


def progress(session: Session, instance_id: int | None, status: str,
             awaiting: list[str]) -> dict:
    """The request's state in plain terms: `stage` (waiting_for_you, in_hand, done, on_hold),
    `handling` [{department, due_at}] (the open tasks' departments and their promised times,
    never a person), and `deadline` (the earliest timer of the process: when an awaited
    answer or a return is due)."""
    handling = [] if instance_id is None else [
        {"department": department, "due_at": due_at}
        for department, due_at in session.execute(
            select(HumanTask.department, HumanTask.due_at)
            .where(HumanTask.instance_id == instance_id).order_by(HumanTask.due_at))]
    deadline = None if instance_id is None else session.scalar(
        select(Timer.due_at).where(Timer.instance_id == instance_id).order_by(Timer.due_at))
    if status in ("closed", "cancelled", "resolved"):
        stage = "done"
    elif status in ("on_hold", "error"):
        stage = "on_hold"
    else:
        stage = "waiting_for_you" if awaiting else "in_hand"
    return {"stage": stage, "handling": handling, "deadline": deadline}


def fingerprint(session: Session, actor: Actor, ref, settings) -> str:
    """A digest of everything the request's page shows: it changes when the page would (the
    live updates send a new page when it does)."""
    shown = request_page(session, actor, ref, settings)
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()


def offered_slots(session: Session, actor: Actor, ref, settings) -> list[dict]:
    """The pickup slots the courier offers for request `ref` [{slot_start, slot_end}] (ISO
    8601 with offsets): those its answer to the booking named, else the built-in courier's."""
    found = service_requests.visible(session, actor, ref)
    booking = _booking(session, found)
    named = booking.result.get("slots") if booking is not None and \
        isinstance(booking.result, dict) else None
    if isinstance(named, list) and named and all(
            isinstance(s, dict) and isinstance(s.get("slot_start"), str)
            and isinstance(s.get("slot_end"), str) for s in named):
        return [{"slot_start": s["slot_start"], "slot_end": s["slot_end"]} for s in named]
    zone = ZoneInfo(settings.timezone)
    today = clock.now().astimezone(zone).date()
    return [{"slot_start": datetime.combine(day, start, zone).isoformat(),
             "slot_end": datetime.combine(day, end, zone).isoformat()}
            for day in (today + timedelta(days=n) for n in range(1, SLOT_DAYS + 1))
            for start, end in BUILTIN_SLOTS]


def choose_slot(session: Session, runtime, actor: Actor, ref, slot_start) -> dict:
    """Book the offered slot starting at `slot_start` for the request's pickup: the customer's
    answer to the booking the process waits for. Returns as service_requests.answer. Raises
    Conflict when the process does not wait for a slot now, InvalidInput (slot_start) for a
    slot the courier did not offer."""
    found = service_requests.visible(session, actor, ref)
    if found.instance_id is None or \
            ANSWERS["pickup-slot"] not in instances.waiting_for(session, found.instance_id):
        raise Conflict(f"request {found.number} is not waiting for a pickup slot now",
                       field="slot_start", details={"field": "slot_start", "why": "not_waiting"})
    slot = next((s for s in offered_slots(session, actor, found.number, runtime.settings)
                 if s["slot_start"] == slot_start), None)
    if slot is None:
        raise InvalidInput("slot_start must be the start of a slot the courier offers "
                           "(GET /api/requests/{ref}/pickup-slots)", field="slot_start",
                           details={"field": "slot_start", "why": "not_offered"})
    booking = _booking(session, found)
    message_id = (integrations.result_id(booking.operation, booking.idempotency_key)
                  if booking is not None else None)
    runtime.deliver_message(session, ANSWERS["pickup-slot"], found.number,
                            {**slot, "booking": f"chosen by the customer ({found.number})"},
                            actor, message_id=message_id)
    session.refresh(found)
    return {"id": found.id, "number": found.number, "status": found.status,
            "waiting_for": instances.waiting_for(session, found.instance_id), "buffered": False}


def messages(session: Session, actor: Actor, locale: str) -> list[dict]:
    """The message centre: every notification sent (or being sent) to the customer about their
    requests, newest first, in the words it was written in (engine.notification_templates) for
    `locale` (zh_CN or en): [{at, request_no, template, subject, text, state}]."""
    numbers = dict(session.execute(select(ServiceRequest.instance_id, ServiceRequest.number)
                                   .where(ServiceRequest.customer_id == actor.customer_id,
                                          ServiceRequest.instance_id.is_not(None))).all())
    if not numbers:
        return []
    language = LANGUAGES.get(locale, notification_templates.DEFAULT_LANGUAGE)
    shown = []
    for row in session.scalars(select(Outbox).where(Outbox.instance_id.in_(numbers),
                                                    Outbox.operation == "notify.customer")
                               .order_by(Outbox.created_at.desc(), Outbox.id.desc())):
        template = row.payload.get("template") or "update"
        values = {k: v for k, v in row.payload.items()
                  if k in service_requests.CUSTOMER_FIELDS or k == "request_no"}
        values.setdefault("request_no", numbers[row.instance_id])
        subject, text = notification_templates.customer_message(template, language, values)
        shown.append({"at": row.created_at, "request_no": numbers[row.instance_id],
                      "template": template, "subject": subject, "text": text,
                      "state": service_requests.delivery(row, internal=False)["state"]})
    return shown


def label_for(session: Session, actor: Actor, ref) -> tuple[str, str]:
    """(request number, order id) of a request that sends goods back, for its return label.
    Raises NotFound, Conflict for a complaint (nothing goes back)."""
    found = service_requests.visible(session, actor, ref)
    if found.type not in LABEL_TYPES:
        raise Conflict(f"request {found.number} is a {found.type}: nothing is sent back",
                       field="id", details={"field": "id", "why": "no_return"})
    return found.number, found.order_id


def photos_of(session: Session, actor: Actor, ref) -> list[dict]:
    """The photos filed with request `ref`, for whoever may read the request. Raises
    NotFound."""
    found = service_requests.visible(session, actor, ref)
    return request_photos.of_instance(session, found.instance_id) if found.instance_id else []


def photo(session: Session, actor: Actor, ref, photo_id: int, attachments_dir: Path | None,
          *, thumbnail: bool) -> tuple[dict, bytes]:
    """A photo of request `ref` as engine.request_photos.content, for whoever may read the
    request. Raises NotFound."""
    found = service_requests.visible(session, actor, ref)
    if found.instance_id is None:
        raise NotFound(f"photo {photo_id} does not exist", field="photo_id")
    return request_photos.content(session, found.instance_id, photo_id, attachments_dir,
                                  thumbnail=thumbnail)


def _booking(session: Session, request: ServiceRequest) -> Outbox | None:
    """The request's latest courier booking call."""
    if request.instance_id is None:
        return None
    return session.scalars(select(Outbox).where(
        Outbox.instance_id == request.instance_id, Outbox.operation == "courier.book_pickup")
        .order_by(Outbox.id.desc())).first()


def _quote(timeline: list[dict]) -> dict | None:
    """The repair quote the customer is asked to answer: its amount, from the quote's
    notification."""
    entry = next((e for e in reversed(timeline) if e["event"] == "repair_quote"), None)
    if entry is None:
        return None
    return {"amount": (entry.get("details") or {}).get("quote_amount")}
