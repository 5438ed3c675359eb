"""The JSON API of the customer's after-sales app (engine.customer_app): orders with what each
item allows now, filing with photos, a request as the app shows it, the pickup slots the
courier offers and the customer's choice, the return label, the photos, the message centre.

Customers only, and only their own (another customer's request is 404); the photos of a
request are also for staff who may read the request. The other answers (quote, complaint
feedback, rating, return shipment) are web/api/requests.py's.
"""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, clock, customer_app, json_safety, request_photos, return_labels
from engine.definitions import forms
from engine.errors import InvalidInput
from web import files
from web.api import schemas
from web.api.base import actor, allow, body, json_field, runtime, settings, transaction

bp = Blueprint("customer", __name__)

PICKUP_SLOT = schemas.obj({"slot_start": schemas.text(40)}, ["slot_start"])
FILING_FORM = {"multipart/form-data": {"schema": {
    "type": "object", "required": ["request"], "properties": {
        "request": {"type": "string", "description": "the filing as JSON text (the body of "
                    "POST /api/requests)"},
        "photos": {"type": "array", "maxItems": request_photos.MAX_PHOTOS,
                   "items": {"type": "string", "format": "binary"},
                   "description": "JPEG, PNG or WebP photos, each within the attachment "
                                  "limit"}}}}}


@bp.get("/app/orders")
@allow("customer")
def orders():
    with transaction() as session:
        return {"items": customer_app.my_orders(session, actor(), clock.now())}


@bp.post("/app/requests")
@allow("customer")
def file_with_photos():
    fields = _filing_fields()
    limit = settings().max_attachment_bytes
    uploads = [(upload.filename or "", upload.stream.read(limit + 1))
               for upload in request.files.getlist("photos")]
    with transaction() as session:
        return customer_app.file_with_photos(
            session, runtime(), actor(), fields, uploads, max_bytes=limit,
            attachments_dir=settings().attachments_dir), 201


def _filing_fields() -> dict:
    """The filing of a multipart body's `request` field, checked as POST /api/requests checks
    its JSON body."""
    if request.mimetype != "multipart/form-data":
        raise InvalidInput("send the filing as multipart/form-data: the field 'request' (JSON) "
                           "and up to six files in 'photos'", field="request")
    fields = json_field(request.form.get("request", ""), "request")
    if not isinstance(fields, dict):
        raise InvalidInput("the field 'request' must be a JSON object", field="request")
    json_safety.check(fields)
    return forms.validate(schemas.FILE_REQUEST, fields)


@bp.get("/app/requests/<ref>")
@allow("customer")
def show(ref):
    with transaction() as session:
        return customer_app.request_page(session, actor(), ref, settings())


@bp.get("/requests/<ref>/pickup-slots")
@allow("customer")
def pickup_slots(ref):
    with transaction() as session:
        return {"items": customer_app.offered_slots(session, actor(), ref, settings())}


@bp.post("/requests/<ref>/pickup-slot")
@allow("customer")
def choose_pickup_slot(ref):
    chosen = body(PICKUP_SLOT)["slot_start"]
    with transaction() as session:
        after = customer_app.choose_slot(session, runtime(), actor(), ref, chosen)
    return {k: v for k, v in after.items() if k != "waiting_for"}


def label(kind: str):
    """The view of the return label as `kind` (png or pdf)."""
    @allow("customer")
    def view(ref):
        with transaction() as session:
            number, order_id = customer_app.label_for(session, actor(), ref)
        content, content_type = return_labels.label(number, order_id, kind)
        return files.download({"filename": f"return-label-{number}.{kind}",
                               "content_type": content_type}, content)
    view.__name__ = f"label_{kind}"
    return view


for _kind in return_labels.FORMATS:
    bp.add_url_rule(f"/requests/<ref>/label.{_kind}", view_func=label(_kind))


@bp.get("/requests/<ref>/photos")
@allow(*access.REQUEST_READERS)
def photos(ref):
    with transaction() as session:
        page = customer_app.photos_of(session, actor(), ref)
    return {"items": page}


@bp.get("/requests/<ref>/photos/<id:photo_id>")
@allow(*access.REQUEST_READERS)
def photo(ref, photo_id):
    size = request.args.get("size", "full")
    if size not in ("full", "thumb"):
        raise InvalidInput("size must be full or thumb", field="size")
    with transaction() as session:
        meta, content = customer_app.photo(session, actor(), ref, photo_id,
                                           settings().attachments_dir,
                                           thumbnail=size == "thumb")
    return files.download(meta, content)


@bp.get("/app/messages")
@allow("customer")
def messages():
    locale = request.args.get("lang", "zh_CN")
    if locale not in customer_app.LANGUAGES:
        raise InvalidInput("lang must be zh_CN or en", field="lang")
    with transaction() as session:
        return {"items": customer_app.messages(session, actor(), locale)}
