"""The customer's after-sales app under /m/: mobile first (390x844), usable on a desktop,
Chinese first and English second, one small stylesheet and one small script of its own.

Pages: sign in (a password, or a one-time code by SMS when a gateway is configured:
engine.sign_in_codes), 我的订单 (the orders with the actions each item allows now), filing from an
order (items and quantities, type, a reason from a list plus free text, up to six photos),
我的售后 (the requests) and a request's page (progress in plain terms, the answers the process
waits for, refunds, the pickup slot, the return label, photos, the timeline) kept up to date
by server-sent events, and the message centre. Only customers sign in here, and they only
ever see their own: every read and every change is an engine function or verb called with the
customer as actor (engine.customer_app, engine.service_requests). A refused input is shown on
the page in the user's language (`explain`) and changes nothing: the unit of work rolls back.
"""
from __future__ import annotations

import functools
import math
import threading
import time
from pathlib import Path

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template,
                   request, session, stream_with_context, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from engine import (
    clock,
    customer_app,
    notifications,
    request_photos,
    return_labels,
    service_requests,
    sign_in_codes,
    signatures,
    users,
)
from engine.definitions import forms
from engine.errors import Conflict, EngineError, InvalidInput
from web import files
from web.api import schemas
from web.api.base import refuse_unsafe_form, refuse_unsafe_url
from web.pages import context, i18n

WEB = Path(__file__).resolve().parent.parent
bp = Blueprint("mobile", __name__, url_prefix="/m", template_folder=str(WEB / "templates"),
               static_folder=str(WEB / "static" / "m"), static_url_path="/static")

# Reasons offered per request type (stored as the words the customer saw, then their text).
REASONS = {
    "return_refund": (_l("Wrong size"), _l("Changed my mind"), _l("Arrived damaged"),
                      _l("Not as described"), _l("Wrong item sent")),
    "exchange": (_l("Wrong size"), _l("Wrong colour"), _l("Has a defect")),
    "repair": (_l("Does not turn on"), _l("Screen problem"), _l("Battery problem"),
               _l("Other fault")),
    "complaint": (_l("Delivery too slow"), _l("Service attitude"), _l("Product quality"),
                  _l("Other")),
}
# The answer forms: the app's answer name -> the JSON Schema the API checks it with.
ANSWER_SCHEMAS = {"quote-answer": schemas.QUOTE_ANSWER, "feedback": schemas.FEEDBACK,
                  "rating": schemas.RATING, "shipped": schemas.SHIPPED}
# The timeline's events in plain words (notifications by their template, the ledger's rows as
# refund_<state>, the request's own milestones).
EVENTS = {
    "request_received": _l("We received your request."),
    "request_accepted": _l("Your request was accepted."),
    "request_rejected": _l("Your request was declined."),
    "request_cancelled": _l("Your request was cancelled."),
    "return_instructions": _l("Please send the goods back."),
    "pickup_scheduled": _l("A courier pickup was booked."),
    "goods_received": _l("We received the goods and are checking them."),
    "repair_quote": _l("We sent you a repair quote."),
    "shipped": _l("We shipped the item to you."),
    "resolved": _l("Your request was resolved."),
    "survey": _l("We asked you to rate our service."),
    "complaint_response": _l("We answered your complaint."),
    "complaint_resolved": _l("We resolved your complaint."),
    "first_response": _l("Our staff started working on it."),
    "closed": _l("The request was closed."),
    "refund_pending": _l("A refund of %(amount)s is on its way."),
    "refund_paid": _l("A refund of %(amount)s was paid."),
    "refund_failed": _l("A refund of %(amount)s failed; we will try again."),
    "clawback_pending": _l("%(amount)s of the refund is being reclaimed."),
    "clawback_paid": _l("%(amount)s of the refund was reclaimed."),
}
MONEY_KINDS = {"refund": _l("Refund"), "clawback": _l("Reclaimed")}
MONEY_STATES = {"pending": _l("on its way"), "paid": _l("paid"), "failed": _l("failed")}
DELIVERY = {"sent": _l("sent"), "pending": _l("sending"), "failed": _l("not delivered"),
            "not_sent": _l("in the app only")}
# The session key of a one-time code's challenge, and the code's language per page language.
CODE_KEY = "sign_in_code"
LANGUAGES = {"zh_CN": "zh-CN", "en": "en"}
# How long one live-update stream stays open (the browser reconnects by itself), and how often
# it looks for a change.
STREAM_SECONDS = 55
POLL_SECONDS = 1.0
# Each open stream holds one of the server's threads (gunicorn runs 8 by default): at most
# MAX_STREAMS per process, so that pages and the API keep threads to answer with (none on a
# server of one thread: context.stream_slot). A page beyond them is told to come back later
# (`retry`) and keeps working without live updates.
MAX_STREAMS = 4
BUSY_RETRY_MS = 15_000
_streams = threading.BoundedSemaphore(MAX_STREAMS)


@bp.before_request
def _guard():
    context.limit_body(request_photos.MAX_PHOTOS * context.settings().max_attachment_bytes
                       if request.endpoint == "mobile.file" else "max_request_bytes")
    refuse_unsafe_url()
    refuse_unsafe_form()
    context.check_csrf()


@bp.app_context_processor
def _words():
    return {"event_label": event_label,
            "money_kind": lambda kind: str(MONEY_KINDS.get(kind, kind)),
            "money_state": lambda state: str(MONEY_STATES.get(state, state)),
            "delivery_label": lambda state: str(DELIVERY.get(state, state))}


def event_label(entry: dict) -> str:
    """A timeline entry in plain words (its amount in the user's currency format)."""
    words = EVENTS.get(entry["event"])
    if words is None:
        return _("Update on your request.")
    amount = (entry.get("details") or {}).get("amount")
    return str(words) % {"amount": i18n.money(amount)} if "%(amount)s" in str(words) else str(words)


@bp.errorhandler(EngineError)
def _engine_error(err: EngineError):
    return render_template("m/error.html", message=explain(err)), context.status_of(err)


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    messages = {403: _("This app is for customers; staff sign in at the desk."),
                404: _("This page does not exist, or it is not yours."),
                413: _("The photos are too large together; send fewer or smaller ones.")}
    return (render_template("m/error.html", message=messages.get(err.code, err.description)),
            err.code)


def customer_only(view):
    """Page decorator: a signed-in customer (others: the sign-in page, or 403 for staff)."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        user = context.current_user()
        if user is None:
            return redirect(url_for("mobile.login", next=request.path))
        if user["role"] != "customer":
            abort(403)
        return view(*args, **kwargs)
    return wrapped


# ------------------------------------------------------------------ sign in

@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with a password (the demo's way)."""
    if request.method == "GET":
        return _login_page()
    with context.transaction() as db:
        outcome = users.sign_in(db, context.settings(), request.form.get("username", ""),
                                request.form.get("password", ""), request.remote_addr)
        token = _token(db, outcome.user)
    return (_signed_in(token) if token is not None else
            _refused(outcome, _("Wrong username or password.")))


@bp.post("/login/code")
def send_code():
    """Send a one-time code by SMS (engine.sign_in_codes) and ask for it."""
    if not context.settings().sms_http_url:
        abort(404)
    username = request.form.get("username", "")
    try:
        # Only reads: the gateway is called without holding a write transaction open.
        with context.transaction(write=False) as db:
            challenge = sign_in_codes.send(db, context.settings(), current_app.secret_key,
                                           username, LANGUAGES[i18n.current()])
    except (notifications.Refused, signatures.NoOutgoingSecret, OSError):
        return _login_page(error=_("The code could not be sent. Try again later, or sign in "
                                   "with your password."), status=503)
    session[CODE_KEY] = challenge.as_dict()
    return _login_page(code_sent=True, username=username)


@bp.post("/login/verify")
def verify_code():
    """Sign in with the code sent by `send_code` (wrong codes count as failed sign-ins)."""
    challenge = sign_in_codes.Challenge.from_dict(session.get(CODE_KEY))
    with context.transaction() as db:
        outcome = sign_in_codes.verify(db, context.settings(), current_app.secret_key,
                                       challenge, request.form.get("code", ""),
                                       request.remote_addr)
        token = _token(db, outcome.user)
    if token is not None:
        return _signed_in(token)
    return _refused(outcome, _("The code is wrong or has expired."),
                    code_sent=challenge is not None,
                    username=challenge.username if challenge else "")


def _token(db, user) -> str | None:
    """A page sign-in for a customer (None for anyone else: this app is theirs)."""
    if user is None or user.role != "customer":
        return None
    return users.issue_token(db, user, context.settings().session_ttl_hours)[0]


def _signed_in(token: str):
    context.login(token)                  # a new session: the code's challenge is gone too
    target = request.args.get("next", "")
    return redirect(target if target.startswith("/m/") and not target.startswith("/m//")
                    else url_for("mobile.orders"))


def _refused(outcome, wrong: str, **page):
    if outcome.locked_until is not None:
        minutes = max(1, math.ceil((outcome.locked_until - clock.now()).total_seconds() / 60))
        return _login_page(error=_("Too many failed sign-ins. Try again in %(minutes)d minutes.",
                                   minutes=minutes), status=429, **page)
    return _login_page(error=wrong if outcome.user is None else
                       _("This app is for customers; staff sign in at the desk."), status=401,
                       **page)


def _login_page(*, error=None, status=200, code_sent=False, username=None):
    return render_template("m/login.html", error=error, code_sent=code_sent,
                           codes=bool(context.settings().sms_http_url),
                           username=request.form.get("username", "") if username is None
                           else username), status


@bp.post("/logout")
def logout():
    context.logout()
    return redirect(url_for("mobile.login"))


# ------------------------------------------------------------------ orders and filing

@bp.get("/")
@customer_only
def orders():
    with context.transaction() as db:
        shown = customer_app.my_orders(db, context.actor(), clock.now())
    return render_template("m/orders.html", orders=shown)


@bp.route("/orders/<order_id>/file", methods=["GET", "POST"])
@customer_only
def file(order_id):
    with context.transaction() as db:
        order = next((o for o in customer_app.my_orders(db, context.actor(), clock.now())
                      if o["order_id"] == order_id), None)
    if order is None:
        abort(404)
    chosen = _choice(order)
    error, status = None, 200
    if request.method == "POST":
        uploads = [(upload.filename or "", upload.stream.read(
            context.settings().max_attachment_bytes + 1))
            for upload in request.files.getlist("photos") if upload.filename]
        try:
            fields = _filing(chosen)
            with context.transaction() as db:
                filed = customer_app.file_with_photos(
                    db, context.runtime(), context.actor(), fields, uploads,
                    max_bytes=context.settings().max_attachment_bytes,
                    attachments_dir=context.settings().attachments_dir)
        except EngineError as err:
            error, status = explain(err), context.status_of(err)
        else:
            flash(_("Request %(number)s is filed.", number=filed["number"]))
            return redirect(url_for("mobile.request_page", ref=filed["number"]))
    return render_template("m/file.html", order=order, chosen=chosen, reasons=REASONS,
                           error=error, max_photos=request_photos.MAX_PHOTOS), status


def _choice(order: dict) -> dict:
    """What the form shows as chosen: from the submitted form, else from the link (?type=,
    ?sku=), else the first type the first item allows."""
    source = request.form if request.method == "POST" else request.args
    asked = source.get("type")
    kinds = [k for k in service_requests.TYPES
             if any(i["actions"].get(k, {}).get("allowed") for i in order["items"])]
    kind = asked if asked in service_requests.TYPES else (kinds[0] if kinds else "complaint")
    if request.method == "POST":
        skus = set(request.form.getlist("sku"))
    else:
        skus = {source["sku"]} if source.get("sku") else {i["sku"] for i in order["items"]}
    # The order's items (their ordered quantity by default), and whatever else was sent, for
    # the engine to name (an item not in the order is its refusal, not this form's).
    quantities = {sku: source.get(f"quantity-{sku}", "") for sku in skus}
    quantities.update({i["sku"]: source.get(f"quantity-{i['sku']}", str(i["quantity"]))
                       for i in order["items"]})
    return {"type": kind, "kinds": kinds, "skus": skus, "quantities": quantities,
            "reason": source.get("reason", ""), "text": source.get("text", ""),
            "pickup": source.get("pickup") == "on", "damage": source.get("damage") == "on"}


def _filing(chosen: dict) -> dict:
    """The filing's fields from the form (checked again by the engine, which names the
    field): quantities must be whole numbers, the reason is the words chosen and the text."""
    items = []
    for sku in sorted(chosen["skus"]):
        raw = chosen["quantities"].get(sku, "")
        if not _ascii_digits(raw):
            raise InvalidInput("the quantity must be a whole number",
                               field=f"items[{len(items)}].quantity")
        items.append({"sku": sku, "quantity": int(raw)})
    reason = " — ".join(p for p in (chosen["reason"].strip(), chosen["text"].strip()) if p)
    return {"order_id": request.view_args["order_id"], "type": chosen["type"], "reason": reason,
            "items": items, "pickup": chosen["pickup"], "damage": chosen["damage"]}


# ------------------------------------------------------------------ requests

@bp.get("/requests")
@customer_only
def requests_list():
    with context.transaction() as db:
        shown, _total = service_requests.list_requests(db, context.actor(), {}, page=1,
                                                       per_page=100)
    return render_template("m/requests.html", requests=shown)


@bp.get("/requests/<ref>")
@customer_only
def request_page(ref):
    return render_template("m/request.html", r=_shown(ref))


@bp.get("/requests/<ref>/live")
@customer_only
def live(ref):
    """The changing part of a request's page, for the page's script to swap in."""
    return render_template("m/_live.html", r=_shown(ref))


def _shown(ref) -> dict:
    """Request `ref` as its page shows it (engine.customer_app.request_page)."""
    with context.transaction() as db:
        return customer_app.request_page(db, context.actor(), ref, context.settings())


@bp.get("/requests/<ref>/events")
@customer_only
def events(ref):
    """Server-sent events: `changed` whenever what the request's page shows has changed (the
    page then fetches its live part). The stream ends after STREAM_SECONDS; the browser
    reconnects after `retry`."""
    who, settings = context.actor(), context.settings()
    with context.transaction() as db:
        first = customer_app.fingerprint(db, who, ref, settings)   # NotFound before streaming
    if not context.stream_slot(_streams):
        return Response(f"retry: {BUSY_RETRY_MS}\n\n", mimetype="text/event-stream")

    def stream():
        seen, ends = first, time.monotonic() + STREAM_SECONDS
        yield "retry: 1000\n\n"
        while time.monotonic() < ends:
            time.sleep(POLL_SECONDS)
            with context.transaction() as db:
                now = customer_app.fingerprint(db, who, ref, settings)
            if now != seen:
                seen = now
                yield "event: changed\ndata: {}\n\n"
    response = Response(stream_with_context(stream()), mimetype="text/event-stream")
    # Closed by the server whether or not the stream was ever read: the thread's slot is free.
    response.call_on_close(_streams.release)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.post("/requests/<ref>/answer/<name>")
@customer_only
def answer(ref, name):
    if name not in customer_app.ANSWERS:
        abort(404)
    try:
        with context.transaction() as db:
            if name == "pickup-slot":
                customer_app.choose_slot(db, context.runtime(), context.actor(), ref,
                                         request.form.get("slot_start", ""))
            else:
                payload = forms.validate(ANSWER_SCHEMAS[name], _answer(name))
                service_requests.answer(db, context.runtime(), context.actor(), ref,
                                        customer_app.ANSWERS[name], payload,
                                        name.replace("-", " "))
    except EngineError as err:
        return (render_template("m/request.html", r=_shown(ref), error=explain(err)),
                context.status_of(err))
    flash(_("Thank you, your answer was sent."))
    return redirect(url_for("mobile.request_page", ref=ref))


def _answer(name: str) -> dict:
    """The answer's payload from its form (typed as the message's schema wants it)."""
    form = request.form
    if name == "quote-answer":
        return {"approved": form.get("approved") == "yes"}
    if name == "feedback":
        return {"confirmed": form.get("confirmed") == "yes", "comment": form.get("comment", "")}
    if name == "rating":
        score = form.get("score", "")
        return {"score": int(score) if _ascii_digits(score) else score,
                "comment": form.get("comment", "")}
    return {"carrier": form.get("carrier", "").strip(),
            "tracking_no": form.get("tracking_no", "").strip()}


@bp.get("/requests/<ref>/label.<kind>")
@customer_only
def label(ref, kind):
    if kind not in return_labels.FORMATS:
        abort(404)
    with context.transaction() as db:
        number, order_id = customer_app.label_for(db, context.actor(), ref)
    content, content_type = return_labels.label(number, order_id, kind)
    return files.download({"filename": f"return-label-{number}.{kind}",
                           "content_type": content_type}, content)


@bp.get("/requests/<ref>/photos/<id:photo_id>")
@customer_only
def photo(ref, photo_id):
    with context.transaction() as db:
        meta, content = customer_app.photo(db, context.actor(), ref, photo_id,
                                           context.settings().attachments_dir,
                                           thumbnail=request.args.get("size") == "thumb")
    return files.download(meta, content)


@bp.get("/messages")
@customer_only
def messages():
    with context.transaction() as db:
        shown = customer_app.messages(db, context.actor(), i18n.current())
    return render_template("m/messages.html", messages=shown)


def _ascii_digits(text: str) -> bool:
    """Whether `text` is a whole number in ASCII digits: str.isdigit also takes '²', which
    int() refuses, and '٣', which it reads as 3."""
    return text.isascii() and text.isdigit()


# ------------------------------------------------------------------ refusals in words

def explain(err: EngineError) -> str:
    """A refusal in the user's language: by its reason code where the engine gives one, else
    by the field it names; the engine's own words only when neither is known."""
    details = err.details if isinstance(err.details, dict) else {}
    why, field = details.get("why"), details.get("field") or err.field or ""
    n = _photo_number(field)
    by_reason = {
        "not_an_image": lambda: _("Photo %(n)d is not a picture (JPEG, PNG or WebP).", n=n),
        "too_large": lambda: _("Photo %(n)d is larger than %(mb)d MB.", n=n,
                               mb=max(1, details.get("limit", 0) // (1024 * 1024))),
        "too_many": lambda: _("Send at most %(n)d photos.", n=request_photos.MAX_PHOTOS),
        "too_many_pixels": lambda: _("Photo %(n)d has too many pixels.", n=n),
        "window_closed": lambda: _("The time for this has passed for item %(sku)s.",
                                   sku=details.get("sku", "")),
        "not_delivered": lambda: _("Item %(sku)s has not been delivered yet.",
                                   sku=details.get("sku", "")),
        "held": lambda: _("Item %(sku)s already has the open request %(number)s.",
                          sku=details.get("sku", ""), number=details.get("open_request", "")),
        "not_waiting": lambda: _("This request is not waiting for that answer now."),
        "not_offered": lambda: _("Please choose one of the offered slots."),
        "no_return": lambda: _("Nothing is sent back for this request."),
    }
    if why in by_reason:
        return by_reason[why]()
    if field.endswith(".quantity"):
        return _("The quantity must be from 1 to the quantity you ordered.")
    if field.endswith(".sku"):
        return _("That item is not in this order.")
    by_field = {"items": _("Please choose at least one item."),
                "reason": _("The reason is too long."), "type": _("Please choose a type."),
                "score": _("Please choose 1 to 5 stars."),
                "comment": _("The comment is too long."),
                "carrier": _("Please enter the carrier and the tracking number."),
                "tracking_no": _("Please enter the carrier and the tracking number."),
                "slot_start": _("Please choose one of the offered slots.")}
    if field in by_field:
        return by_field[field]
    if isinstance(err, Conflict) and "not waiting" in err.message:
        return _("This request is not waiting for that answer now.")
    return _("That could not be done: %(detail)s", detail=err.message)


def _photo_number(field: str) -> int:
    """1-based number of the photo a field `photos[n]` names (0 when it names none)."""
    if field.startswith("photos[") and field.endswith("]") and field[7:-1].isdigit():
        return int(field[7:-1]) + 1
    return 0
