"""POST /api/signals: a signal sent from outside to every request waiting for it.

A signal, unlike a message, has no correlation: it goes to every active instance waiting for
its name (an intermediate or boundary signal catch, an event subprocess's signal start), each
in its own unit of work, audited as `signal_received` with the sender and the payload. As in
Camunda's REST API (POST /signal, which needs the right to change the receiving instances),
supervisors and admins send signals, and a supervisor only to instances whose work they
supervise (403, nothing sent, otherwise); machine accounts and staff may not. No instance
waiting is a 404 naming the signal, as POST /api/messages answers for a message (Camunda
answers 204 there; a sender here learns that nobody heard it). An instance whose steps fail
on the signal is in error with its incident and listed with status "error"; the others take
the signal on.
"""
from __future__ import annotations

from flask import Blueprint

from engine import access
from web.api import schemas
from web.api.base import actor, allow, body, runtime, transaction

bp = Blueprint("signals", __name__)


@bp.post("/signals")
@allow(*access.SUPERVISORS)
def send():
    fields = body(schemas.SIGNAL)
    with transaction() as session:
        caught = runtime().send_signal(session, fields["name"], fields.get("payload", {}),
                                       actor())
        return {"signal": fields["name"],
                "caught_by": [{"instance_id": i.id, "business_key": i.business_key,
                               "status": i.status, "error": i.error} for i in caught]}
