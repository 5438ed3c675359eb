"""The HTTP order adapter: an order the store does not know is asked of the shop's order API
(`GET {AFTERSALES_ORDERS_HTTP_URL}/orders/{order_id}`) at filing time, and stored through the
same checks as PUT /api/orders (engine.orders.upsert).

The shop answers 200 with the order as PUT /api/orders takes it (an `order_id` in it must be
the one asked for), or 404 when it has no such order. Anything else (no answer within the
timeout, another status, a body that is not a valid order) refuses the filing with a Conflict
naming order_id: the customer may try again, and nothing is stored. Uses urllib from the
standard library, as the HTTP payment adapter does; the request is signed with the platform's
outgoing secret (X-Aftersales-Signature over the empty body, engine/signatures.py).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from sqlalchemy.orm import Session

from engine import orders, signatures
from engine.config import Settings
from engine.errors import Conflict, EngineError
from engine.models import ShopOrder

MAX_BYTES = 1024 * 1024


def fetch(session: Session, settings: Settings, order_id: str) -> ShopOrder | None:
    """The order `order_id` from the shop, stored; None when the shop has no such order (or no
    order API is configured). Raises Conflict (field order_id) when the shop cannot say."""
    if not settings.orders_http_url:
        return None
    url = f"{settings.orders_http_url.rstrip('/')}/orders/{urllib.parse.quote(order_id, safe='')}"
    try:
        # Signed as every call to a provider is (engine/signatures.py): a GET signs b"".
        request = urllib.request.Request(url, headers={
            "Accept": "application/json", **signatures.outgoing_headers(settings, b"")})
        with urllib.request.urlopen(request, timeout=settings.orders_http_timeout) as response:
            raw = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as err:
        err.close()         # its answer's socket, held as long as the error lives otherwise
        if err.code == 404:
            return None
        raise _unavailable(order_id, f"it answered {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        raise _unavailable(order_id, f"it did not answer ({getattr(err, 'reason', err)})") from None
    except signatures.NoOutgoingSecret as err:
        raise _unavailable(order_id, f"it was not asked: {err}") from None
    try:
        if len(raw) > MAX_BYTES:
            raise ValueError("the answer is too large")
        fields = json.loads(raw)
        if not isinstance(fields, dict):
            raise ValueError("the answer is not an object")
    except ValueError as err:
        raise _unavailable(order_id, f"its answer is not an order ({err})") from None
    if fields.pop("order_id", order_id) != order_id:
        raise _unavailable(order_id, "it answered with another order")
    try:
        orders.upsert(session, order_id, fields)
    except EngineError as err:
        where = f"{err.field}: " if err.field else ""
        raise _unavailable(order_id, f"its order is refused ({where}{err.message})") from None
    return session.get(ShopOrder, order_id)


def _unavailable(order_id: str, why: str) -> Conflict:
    return Conflict(f"order {order_id} is not known here and the shop's order service could "
                    f"not give it: {why}; try again later", field="order_id")
