"""POST /api/messages: events from other systems (couriers, the payment provider) for a request.

Each machine role may send only its own messages (ALLOWED); admins may send any. The
correlation is the request number. A repeated `message_id` is applied once. Payment results
(refund_result, clawback_result) name their payment by `payload.idempotency_key` and settle it
in the ledger; a repeated one changes nothing; one whose `amount` is not the approved one settles
nothing and is answered 409 naming `payload.amount`, its payment held as an incident. Other results of a call (a courier's
pickup_booked) that name it by `payload.idempotency_key` count once with the platform's own
answer for that call (engine/integrations.py). A message for a known request whose process does
not wait for it yet is kept (202, `{"buffered": true}`) and delivered when it does
(engine/message_buffer.py); GET /api/messages/buffered lists kept, delivered or expired ones.
"""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, instances, integrations, message_buffer, payments
from engine.errors import Conflict, Forbidden, NotFound
from web.api import schemas
from web.api.base import actor, allow, body, only_args, runtime, transaction
from web.api.signing import signed
from web.errors import error_response

bp = Blueprint("messages", __name__)

ALLOWED = access.MESSAGE_SENDERS


@bp.post("/messages")
@allow(*ALLOWED)
@signed
def deliver():
    fields = body(schemas.MESSAGE)
    allowed = ALLOWED[actor().role]
    if allowed is not None and fields["name"] not in allowed:
        raise Forbidden(f"{actor().role} accounts may not send '{fields['name']}' "
                        f"(allowed: {', '.join(sorted(allowed))})", field="name")
    with transaction() as session:
        if fields["name"] in payments.RESULT_MESSAGES.values():
            # A payment's result settles its ledger row first; the instance hears the
            # ledger's facts (engine/payments.py), never the sender's amount.
            return _delivered(payments.receive_result(
                session, runtime(), fields["name"], fields["correlation"],
                fields.get("payload", {}), actor()))
        payload = fields.get("payload", {})
        try:
            delivered = message_buffer.deliver(
                session, runtime(), fields["name"], fields["correlation"], payload, actor(),
                message_id=integrations.callback_id(fields["name"], payload,
                                                    fields.get("message_id")))
        except NotFound:
            known = instances.id_of_business_key(session, fields["correlation"])
            if known is None:
                raise
            raise Conflict(f"request {fields['correlation']} is not waiting for "
                           f"'{fields['name']}' now", instance_id=known) from None
        return _delivered(delivered)


def _delivered(done):
    """The instances a message went to, (202) the kept message's entry, or (409, committed) a
    payment result held as an incident because its amount is not the approved one."""
    if isinstance(done, payments.Held):
        return error_response(409, "conflict", done.message,
                              {"field": "payload.amount", "outbox_id": done.outbox_id})
    if isinstance(done, message_buffer.Buffered):
        return {"buffered": True, "delivered_to": [], "buffered_id": done.id,
                "expires_at": done.expires_at.isoformat()}, 202
    return {"delivered_to": [{"instance_id": i.id, "business_key": i.business_key,
                              "status": i.status} for i in done]}


@bp.get("/messages/buffered")
@allow(*access.SUPERVISORS, "auditor")
def buffered():
    only_args("status")
    with transaction() as session:
        return {"items": message_buffer.listing(session, actor(),
                                                request.args.get("status", "expired"))}
