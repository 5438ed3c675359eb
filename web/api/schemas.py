"""JSON Schemas of the request bodies: the routes validate with them and the OpenAPI document
publishes them, so the two cannot drift apart."""
from __future__ import annotations

from engine.service_requests import CATEGORIES, TYPES


def obj(properties: dict, required=(), **extra) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(required), **extra}


def text(max_length: int, min_length: int = 1) -> dict:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


COMMENT = text(2000, 0)
REASON = {"type": "string", "maxLength": 500}

TOKEN = obj({"username": text(100), "password": text(200)}, ["username", "password"])

# What a customer may send when filing; staff may also set customer_tier, in_warranty, address.
FILE_REQUEST = obj({
    "order_id": text(100), "customer_id": text(100), "type": {"enum": list(TYPES)},
    "category": {"enum": list(CATEGORIES)}, "amount": {"type": ["number", "string"]},
    "reason": {"type": "string", "maxLength": 2000}, "items": {"type": "array", "maxItems": 100},
    "pickup": {"type": "boolean"}, "damage": {"type": "boolean"},
    "idempotency_key": text(200)}, ["order_id", "type"])
STAFF_FILE_REQUEST = obj({**FILE_REQUEST["properties"], "customer_tier": {"enum": ["normal", "vip"]},
                          "in_warranty": {"type": "boolean"}, "address": text(300, 0)},
                         ["order_id", "type"])

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

INSTANCE_ACTION = obj({"reason": REASON})
RETRY = obj({"reason": REASON, "data": {"type": "object"}})
INCIDENT_ACTION = obj({"action": {"enum": ["retry", "skip"]}, "payload": {"type": "object"}},
                      ["action"])
