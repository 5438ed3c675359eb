"""POST /api/messages: events from other systems (couriers, the payment provider) for a request.

Each machine role may send only its own messages (ALLOWED); admins may send any. The
correlation is the request number. A repeated `message_id` is applied once. Payment results
(refund_result, clawback_result) name their payment by `payload.idempotency_key` and settle it
in the ledger; a repeated one changes nothing.
"""
from __future__ import annotations

from flask import Blueprint

from engine import access, instances, payments
from engine.errors import Conflict, Forbidden, NotFound
from web.api import schemas
from web.api.base import actor, allow, body, runtime, transaction

bp = Blueprint("messages", __name__)

ALLOWED = access.MESSAGE_SENDERS


@bp.post("/messages")
@allow(*ALLOWED)
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
        try:
            delivered = runtime().deliver_message(
                session, fields["name"], fields["correlation"], fields.get("payload", {}),
                actor(), message_id=fields.get("message_id"))
        except NotFound:
            known = instances.id_of_business_key(session, fields["correlation"])
            if known is None:
                raise
            raise Conflict(f"request {fields['correlation']} is not waiting for "
                           f"'{fields['name']}' now", instance_id=known) from None
        return _delivered(delivered)


def _delivered(instances_: list) -> dict:
    return {"delivered_to": [{"instance_id": i.id, "business_key": i.business_key,
                              "status": i.status} for i in instances_]}
