"""The one clock of the platform: timezone-aware UTC `now()`.

Tests freeze and advance it; the runtime pins it for the length of one unit of work so that
everything a verb computes (timer due times, task timestamps, audit times) uses the same instant,
which is what makes a replay reproduce the recorded state exactly.
"""
from __future__ import annotations

import contextlib
import contextvars
from datetime import datetime, timedelta, timezone

_pinned: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("clock_pinned", default=None)
_frozen: datetime | None = None


def now() -> datetime:
    """The current instant (UTC): pinned by a unit of work, frozen by a test, or the real time."""
    pinned = _pinned.get()
    if pinned is not None:
        return pinned
    if _frozen is not None:
        return _frozen
    return datetime.now(timezone.utc)


@contextlib.contextmanager
def pinned(at: datetime):
    """Make `now()` return `at` inside the block (per thread/task)."""
    token = _pinned.set(at)
    try:
        yield at
    finally:
        _pinned.reset(token)


def freeze(at: datetime | None) -> None:
    """Freeze the clock at `at` for the whole process (tests, benchmarks); None unfreezes."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("freeze() needs a timezone-aware datetime")
    _frozen = at


def frozen() -> datetime | None:
    """The instant the clock is frozen at, or None when it runs real time."""
    return _frozen


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward; returns the new instant."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock")
    _frozen = _frozen + delta
    return _frozen


def parse(value: str) -> datetime:
    """An ISO-8601 timestamp as an aware UTC datetime (naive values are taken as UTC). Raises
    ValueError, also for a time that in UTC leaves the years 1-9999 (9999-12-31T23:59:59-14:00
    would be an OverflowError, which callers refusing bad input do not expect)."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value} is beyond the years 1 to 9999 in UTC") from None
