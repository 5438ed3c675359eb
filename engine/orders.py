"""The order store: orders as the shop sends them (PUT /api/orders/<id>, `aftersales orders
import`, the HTTP order adapter), checked once here, and read back by their customer and staff.

An order is {customer_id, category, currency, channel, paid_amount, paid_at, delivered_at,
warranty_until, shipping_address, items: [{sku, name, quantity, unit_price}], contact: {email,
phone, wechat_openid, channel, language} (optional: how the customer is notified)}. Amounts are
decimals (JSON strings such as "299.00", or JSON numbers read by their decimal text), never
floats: NaN, Infinity, negatives, more than two decimals and text that is not a number are
refused, naming the field.

The rule on money: `paid_amount` must equal the sum of quantity x unit_price over the items,
so `unit_price` is what the customer paid per unit after discounts. A request's amount is
computed from the unit prices of the items it chooses (engine.service_requests), and it can only
be right if the items add up to what was paid.

Upserts are idempotent: the same body twice is one order, unchanged; a changed body updates it.
An order is in the book's currency (money.CURRENCY, CNY), since the ledger, the provider's
payments and the four-eyes threshold are. A change keeps true what the platform did with the
order (Conflict naming the field otherwise): its customer never changes once a request was filed
from it; no item an open request holds goes away or below the quantity it holds; once a payment
was asked for, its paid amount never goes below what is refunded or pending, and the payments
book's balance (engine/payments.py) follows the new paid amount, an action of the global log
with its actor.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import json_safety, money, prebuilt
from engine.access import Actor
from engine.errors import Conflict, InvalidInput, NotFound
from engine.history import global_log
from engine.models import OrderBalance, ServiceRequest, ShopOrder
from engine.money import amount

CATEGORIES = ("fresh", "3c", "apparel", "appliance", "other")
FIELDS = ("customer_id", "category", "currency", "channel", "paid_amount", "paid_at",
          "delivered_at", "warranty_until", "shipping_address", "items", "contact")
REQUIRED = ("customer_id", "category", "currency", "paid_amount", "paid_at", "items")
ITEM_FIELDS = ("sku", "name", "quantity", "unit_price")
# How to reach the customer about requests from this order, as the shop knows them: the shop
# owns the customer's profile (the platform keeps none), so their channel and language come with
# each order; a customer changes them at the shop, which sends the order again.
CONTACT_FIELDS = ("email", "phone", "wechat_openid", "channel", "language")
CHANNELS = ("email", "sms", "wechat", "none")
LANGUAGES = ("zh-CN", "en")
# An email address as far as a form can tell (the mail server has the last word).
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z0-9-]{2,63}")
_PHONE = re.compile(r"\+?[0-9][0-9 -]{5,19}")
MAX_ITEMS = 100
MAX_QUANTITY = 10000
_ID = re.compile(r"[\w\-.:@/]{1,100}")
# Read by every filing and every payment (engine.prebuilt).
_BY_ID = prebuilt.rows_of(ShopOrder).where(ShopOrder.order_id == bindparam("order_id"))
# The requests that hold their items while open (the rule is engine/request_items.py's), and the
# lines each holds, oldest request first.
HOLDING_TYPES = ("return_refund", "exchange", "repair")
OPEN_STATUSES = ("open", "in_progress", "on_hold", "error")
HELD_LINES = (select(ServiceRequest.number, ServiceRequest.items)
              .where(ServiceRequest.order_id == bindparam("order_id"),
                     ServiceRequest.type.in_(HOLDING_TYPES),
                     ServiceRequest.status.in_(OPEN_STATUSES))
              .order_by(ServiceRequest.id))


def find(session: Session, order_id: str) -> ShopOrder | None:
    """The order `order_id` as the session's object, or None."""
    return prebuilt.one(session, ShopOrder, _BY_ID, {"order_id": order_id})


def upsert(session: Session, order_id, fields: dict, actor_name: str = "shop") -> tuple[dict, str]:
    """Store the order `order_id` as `fields` describe it (sent by `actor_name`); returns (its
    `order_json`, what happened: "created", "updated" or "unchanged"). Raises InvalidInput
    naming the field, Conflict naming the field for a change that would undo what the platform
    did with the order (see the module docstring)."""
    order_id = identifier(order_id, "order_id")
    values = validate(fields)
    order = session.get(ShopOrder, order_id, with_for_update=True)
    if order is None:
        try:
            # A savepoint: the same new order sent twice at once (a shop retrying) is one
            # insert and one update, not an error (PostgreSQL; SQLite transactions queue).
            with session.begin_nested():
                order = ShopOrder(order_id=order_id, **values)
                session.add(order)
            return order_json(order), "created"
        except IntegrityError:
            order = session.get(ShopOrder, order_id, with_for_update=True, populate_existing=True)
    if _stored(order) == _stored_values(values):
        return order_json(order), "unchanged"
    if values["customer_id"] != order.customer_id and session.scalar(
            select(ServiceRequest.id).where(ServiceRequest.order_id == order_id).limit(1)):
        raise Conflict(f"order {order_id} has requests filed by {order.customer_id}; its "
                       "customer cannot change", field="customer_id")
    _refuse_releasing_held_items(session, order_id, values["items"])
    balance = session.get(OrderBalance, order_id)
    if balance is not None:
        _refuse_undoing_payments(order, balance, values)
    paid_before = order.paid_amount
    for name, value in values.items():
        setattr(order, name, value)
    session.flush()
    if values["paid_amount"] != paid_before:
        if balance is None:
            _open_balance(session, order_id, values["paid_amount"])
        else:
            _follow_paid(session, balance, paid_before, values["paid_amount"], actor_name)
    return order_json(order), "updated"


def _open_balance(session: Session, order_id: str, paid: Decimal) -> None:
    """The payments book's balance of an order none was asked of yet, at its new paid amount:
    a first payment deciding meanwhile on the paid amount before the change then loses its race
    on this row (its own insert) and, run again, reads this one. Conflict when that payment
    made the row first (the shop sends the order again and meets the checks above)."""
    with _balance_written(session, order_id):
        session.add(OrderBalance(order_id=order_id, paid=paid, refunds_held=0, refunds_paid=0,
                                 clawbacks_held=0, clawbacks_paid=0))


@contextmanager
def _balance_written(session: Session, order_id: str):
    """A write of the order's balance row in a savepoint, flushed: Conflict (naming
    paid_amount) when the database refuses it because a refund of the order was asked for
    meanwhile (its row made first, or a CHECK it now breaks)."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError:
        raise Conflict(f"a refund of order {order_id} was asked for meanwhile; send the order "
                       "again", field="paid_amount") from None


def _refuse_releasing_held_items(session: Session, order_id: str, items: list[dict]) -> None:
    """Raise Conflict (naming items) when `items` drop an item an open request holds, or order
    less of it than the request holds."""
    ordered = {item["sku"]: item["quantity"] for item in items}
    for number, lines in prebuilt.read(session, HELD_LINES, {"order_id": order_id}):
        for line in lines or []:
            if isinstance(line, dict) and \
                    ordered.get(line.get("sku"), 0) < line.get("quantity", 0):
                raise Conflict(f"item {line['sku']} of order {order_id} is held by the open "
                               f"request {number} ({line['quantity']}); it cannot be removed or "
                               "ordered fewer until that request ends", field="items")


def _refuse_undoing_payments(order: ShopOrder, balance: OrderBalance, values: dict) -> None:
    """Raise Conflict (naming paid_amount) for a paid amount below what is refunded or
    pending, once a payment of the order was asked for."""
    refunded = Decimal(balance.refunds_held) - Decimal(balance.clawbacks_paid)
    if values["paid_amount"] < refunded:
        raise Conflict(f"order {order.order_id} has {money.text(refunded)} refunded or "
                       "pending; its paid_amount cannot go below that", field="paid_amount")


def _follow_paid(session: Session, balance: OrderBalance, before: Decimal, after: Decimal,
                 actor_name: str) -> None:
    """Move the payments book's balance to the order's new paid amount, an action of the global
    log. The balance's CHECK refuses it when a refund asked for meanwhile no longer fits
    (Conflict: the shop sends the order again and meets the check above)."""
    with _balance_written(session, balance.order_id):
        session.execute(update(OrderBalance).where(OrderBalance.order_id == balance.order_id)
                        .values(paid=after))
    session.expire(balance, ["paid"])
    global_log.record(session, "order_paid_changed", actor=actor_name,
                      subject=f"order:{balance.order_id}",
                      payload={"before": money.text(before), "after": money.text(after)})


def validate(fields) -> dict:
    """The column values of an order described by `fields`. Raises InvalidInput naming the
    first bad field (items[0].quantity for an item's)."""
    if not isinstance(fields, dict):
        raise InvalidInput("an order must be an object", field="body")
    json_safety.check(fields)   # an import or the shop's API may send what no database stores
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field '{unknown[0]}'", field=unknown[0])
    for name in REQUIRED:
        if fields.get(name) is None:
            raise InvalidInput(f"{name} is required", field=name)
    category = fields["category"]
    if category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    currency = fields["currency"]
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise InvalidInput("currency must be an ISO 4217 code such as CNY", field="currency")
    if currency != money.CURRENCY:
        raise InvalidInput(f"currency must be {money.CURRENCY}: the platform keeps its book of "
                           f"money in {money.CURRENCY} only", field="currency")
    items = _items(fields["items"])
    paid = amount(fields["paid_amount"], "paid_amount")
    total = sum((line_total(item) for item in items), Decimal("0.00"))
    if total != paid:
        raise InvalidInput(f"the items add up to {total}, not the paid amount {paid}",
                           field="paid_amount")
    paid_at = timestamp(fields["paid_at"], "paid_at")
    return {"customer_id": identifier(fields["customer_id"], "customer_id"),
            "category": category, "currency": currency,
            "channel": _text(fields.get("channel", "web"), "channel", 50),
            "paid_amount": paid, "paid_at": paid_at,
            "delivered_at": _optional_time(fields, "delivered_at"),
            "warranty_until": _optional_time(fields, "warranty_until"),
            "shipping_address": (None if fields.get("shipping_address") is None else
                                 _text(fields["shipping_address"], "shipping_address", 300)),
            "items": items, "contact": contact(fields.get("contact"))}


def contact(value) -> dict | None:
    """The stored form of an order's `contact` ({email, phone, wechat_openid, channel,
    language}, each optional; None for none). Raises InvalidInput naming contact.<field>."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput("contact must be an object", field="contact")
    unknown = sorted(set(value) - set(CONTACT_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field '{unknown[0]}'", field=f"contact.{unknown[0]}")
    checks = {"email": (EMAIL, "an email address"),
              "phone": (_PHONE, "a phone number such as +86 138 0000 0000"),
              "wechat_openid": (re.compile(r"[\w-]{6,64}"), "a WeChat openid")}
    stored = {}
    for name, (pattern, what) in checks.items():
        if value.get(name) is not None:
            if not isinstance(value[name], str) or not pattern.fullmatch(value[name]):
                raise InvalidInput(f"contact.{name} must be {what}", field=f"contact.{name}")
            stored[name] = value[name]
    for name, allowed in (("channel", CHANNELS), ("language", LANGUAGES)):
        if value.get(name) is not None:
            if value[name] not in allowed:
                raise InvalidInput(f"contact.{name} must be one of {', '.join(allowed)}",
                                   field=f"contact.{name}")
            stored[name] = value[name]
    needs = {"email": "email", "sms": "phone", "wechat": "wechat_openid"}.get(stored.get("channel"))
    if needs and needs not in stored:
        raise InvalidInput(f"contact.channel {stored['channel']} needs contact.{needs}",
                           field=f"contact.{needs}")
    return stored or None


def list_orders(session: Session, actor: Actor, customer_id: str | None) -> list[dict]:
    """The orders of a customer, newest paid first: a customer's own (whatever `customer_id`
    says), or for staff the customer `customer_id` names (InvalidInput without one)."""
    if actor.role == "customer":
        customer_id = actor.customer_id
    elif not customer_id:
        raise InvalidInput("customer_id is required", field="customer_id")
    rows = session.scalars(select(ShopOrder).where(ShopOrder.customer_id == customer_id)
                           .order_by(ShopOrder.paid_at.desc(), ShopOrder.order_id))
    return [order_json(o) for o in rows]


def get(session: Session, actor: Actor, order_id) -> dict:
    """One order as `order_json`. Raises NotFound, also for another customer's order."""
    return order_json(visible(session, actor, order_id))


def visible(session: Session, actor: Actor, order_id) -> ShopOrder:
    """The order row if `actor` may see it; NotFound (naming order_id) otherwise."""
    order = session.get(ShopOrder, order_id) if isinstance(order_id, str) else None
    if order is None or (actor.role == "customer" and order.customer_id != actor.customer_id):
        raise NotFound(f"order {order_id} does not exist", field="order_id")
    return order


def order_json(o: ShopOrder) -> dict:
    """An order as the API shows it: amounts as decimal strings, times in ISO 8601."""
    return {"order_id": o.order_id, "customer_id": o.customer_id, "category": o.category,
            "currency": o.currency, "channel": o.channel, "paid_amount": str(o.paid_amount),
            "paid_at": o.paid_at, "delivered_at": o.delivered_at,
            "warranty_until": o.warranty_until, "shipping_address": o.shipping_address,
            "items": o.items, "contact": o.contact}


def line_total(item: dict) -> Decimal:
    """What the customer paid for one stored item line."""
    return Decimal(item["unit_price"]) * item["quantity"]


def identifier(value, field: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidInput(f"{field} must be 1-100 letters, digits or -_.:@/", field=field)
    return value


def timestamp(value, field: str) -> datetime:
    """An ISO 8601 time with its offset ("2026-11-20T10:00:00+08:00"), in UTC (SQLite keeps
    no offset: a time stored with +08:00 would come back eight hours off). Raises InvalidInput."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(f"{field} must be an ISO 8601 time with its offset", field=field)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:       # 9999-12-31T23:59:59-14:00 is in the year 10000 in UTC
        raise InvalidInput(f"{field} must be within the years 1 to 9999 in UTC",
                           field=field) from None


def _items(value) -> list[dict]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ITEMS:
        raise InvalidInput(f"items must be a list of 1 to {MAX_ITEMS} items", field="items")
    items, skus = [], set()
    for n, item in enumerate(value):
        where = f"items[{n}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object", field=where)
        unknown = sorted(set(item) - set(ITEM_FIELDS))
        if unknown:
            raise InvalidInput(f"unknown field '{unknown[0]}'", field=f"{where}.{unknown[0]}")
        for name in ITEM_FIELDS:
            if item.get(name) is None:
                raise InvalidInput(f"{where}.{name} is required", field=f"{where}.{name}")
        sku = identifier(item["sku"], f"{where}.sku")
        if sku in skus:
            raise InvalidInput(f"sku {sku} is listed twice", field=f"{where}.sku")
        skus.add(sku)
        quantity = item["quantity"]
        if isinstance(quantity, bool) or not isinstance(quantity, int) or \
                not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidInput(f"{where}.quantity must be a whole number from 1 to "
                               f"{MAX_QUANTITY}", field=f"{where}.quantity")
        items.append({"sku": sku, "name": _text(item["name"], f"{where}.name", 200),
                      "quantity": quantity,
                      "unit_price": str(amount(item["unit_price"], f"{where}.unit_price"))})
    return items


def _optional_time(fields: dict, name: str) -> datetime | None:
    return None if fields.get(name) is None else timestamp(fields[name], name)


def _text(value, field: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInput(f"{field} must be text of 1 to {max_len} characters", field=field)
    return value


def _stored(o: ShopOrder) -> dict:
    return _stored_values({name: getattr(o, name) for name in FIELDS})


def _stored_values(values: dict) -> dict:
    # Times compare as instants (the database gives them back in UTC).
    return {k: (v.timestamp() if isinstance(v, datetime) else v) for k, v in values.items()}
