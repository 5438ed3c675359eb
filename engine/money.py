"""Amounts of money: decimals of at most two places (the currency's minor unit, 分 for CNY),
never floats.

`amount()` is the one reader of an amount from outside (an order, a form, a service call's
parameter): it refuses NaN, Infinity, negatives, a third decimal, booleans and text that is not a
number, naming the field. A float that reaches it (a caller in Python passing 259.0) is read by
its shortest decimal text, so 259.1 is 259.10 and never 259.0999...

Inside the platform an amount is a `Decimal` everywhere: in workflow data (the state serializer
registers it, engine/runtime/serialization.py), in the JSON columns (the database's JSON codec
below tags it as {"$decimal": "259.00"} so that it comes back as the same Decimal and a replay
sees what the live run saw), and in the API, which shows it as the text "259.00".
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from engine.errors import InvalidInput

# The one currency of the book: orders, the ledger, payments asked of the provider and the
# four-eyes threshold are all in it (engine.orders refuses an order in another).
CURRENCY = "CNY"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("1000000")
_TAG = "$decimal"


def amount(value, field: str, *, positive: bool = False) -> Decimal:
    """`value` as a Decimal with two places in [0, MAX_AMOUNT] (above 0 when `positive`).
    Raises InvalidInput naming `field` for NaN, Infinity, a negative, a third decimal, a bool,
    text or anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidInput(f"{field} must be a decimal number such as \"12.50\"", field=field)
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f"{field} must be a decimal number such as \"12.50\"",
                           field=field) from None
    if not number.is_finite():
        raise InvalidInput(f"{field} must be a finite number", field=field)
    low = "above 0" if positive else "at least 0"
    if number < 0 or (positive and number == 0) or number > MAX_AMOUNT:
        raise InvalidInput(f"{field} must be {low} and at most {MAX_AMOUNT}", field=field)
    if number != number.quantize(CENT):
        raise InvalidInput(f"{field} has more than two decimals", field=field)
    return number.quantize(CENT).copy_abs()     # not negative: -0 is 0.00, never "-0.00"


def text(value: Decimal) -> str:
    """An amount as the API shows it: "259.00"."""
    return str(Decimal(value).quantize(CENT))


# ---------------------------------------------------------------- JSON columns

def _default(o):
    if isinstance(o, Decimal):
        return {_TAG: str(o)}
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _object_hook(d: dict):
    if len(d) == 1 and isinstance(d.get(_TAG), str):
        try:
            return Decimal(d[_TAG])
        except InvalidOperation:
            return d
    return d


def dumps(value) -> str:
    """JSON text for a JSON column: Decimals tagged so that `loads` gives them back exactly."""
    return json.dumps(value, default=_default, ensure_ascii=False, allow_nan=False)


def loads(text_: str):
    return json.loads(text_, object_hook=_object_hook)
