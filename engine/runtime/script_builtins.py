"""What a BPMN script sees and calls while it runs: the size guards RestrictedPython's
compiled code calls (`**`, `*`, `<<`, attribute access, print), the builtins left to scripts and
the platform's helpers (`now()`, `round2()`, `iso()`). engine/runtime/scripting.py compiles
scripts against these names and runs them with these globals.
"""
from __future__ import annotations

import logging
import operator
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

from RestrictedPython import PrintCollector, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)

from engine import clock

log = logging.getLogger("engine.runtime.scripting")

MAX_INT_BITS = 64_000         # about 19,000 digits: far beyond any amount, still cheap to compute
MAX_SEQUENCE_LEN = 1_000_000  # items or characters one `*` or range() may produce

# Refused when called by name at compile time, and stubbed at run time for indirect uses.
# id() and hash() answer differently in every process (addresses, hash seeds): a script using
# them would store a state its replay cannot reproduce.
REFUSED_NAMES = frozenset({"id", "hash",
    "type", "vars", "globals", "locals", "dir", "eval", "exec", "compile", "open", "input",
    "getattr", "setattr", "delattr", "breakpoint", "help", "memoryview", "object", "super",
    "exit", "quit"})


# --- guards the compiled code calls ---------------------------------------------------------------

def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise ValueError(f"number too large: the result would have about {int(bits * 0.30103):,} "
                         f"digits (limit {int(MAX_INT_BITS * 0.30103):,})")


def _pow(base, exp, mod=None):
    if mod is None and isinstance(base, int) and isinstance(exp, int) and exp > 0:
        _check_bits(abs(base).bit_length() * exp if abs(base) > 1 else 1)
    return pow(base, exp, mod)


def _mul(a, b):
    if isinstance(a, int) and isinstance(b, int):
        _check_bits(a.bit_length() + b.bit_length())
    elif isinstance(b, int) and isinstance(a, (str, bytes, list, tuple)) or \
            isinstance(a, int) and isinstance(b, (str, bytes, list, tuple)):
        seq, times = (a, b) if isinstance(b, int) else (b, a)
        if len(seq) * times > MAX_SEQUENCE_LEN:
            raise ValueError(f"sequence too large: {len(seq):,} x {times:,} items "
                             f"(limit {MAX_SEQUENCE_LEN:,})")
    return a * b


def _lshift(a, n):
    if isinstance(a, int) and isinstance(n, int) and a:
        _check_bits(a.bit_length() + n)
    return a << n


_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": _mul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod, "**=": _pow, "<<=": _lshift,
            ">>=": operator.irshift, "&=": operator.iand, "|=": operator.ior,
            "^=": operator.ixor, "@=": operator.imatmul}


def _inplacevar(op: str, target, value):
    return _INPLACE[op](target, value)


_CLOCK_READERS = frozenset({"now", "utcnow", "today"})
_MISSING = object()  # safer_getattr would answer None for a missing attribute; we raise instead


def _getattr(obj, name, default=_MISSING):
    if name in _CLOCK_READERS and (obj is date or obj is datetime or isinstance(obj, date)):
        # One clock for the whole platform: tests freeze it and replays must see the same instant.
        raise PermissionError(f'"{name}()" of datetime is not allowed in scripts: use now()')
    value = safer_getattr(obj, name, default)
    if value is _MISSING:
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    return value


class _LogPrint(PrintCollector):
    """print() in a script writes to the log: a server has no console anyone reads."""

    def write(self, text: str) -> None:
        self.txt.append(text)
        if text.endswith("\n"):
            log.info("script print: %s", "".join(self.txt).rstrip("\n"))
            self.txt.clear()


_GUARDS = {
    "_getattr_": _getattr, "_getitem_": operator.getitem, "_getiter_": iter,
    "_write_": full_write_guard, "_unpack_sequence_": guarded_unpack_sequence,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence, "_inplacevar_": _inplacevar,
    "_apply_": lambda func, *args, **kwargs: func(*args, **kwargs), "_print_": _LogPrint,
    "_pow_": _pow, "_mul_": _mul, "_lshift_": _lshift, "_loop_": None,
}


# --- builtins and helpers scripts see -------------------------------------------------------------

def _range(*args):
    values = range(*args)
    try:
        too_long = len(values) > MAX_SEQUENCE_LEN
    except OverflowError:
        too_long = True
    if too_long:
        raise ValueError(f"range too large: at most {MAX_SEQUENCE_LEN:,} items")
    return values


def now() -> datetime:
    """The platform clock's current instant (aware UTC)."""
    return clock.now()


def round2(x) -> Decimal:
    """An amount rounded half-up to 2 decimals, as money is (round() turns 2.675 into 2.67), as
    a Decimal like every amount in workflow data (a float is read by its shortest text)."""
    value = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def iso(value: date) -> str:
    """ISO-8601 text for a date or datetime; naive datetimes are taken as UTC."""
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
    return value.isoformat()


def _refused(name: str) -> Callable:
    def refuse(*args, **kwargs):
        raise PermissionError(f'"{name}" is not allowed in scripts')
    return refuse


# BaseException and its direct children are left out so that no script can raise past Spiff's
# `except Exception` (SystemExit would take a worker down); class statements are refused anyway.
_LEFT_OUT = {"__build_class__", "_getattr_", "setattr", "delattr", "BaseException", "SystemExit",
             "KeyboardInterrupt", "GeneratorExit"}
BUILTINS: dict[str, Any] = {k: v for k, v in safe_builtins.items() if k not in _LEFT_OUT}
BUILTINS.update({name: _refused(name) for name in REFUSED_NAMES})
BUILTINS.update(
    min=min, max=max, sum=sum, sorted=sorted, reversed=reversed, any=any, all=all, map=map,
    filter=filter, dict=dict, list=list, tuple=tuple, set=set, frozenset=frozenset,
    enumerate=enumerate, zip=zip, range=_range, pow=_pow,
    datetime=datetime, timedelta=timedelta, date=date, timezone=timezone,
    now=now, round2=round2, iso=iso, Decimal=Decimal)
