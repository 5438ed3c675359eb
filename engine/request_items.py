"""What a request takes from its order: the items the customer chose, what was paid for them,
and the rule that an order item has at most one open request.

The customer names items by sku with a quantity from 1 to the ordered one; without a choice the
request is about every item of the order at its ordered quantity. Prices never come from the
customer: each chosen line carries the order's name and unit price, and the request's amount is
quantity x unit price summed over them.

Returns, exchanges and repairs hold their items: while such a request is open (not resolved,
closed or cancelled), another one for any of its items is refused (Conflict naming the open
request's number). Complaints are about the service rather than the goods: their items are
recorded but held by no one, so a complaint may be filed beside a return of the same order.

What an item allows now (`actions`): the customer's app shows its buttons from it and filing
refuses the rest (`refuse_disallowed`), so the rule lives here once. The windows are fixed
windows from delivery, as a Shopify store's return policy sets them:

- return / refund: until RETURN_DAYS (15) after delivery; before delivery too (the parcel is
  stopped and the money refunded, 仅退款);
- exchange: from delivery until EXCHANGE_DAYS (30) after it (nothing to exchange before);
- repair: once delivered, free until the order's warranty_until, afterwards against a quote
  (the repair process quotes out-of-warranty work);
- complaint: always (about the service, not the goods).

None of the first three while an open request holds the item. A delivery date in the future
counts as not delivered yet.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from engine import json_safety, prebuilt
from engine.definitions import forms
from engine.errors import Conflict, InvalidInput
from engine.models import ShopOrder
from engine.orders import HELD_LINES, HOLDING_TYPES, MAX_ITEMS, line_total

ACTION_TYPES = HOLDING_TYPES + ("complaint",)
RETURN_DAYS = 15
EXCHANGE_DAYS = 30

# The customer's choice, checked by `choose` whoever files (the API publishes the same schema,
# web/api/schemas.py): `items: ["x"]` broke the staff task page, items nested 600 deep made an
# instance no one could load again. The schema checks the shape; `choose` names the items
# the order does not have and the quantities it did not order.
CHOSEN_ITEM = {"type": "object", "additionalProperties": False,
               "description": "an item of the order by sku; quantity: 1 to the ordered "
               "quantity (default: all of it)",
               "properties": {"sku": {"type": "string", "minLength": 1, "maxLength": 100},
                              "quantity": {"type": "integer"}}}
CHOSEN_ITEMS = {"type": "array", "maxItems": MAX_ITEMS, "items": CHOSEN_ITEM,
                "description": "the items the request is about (default: every item)"}
_CHOICE = {"type": "object", "properties": {"items": CHOSEN_ITEMS}}


def choose(order: ShopOrder, chosen) -> list[dict]:
    """The order's lines the request is about ({sku, name, quantity, unit_price}), from the
    customer's choice [{sku, quantity}] (None: all of them). Raises InvalidInput naming the
    field: items.0 for a choice that breaks CHOSEN_ITEMS, items[0].sku for an sku the order
    does not have, items[0].quantity above the ordered quantity."""
    if not all(isinstance(i, dict) and {"sku", "quantity", "unit_price"} <= set(i)
               for i in order.items):
        raise Conflict(f"order {order.order_id} was stored before items had prices; the shop "
                       "must send it again (PUT /api/orders)", field="order_id")
    ordered = {item["sku"]: item for item in order.items}
    if chosen is None:
        return [dict(item) for item in order.items]
    json_safety.check(chosen, "items")   # before the schema, whose messages quote values
    forms.validate(_CHOICE, {"items": chosen})
    if not isinstance(chosen, list) or not 1 <= len(chosen) <= len(ordered):
        raise InvalidInput(f"items must list 1 to {len(ordered)} of the order's items",
                           field="items")
    lines, seen = [], set()
    for n, choice in enumerate(chosen):
        where = f"items[{n}]"
        if not isinstance(choice, dict) or set(choice) - {"sku", "quantity"}:
            raise InvalidInput(f"{where} must be {{sku, quantity}}", field=where)
        sku = choice.get("sku")
        if sku not in ordered:
            raise InvalidInput(f"order {order.order_id} has no item {sku!r}", field=f"{where}.sku")
        if sku in seen:
            raise InvalidInput(f"item {sku} is chosen twice", field=f"{where}.sku")
        seen.add(sku)
        limit = ordered[sku]["quantity"]
        quantity = choice.get("quantity", limit)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= limit:
            raise InvalidInput(f"{where}.quantity must be from 1 to {limit} (ordered)",
                               field=f"{where}.quantity")
        lines.append({**ordered[sku], "quantity": quantity})
    return lines


def price(lines: list[dict]) -> Decimal:
    """What the customer paid for the chosen lines."""
    return sum((line_total(line) for line in lines), Decimal("0.00"))


def actions(session: Session, order: ShopOrder, now: datetime) -> dict[str, dict[str, dict]]:
    """sku -> request type -> what the item allows at `now`: {"allowed", "why", "until",
    "request"}. `why` is a code the pages translate: "held" (`request` names the open request
    holding the item), "not_delivered", "in_window" / "window_closed" (`until`: the window's
    last moment), "in_warranty" (`until`: the warranty's end), "paid_repair", "always"."""
    holders = _holders(session, order.order_id)
    delivered = order.delivered_at if order.delivered_at and order.delivered_at <= now else None
    return {item["sku"]: {kind: (_verdict(False, "held", request=holders[item["sku"]])
                                 if kind in HOLDING_TYPES and item["sku"] in holders
                                 else _rule(kind, order, delivered, now))
                          for kind in ACTION_TYPES}
            for item in order.items if isinstance(item, dict) and isinstance(item.get("sku"), str)}


def _rule(kind: str, order: ShopOrder, delivered: datetime | None, now: datetime) -> dict:
    """The verdict of the windows (see the module docstring) for an item no request holds."""
    if kind == "complaint":
        return _verdict(True, "always")
    if delivered is None:
        return _verdict(kind == "return_refund", "not_delivered")
    if kind == "repair":
        warranty = order.warranty_until
        if warranty is not None and warranty >= now:
            return _verdict(True, "in_warranty", until=warranty)
        return _verdict(True, "paid_repair")
    until = delivered + timedelta(days=RETURN_DAYS if kind == "return_refund" else EXCHANGE_DAYS)
    return _verdict(now <= until, "in_window" if now <= until else "window_closed", until=until)


def refuse_disallowed(session: Session, order: ShopOrder, kind: str, lines: list[dict],
                      now: datetime) -> None:
    """Raise Conflict when an item of `lines` does not allow a request of `kind` at `now` (see
    `actions`). The message names the item and why, details carry the code (`why`) and, for a
    held item, the open request's number (`open_request`)."""
    allowed = actions(session, order, now)
    for line in lines:
        verdict = allowed[line["sku"]][kind]
        if verdict["allowed"]:
            continue
        sku, why = line["sku"], verdict["why"]
        if why == "held":
            raise Conflict(f"item {sku} of order {order.order_id} already has the open request "
                           f"{verdict['request']}", field="items",
                           details={"field": "items", "sku": sku, "why": why,
                                    "open_request": verdict["request"]})
        text = ("has not been delivered yet" if why == "not_delivered" else
                f"could be asked for until {verdict['until'].isoformat()}")
        raise Conflict(f"{kind} of item {sku} of order {order.order_id} {text}", field="type",
                       details={"field": "type", "sku": sku, "why": why})


def _verdict(allowed: bool, why: str, *, until: datetime | None = None,
             request: str | None = None) -> dict:
    return {"allowed": allowed, "why": why, "until": until, "request": request}


def _holders(session: Session, order_id: str) -> dict[str, str]:
    """sku -> the number of the open request of a holding type that has it (the oldest)."""
    holders: dict[str, str] = {}
    for number, items in prebuilt.read(session, HELD_LINES, {"order_id": order_id}):
        for item in items or []:
            if isinstance(item, dict) and isinstance(item.get("sku"), str):
                holders.setdefault(item["sku"], number)
    return holders
