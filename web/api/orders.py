"""Orders: the shop sends them (PUT, idempotent), customers read their own, staff a customer's.

Validation and storage are engine.orders'; another customer's order is 404, as if it did not
exist.
"""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, orders
from web.api import schemas
from web.api.base import actor, allow, body, only_args, transaction
from web.api.signing import signed

bp = Blueprint("orders", __name__)


@bp.put("/orders/<order_id>")
@allow(*access.ORDER_WRITERS)
@signed
def store(order_id):
    fields = body(schemas.ORDER)
    with transaction() as session:
        order, what = orders.upsert(session, order_id, fields, actor().name)
    return {**order, "result": what}, 201 if what == "created" else 200


@bp.get("/orders")
@allow(*access.ORDER_READERS)
def list_orders():
    only_args("customer_id")
    with transaction() as session:
        return {"items": orders.list_orders(session, actor(), request.args.get("customer_id"))}


@bp.get("/orders/<order_id>")
@allow(*access.ORDER_READERS)
def show(order_id):
    with transaction() as session:
        return orders.get(session, actor(), order_id)
