"""JSON Schemas of the request bodies: the routes validate with them and the OpenAPI document
publishes them, so the two cannot drift apart."""
from __future__ import annotations

from engine.orders import CATEGORIES, CHANNELS, LANGUAGES
from engine.request_items import CHOSEN_ITEMS
from engine.service_requests import TYPES


def obj(properties: dict, required=(), **extra) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(required), **extra}


def text(max_length: int, min_length: int = 1) -> dict:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


COMMENT = text(2000, 0)
REASON = {"type": "string", "maxLength": 500}

TOKEN = obj({"username": text(100), "password": text(200)}, ["username", "password"])

# What a customer may send when filing: the facts (category, amounts, warranty, address) come
# from the order. Staff filing for a customer name it and may set customer_tier.
FILE_REQUEST = obj({
    "order_id": text(100), "type": {"enum": list(TYPES)},
    "reason": {"type": "string", "maxLength": 2000},
    "items": CHOSEN_ITEMS,
    "pickup": {"type": "boolean"}, "damage": {"type": "boolean"},
    "idempotency_key": text(200)}, ["order_id", "type"])
STAFF_FILE_REQUEST = obj({**FILE_REQUEST["properties"], "customer_id": text(100),
                          "customer_tier": {"enum": ["normal", "vip"]}},
                         ["order_id", "type", "customer_id"])

# An order as the shop sends it. engine.orders checks the values (decimals, times, the items'
# sum) and names the field; the schema says what the fields are.
DECIMAL = {"type": ["string", "number"], "description": "a decimal with at most two places, "
           "best sent as a string: \"299.00\""}
TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with its offset"}
TIMER_RESCHEDULE = obj({"due_at": TIME, "reason": REASON}, ["due_at"])
TIMER_FIRE = obj({"reason": REASON})
ORDER_ITEM = {"type": "object", "additionalProperties": False, "properties": {
    "sku": text(100), "name": text(200), "quantity": {"type": "integer", "description": "1 or more"},
    "unit_price": {**DECIMAL, "description": "paid per unit, after discounts"}},
    "description": "every field is required"}
ORDER = obj({
    "customer_id": text(100), "category": {"enum": list(CATEGORIES)},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "channel": text(50),
    "paid_amount": {**DECIMAL, "description": "the sum of quantity x unit_price over the items"},
    "paid_at": TIME, "delivered_at": {**TIME, "type": ["string", "null"]},
    "warranty_until": {**TIME, "type": ["string", "null"]},
    "shipping_address": {"type": ["string", "null"], "maxLength": 300},
    "items": {"type": "array", "minItems": 1, "maxItems": 100, "items": ORDER_ITEM},
    "contact": {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "email": text(254), "phone": text(20), "wechat_openid": text(64),
        "channel": {"enum": list(CHANNELS)}, "language": {"enum": list(LANGUAGES)}},
        "description": "how the customer hears of their requests (notifications): channel "
                       "email, sms, wechat or none, language zh-CN or en"}},
    ["customer_id", "category", "currency", "paid_amount", "paid_at", "items"])

QUOTE_ANSWER = obj({"approved": {"type": "boolean"}}, ["approved"])
FEEDBACK = obj({"confirmed": {"type": "boolean"}, "comment": COMMENT}, ["confirmed"])
RATING = obj({"score": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": COMMENT},
             ["score"])
SHIPPED = obj({"tracking_no": text(100), "carrier": text(100)}, ["tracking_no", "carrier"])

EMPTY = obj({})
COMPLETE = obj({"data": {"type": "object"}, "version": {"type": "integer", "minimum": 1}}, ["data"])
ASSIGNEE = {"type": ["string", "null"], "minLength": 1, "maxLength": 100}
REASSIGN = obj({"assignee": ASSIGNEE}, ["assignee"])
BULK_REASSIGN = obj({"task_ids": {"type": "array", "minItems": 1, "maxItems": 100,
                                  "uniqueItems": True, "items": text(40)},
                     "assignee": ASSIGNEE}, ["task_ids", "assignee"])
COMMENT_BODY = obj({"body": text(5000)}, ["body"])

MESSAGE = obj({"name": text(200), "correlation": text(100), "payload": {"type": "object"},
               "message_id": text(200)}, ["name", "correlation"])
# The subscription table keeps "signal:" + name in 200 characters.
SIGNAL = obj({"name": text(190), "payload": {"type": "object"}}, ["name"])

INSTANCE_ACTION = obj({"reason": REASON})
RETRY = obj({"reason": REASON, "data": {"type": "object"}})
INCIDENT_ACTION = obj({"action": {"enum": ["retry", "skip"]}, "payload": {"type": "object"}},
                      ["action"])
