"""The signature check of machine callers: routes that couriers, payment providers and the
shop call (POST /api/messages, PUT /api/orders/{id}) take `@signed`.

A machine's request must carry X-Aftersales-Signature over its raw body (engine/signatures.py)
as well as its bearer token: a leaked token alone cannot post `picked_up` or `refund_result`.
People (an admin sending a message by hand) keep the token alone: they have no secret to sign
with, and their sign-in is already a password behind a lockout.
"""
from __future__ import annotations

from functools import wraps

from flask import request

from engine import client_secrets, signatures
from engine.access import MACHINE_ROLES
from web.api.base import actor, platform
from web.errors import ApiError


def signed(view):
    """Refuse (401 naming the header) a machine caller whose signature is missing, malformed,
    older or newer than five minutes, or made with no active secret of theirs."""
    @wraps(view)
    def checked(*args, **kwargs):
        if actor().role in MACHINE_ROLES:
            body = request.get_data(cache=True)
            try:
                client_secrets.verify(platform().engine, actor().name, body,
                                      request.headers.get(signatures.HEADER))
            except signatures.BadSignature as err:
                raise ApiError(401, str(err), details={"field": signatures.HEADER}) from None
        return view(*args, **kwargs)
    checked.signed = True
    return checked
