"""What the owners' in-browser editor asks while a process owner types.

`vocabulary` is what a process of this platform may name: the departments its lanes are, the
forms of the deployed versions, the messages it may wait for, the service operations it may
call (engine.integrations.CONTRACTS). `check` judges one field by validation's own rules, the
ones deploy applies (no second copy that could drift): a condition or a script by the sandbox
(validation.expressions.refusals), a timer by validation.timers, an SLA by validation.tasks;
with a preview of what the value means: an SLA's due time counted in the business calendar from
`now`, a timer's due time or cycle as SpiffWorkflow reads it (from the clock, as a timer that
starts now would count).
"""
from __future__ import annotations

import ast
from datetime import datetime

from sqlalchemy.orm import Session

from engine import integrations
from engine.business_time import BusinessCalendar, parse_duration
from engine.config import DEPARTMENTS
from engine.definitions import catalog, messages
from engine.definitions.validation.expressions import describe, refusals
from engine.definitions.validation.tasks import sla_error
from engine.definitions.validation.timers import reading, timer_error
from engine.errors import InvalidInput
from engine.runtime.task_rows import is_duration

TIMER_KINDS = ("timeDuration", "timeDate", "timeCycle")
KINDS = ("expression", "script", "sla") + TIMER_KINDS
MAX_TEXT = 20_000


def vocabulary(session: Session) -> dict:
    """{departments, forms, messages, operations} a process may name, each sorted.

    Forms and message names are those of the newest deployed versions (a draft adds its own);
    the result messages of the operations are messages too."""
    forms, names = set(), set(integrations.RESULT_MESSAGES)
    for row in catalog.all_latest(session):
        forms.update(row.forms)
        names.update(messages.message_name(f) for f in (row.messages or {}))
    operations = [{"operation": c.operation, "result": c.result, "description": c.description}
                  for c in sorted(integrations.CONTRACTS.values(), key=lambda c: c.operation)]
    return {"departments": list(DEPARTMENTS), "forms": sorted(forms),
            "messages": sorted(names), "operations": operations}


def check(kind: str, text: str, calendar: BusinessCalendar, now: datetime) -> dict:
    """{kind, ok, error, preview} for `text` as the field `kind` (one of KINDS).

    `error` is the message deploy would give (None when it would take the value); `preview`
    says what the value means (None when only the run can know, e.g. an expression over data).
    Raises InvalidInput for an unknown kind or a text that is not a string or too long.
    """
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise InvalidInput(f"text must be a string of at most {MAX_TEXT} characters",
                           field="text")
    if kind in ("expression", "script"):
        error, preview = _python_error(text, "eval" if kind == "expression" else "exec"), None
    elif kind == "sla":
        error = sla_error(text)
        preview = None if error else _sla_preview(text, calendar, now)
    else:
        error = timer_error(text, kind)
        preview = None if error else _timer_preview(text, kind)
    return {"kind": kind, "ok": error is None, "error": error, "preview": preview}


def _python_error(text: str, mode: str) -> str | None:
    if not text.strip():
        return "empty" if mode == "eval" else "script is empty"
    found = refusals(text, mode)
    if not found:
        return None
    return "; ".join(f"line {r.line} {describe(r)}" for r in found)


def _sla_preview(sla: str, calendar: BusinessCalendar, now: datetime) -> dict:
    if not is_duration(sla):
        return {"field": sla.strip()}
    days, rest = parse_duration(sla)
    return {"working_days": days, "working_minutes": int(rest.total_seconds() // 60),
            "from": now.isoformat(), "due_at": calendar.add(now, sla).isoformat(),
            "timezone": str(calendar.tz)}


def _timer_preview(text: str, kind: str) -> dict | None:
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None     # an expression over data: its value is known only when the timer starts
    read = reading(value, kind)
    if kind == "timeCycle":
        repetitions, start, interval = read
        return {"value": value, "repetitions": repetitions, "start": start.isoformat(),
                "interval_seconds": interval.total_seconds()}
    return {"value": value, "due_at": read.isoformat()}
