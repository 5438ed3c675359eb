"""Checks of timers: the sandbox evaluates their expression, SpiffWorkflow reads its value.

A timer's `timeDuration`, `timeDate` or `timeCycle` is a Python expression, evaluated by the
platform's sandbox like every expression, whose value SpiffWorkflow reads as ISO-8601 text when
the timer starts. In every executable process, each timer must:

* have one of the three parts, and a non-empty expression;
* pass the sandbox (`validation.expressions.refusals`);
* when the expression is a literal ("PT4H"), hold a value that SpiffWorkflow's own timer
  functions read for that kind of timer, as the runtime will: a duration, a date-time or a
  repeating interval. Timers count calendar time, so "P1W" is fine here although an SLA, which
  the business calendar counts in working days and hours, may not say P1W. Every date the timer
  would reach must lie within datetime's years 1 to 9999 (its due time, a cycle's second firing),
  every duration must pass `engine.business_time.timer_duration_error` (at most ten years, not
  negative) and every cycle `engine.business_time.timer_cycle_error` (no negative repetitions,
  no interval of no length: "R/PT0S" would fire without pause), as the runtime checks them
  before SpiffWorkflow reads them: so "P3000000D" and "P999999999Y" are refused here rather
  than failing (or counting months for minutes) when the timer starts.

An expression over data is judged only when the timer starts: a huge or negative duration
computed there is refused by the runtime (`engine.runtime.scripting`, with the same function)
before SpiffWorkflow reads it, and fails as a step of the command (the runtime's incident path).

Unquoted ISO text (PT4H, R3/PT1H, 2030-01-31) is reported with the quotes to add. That is a rule
of validation's own, not a copy of one of the runtime's: to the runtime PT4H is a name (a
NameError when the timer starts) and 2030-01-31 is arithmetic, both valid Python; only here can
we tell the author meant ISO text. Its pattern only recognises the shape of such text and so
takes more than SpiffWorkflow reads (the value checks above decide that, once quoted).
"""
from __future__ import annotations

import ast
import re
from contextlib import contextmanager
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as Timer

from engine import clock
from engine.business_time import timer_cycle_error, timer_duration_error
from engine.definitions.vocabulary import TIMERS, bpmn, is_bpmn, local_name

from .bpmn import owner
from .expressions import describe, foreign_hint, refusals
from .model import Document, Problem, is_executable

TIMER_RULE = "timer expression must be a quoted ISO-8601 string or an expression over data"
_DURATION = (r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?"
             r"(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")
_ISO_LIKE = re.compile(rf"^(R\d*/\S+|{_DURATION}|\d{{4}}-\d{{2}}-\d{{2}}\S*)$")
_EXAMPLES = {
    "timeDuration": 'a duration such as "PT4H", "P3D" or "P1W"',
    "timeDate": 'a date-time such as "2030-01-31T17:00:00+08:00"',
    "timeCycle": 'a repeating interval such as "R3/PT1H" or "R/2030-01-31T09:00:00+08:00/P1D"',
}


def check_timers(doc: Document) -> list[Problem]:
    """Every problem of the timers of a file's executable processes."""
    problems = []
    for process in doc.processes():
        if not is_executable(process):
            continue
        for definition in process.iter(bpmn("timerEventDefinition")):
            parts = [child for child in definition if is_bpmn(child, *TIMERS)]
            if not parts:
                problems.append(doc.problem(owner(definition), f"{TIMER_RULE}: the timer has "
                                            "no timeDuration, timeDate or timeCycle",
                                            line=definition.sourceline))
            for part in parts:
                message = timer_error(part.text, local_name(part))
                if message is not None:
                    problems.append(doc.problem(owner(part), message, line=part.sourceline))
    return problems


def timer_error(text: str | None, kind: str = "timeDuration") -> str | None:
    """Why a timer expression of `kind` (timeDuration, timeDate, timeCycle) would fail when the
    timer starts, or None when it would start (or depends on data, which only the run knows)."""
    text = (text or "").strip()
    if not text:
        return f"{TIMER_RULE}: the timer is empty"
    if _ISO_LIKE.match(text):
        return f"{TIMER_RULE}: {text} is not quoted, write \"{text}\""
    found = refusals(text, "eval")
    if found:
        return f"{TIMER_RULE}: {text!r} {describe(found[0])}{foreign_hint(text)}"
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # an expression over data: its value is known only when the timer starts
    if not isinstance(value, str):
        return (f"{TIMER_RULE}: {text} evaluates to {type(value).__name__} {value!r}, not to "
                "ISO-8601 text")
    reason = _unreadable(value, kind)
    if reason is None:
        return None
    return f"{TIMER_RULE}: {kind} {value!r} is not {_EXAMPLES[kind]}{reason}"


def reading(value: str, kind: str = "timeDuration"):
    """What SpiffWorkflow reads from the ISO text `value` of a timer of `kind`, as the runtime
    reads it: the due time of a duration started now or of a date, and (repetitions, start,
    interval) of a cycle. For a value `timer_error` accepts; raises ValueError otherwise."""
    if kind not in _READERS:
        raise ValueError(f"{kind!r} is not timeDuration, timeDate or timeCycle")
    try:
        return _READERS[kind](value)
    except (ValueError, OverflowError):
        raise
    except Exception as exc:  # SpiffWorkflow's parsers fail with bare Exception, AttributeError...
        raise ValueError(f"{value!r} cannot be read: {exc}") from None


def _unreadable(value: str, kind: str) -> str | None:
    """None when SpiffWorkflow reads `value` for a timer of `kind`, else the reason (may be "")."""
    try:
        _READERS[kind](value)
    except (ValueError, OverflowError) as exc:
        return f" ({exc})" if str(exc) else ""
    except Exception:  # SpiffWorkflow's parsers fail with bare Exception, AttributeError...
        return ""
    return None


def _read_duration(value: str) -> datetime:
    # As DurationTimerEventDefinition does when the timer starts (after the runtime's bound).
    _bounded(value)
    parsed = Timer.parse_iso_duration(value)
    start = clock.now()
    with _overflow_means("it would end after the year 9999"):
        return start + Timer.get_timedelta_from_start(parsed, start)


def _read_date(value: str) -> datetime:
    # As TimeDateEventDefinition does (comparing the result with now, so it must be a date-time),
    # then as engine.runtime.projection.timer_due reads the due time of a waiting timer.
    if not isinstance(Timer.parse_time_or_duration(value), datetime):
        raise ValueError("that is a duration; a timeDate needs a date-time")
    return Timer.get_datetime(value)


def _read_cycle(value: str) -> tuple:
    # As CycleTimerEventDefinition does, after the runtime's bounds on cycles
    # (business_time.timer_cycle_error: durations, repetitions, intervals of no length).
    reason = timer_cycle_error(value)
    if reason is not None:
        raise ValueError(reason)
    with _overflow_means("its dates would fall outside the years 1 to 9999"):
        cycles, start, duration = Timer.parse_iso_recurring_interval(value)
        # The timer's second firing is at start + duration (CycleTimerEventDefinition adds it
        # when the first fires): "R/2030-01-01T00:00:00Z/P3000000D" parses, then would fail there.
        start + duration
    return cycles, start, duration


def _bounded(duration: str) -> None:
    # SpiffWorkflow counts the months of a duration one by one, so a 10**9-year timer would hang
    # here as it would hang the timer: the runtime's bound comes first.
    reason = timer_duration_error(duration)
    if reason is not None:
        raise ValueError(reason)


@contextmanager
def _overflow_means(reason: str):
    # datetime's and timedelta's own words ("date value out of range", "Python int too large to
    # convert to C int") do not say what is wrong with the timer.
    try:
        yield
    except OverflowError:
        raise OverflowError(reason) from None


_READERS = {"timeDuration": _read_duration, "timeDate": _read_date, "timeCycle": _read_cycle}
