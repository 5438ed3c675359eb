"""engine.json_safety: what may be stored, and the engine's doors that take data from outside
without the web (start data, message payloads, order imports, the items of a filing)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine import json_safety, orders, request_items
from engine.errors import InvalidInput
from engine.models import Instance, ShopOrder
from tests.conftest import DATA


def deep(levels: int):
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize("value, path, reason", [
    ({"a": [1, {"b": "x\x00"}]}, "a[1].b", "must not contain a NUL character"),
    ({"\ud800": 1}, "\\ud800", "(a key) must not contain a lone surrogate (U+D800)"),
    ({"n": Decimal("NaN")}, "n", "must be a finite number"),
    ({"n": Decimal("sNaN")}, "n", "must be a finite number"),
    ({"n": Decimal("-Infinity")}, "n", "must be a finite number"),
    ({"n": Decimal("1e999")}, "n", "is too large a number to keep"),
    ({"n": float("inf")}, "n", "must be a finite number"),
    ({"n": -2**63 - 1}, "n", "must be a whole number of at most 64 bits"),
    ({"n": 2**63}, "n", "must be a whole number of at most 64 bits"),
    ({1: "x"}, "", "has a key that is not text (1)"),
    ({"o": object()}, "o", "is not a JSON value (object)"),
    (deep(33), "[0]" * 32, "is nested more than 32 levels deep"),
])
def test_the_first_problem_is_named_by_its_path(value, path, reason):
    assert json_safety.problem(value) == json_safety.Problem(path, reason)


@pytest.mark.parametrize("value", [
    deep(32), {"text": "中文 😀 \ufffd", "n": [1, 2.5, Decimal("259.00"), -2**63, 2**63 - 1, None]},
    {"empty": {}, "list": []}])
def test_safe_values_pass(value):
    assert json_safety.problem(value) is None
    assert json_safety.check(value) is value


def test_check_names_the_field_it_was_given():
    with pytest.raises(InvalidInput) as refused:
        json_safety.check({"note": "a\x00"}, "payload")
    assert (refused.value.field, refused.value.message) == (
        "payload.note", "payload.note must not contain a NUL character")


def test_start_data_that_cannot_be_stored_starts_nothing(run, deploy, sessions):
    deploy(DATA / "simple")
    for data, field in (({"reason": "a\x00"}, "data.reason"),
                        ({"x": deep(40)}, "data.x" + "[0]" * 31),
                        ({"amount": Decimal("NaN")}, "data.amount")):
        with pytest.raises(InvalidInput) as refused:
            run("start", "simple", data)
        assert refused.value.field == field
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0


@pytest.mark.parametrize("name, correlation, payload, field", [
    ("refund_result", "AS\x00", {}, "correlation"),
    ("refund\ud800", "AS-1", {}, "name"),
    ("refund_result", "AS-1", {"status": Decimal("Infinity")}, "payload.status"),
])
def test_a_message_that_cannot_be_stored_is_refused_before_it_is_looked_up(
        run, name, correlation, payload, field):
    with pytest.raises(InvalidInput) as refused:
        run("deliver_message", name, correlation, payload)
    assert refused.value.field == field


def test_an_imported_order_with_nul_is_refused(sessions):
    body = {"customer_id": "C1", "category": "3c", "currency": "CNY", "paid_amount": "1.00",
            "paid_at": "2026-11-20T10:00:00+08:00", "shipping_address": "Road\x00 1",
            "items": [{"sku": "S", "name": "n", "quantity": 1, "unit_price": "1.00"}]}
    with sessions.begin() as session, pytest.raises(InvalidInput) as refused:
        orders.upsert(session, "O-1", body)
    assert refused.value.field == "shipping_address"


ORDER = ShopOrder(order_id="O-1", items=[{"sku": "S", "name": "n", "quantity": 2,
                                          "unit_price": "5.00"}])


@pytest.mark.parametrize("chosen, field", [
    (["x"], "items.0"), ({"sku": "S"}, "items"), (deep(600), "items" + "[0]" * 32),
    ([{"sku": "S", "quantity": deep(3)}], "items.0.quantity"),
    ([{"sku": ["S"]}], "items.0.sku"), ([{"sku": "S", "quantity": 3}], "items[0].quantity"),
])
def test_chosen_items_are_checked_whoever_files(chosen, field):
    with pytest.raises(InvalidInput) as refused:
        request_items.choose(ORDER, chosen)
    assert refused.value.field == field


def test_a_good_choice_takes_the_order_line():
    assert request_items.choose(ORDER, [{"sku": "S", "quantity": 1}]) == [
        {"sku": "S", "name": "n", "quantity": 1, "unit_price": "5.00"}]
