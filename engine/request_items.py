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
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import json_safety
from engine.definitions import forms
from engine.errors import Conflict, InvalidInput
from engine.models import ServiceRequest, ShopOrder
from engine.orders import MAX_ITEMS, line_total

HOLDING_TYPES = ("return_refund", "exchange", "repair")
OPEN_STATUSES = ("open", "in_progress", "on_hold", "error")

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


def refuse_held(session: Session, order_id: str, kind: str, lines: list[dict]) -> None:
    """Raise Conflict when a request of `kind` for `lines` would take an item an open request
    already holds (the message and details name the open request's number)."""
    if kind not in HOLDING_TYPES:
        return
    wanted = {line["sku"] for line in lines}
    for number, items in session.execute(
            select(ServiceRequest.number, ServiceRequest.items)
            .where(ServiceRequest.order_id == order_id, ServiceRequest.type.in_(HOLDING_TYPES),
                   ServiceRequest.status.in_(OPEN_STATUSES))
            .order_by(ServiceRequest.id)):
        held = wanted & {item.get("sku") for item in items or [] if isinstance(item, dict)}
        if held:
            sku = sorted(held)[0]
            raise Conflict(f"item {sku} of order {order_id} already has the open request "
                           f"{number}", field="items",
                           details={"field": "items", "sku": sku, "open_request": number})
