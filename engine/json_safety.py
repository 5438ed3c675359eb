"""Whether a value from outside is safe to store as JSON: the one check the web layer runs on
every request body, query string and form post, and the engine runs where data from outside
arrives without the web (start data, message payloads, order imports).

Safe means it round-trips through both databases and through SpiffWorkflow's serializer:
nested at most MAX_DEPTH objects and lists deep (600 deep made an instance that could never be
loaded again), text without NUL (PostgreSQL refuses it anywhere, even in a query filter) or lone
surrogates (no UTF-8 encoder accepts them), keys that are text, and numbers that are finite and
within the range JSON readers agree on (NaN, Infinity and 1e999 poisoned the KPIs for good).

`problem(value)` says what is wrong and where; `check(value, field)` raises it as InvalidInput
naming the path (`items[0].sku`, `payload.note`), which the API answers with a 422.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from engine.errors import InvalidInput

MAX_DEPTH = 32
# Integers beyond 64 bits and numbers beyond a double's range are valid JSON text, but readers
# disagree on them (SQLite's JSON functions turn them into reals, 1e999 into Infinity).
MAX_INTEGER = 2**63 - 1
_UNSAFE_CHAR = re.compile("[\x00\ud800-\udfff]")
# What Python callers of the engine may pass besides JSON's own types (the state serializer
# writes them as text).
_SCALARS = (str, bool, int, float, Decimal, datetime, date, type(None))


@dataclass(frozen=True)
class Problem:
    """Why a value cannot be stored: `path` names the place (empty: the value itself)."""

    path: str
    reason: str

    def message(self, field: str = "") -> str:
        where = self.path or field or "the value"
        return f"{where} {self.reason}"


def problem(value, max_depth: int = MAX_DEPTH) -> Problem | None:
    """The first Problem inside `value` (depth first, in order), or None when it is safe."""
    return _walk(value, "", 0, max_depth)


def check(value, field: str = "", max_depth: int = MAX_DEPTH):
    """Return `value` if it is safe to store. Raises InvalidInput naming the path of the first
    problem, prefixed with `field` (check(payload, "payload") names `payload.note`)."""
    found = problem(value, max_depth)
    if found is None:
        return value
    path = _join(field, found.path) if field else found.path
    raise InvalidInput(Problem(path, found.reason).message(field), field=path or field or None)


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL or a lone surrogate), or None."""
    bad = _UNSAFE_CHAR.search(text)
    if bad is None:
        return None
    char = bad.group()
    what = "a NUL character" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"
    return f"must not contain {what}"


def printable(name: str) -> str:
    """`name` with NUL and lone surrogates written as \\uXXXX escapes, so that a path naming a
    bad key can itself be shown, encoded and stored."""
    return _UNSAFE_CHAR.sub(lambda m: f"\\u{ord(m.group()):04x}", name)


def _walk(value, path: str, depth: int, max_depth: int) -> Problem | None:
    if isinstance(value, str):
        reason = text_problem(value)
        return Problem(path, reason) if reason else None
    if isinstance(value, dict | list | tuple):
        if depth >= max_depth:
            return Problem(path, f"is nested more than {max_depth} levels deep")
        return _walk_children(value, path, depth + 1, max_depth)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if -MAX_INTEGER - 1 <= value <= MAX_INTEGER else \
            Problem(path, "must be a whole number of at most 64 bits")
    if isinstance(value, float | Decimal):
        return _number_problem(value, path)
    if isinstance(value, _SCALARS):
        return None
    return Problem(path, f"is not a JSON value ({type(value).__name__})")


def _walk_children(value, path: str, depth: int, max_depth: int) -> Problem | None:
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                return Problem(path, f"has a key that is not text ({key!r})")
            where = _join(path, printable(key))
            reason = text_problem(key)
            if reason:
                return Problem(where, f"(a key) {reason}")
            found = _walk(child, where, depth, max_depth)
            if found is not None:
                return found
        return None
    for n, child in enumerate(value):
        found = _walk(child, f"{path}[{n}]", depth, max_depth)
        if found is not None:
            return found
    return None


def _number_problem(value: float | Decimal, path: str) -> Problem | None:
    # math.isfinite reads a Decimal as a float: 1e999 counts as Infinity, as every float
    # reader of the stored JSON would take it.
    if isinstance(value, Decimal) and value.is_nan() or not math.isfinite(value):
        too_large = isinstance(value, Decimal) and value.is_finite()
        return Problem(path, "is too large a number to keep" if too_large else
                       "must be a finite number")
    return None


def _join(path: str, key: str) -> str:
    if not path:
        return key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"
