"""Message schemas: one JSON Schema per message name, for the payloads processes wait for.

A bundle's `messages/<name>.json` is the schema of message `<name>`'s payload (the courier's
`pickup_booked`, the provider's `refund_result`...). Validation requires one for every message
a process of the upload catches (engine.definitions.validation.messages); deployment stores,
with each version, the schemas of the messages it and the processes it calls wait for; and
`check_payload` holds a delivered payload to the schema of the version each waiting instance
runs, before anything is applied, so a payload the process could not use (slot times that are
no date-times) is a 422 naming the field instead of a failure inside SpiffWorkflow.

Payloads are checked as forms are (engine.definitions.forms: the same validator, RE2 patterns,
the same field names), with one more assertion: `"format": "date-time"` must be ISO-8601 text
with a UTC offset that SpiffWorkflow's timer reader takes (`TimerEventDefinition.get_datetime`,
which the runtime uses for a timeDate such as the pickup slot's end); a time without offset
would be read in the server's zone.

A schema may say how long a message that arrives before its process waits for it is kept
(`"x-buffer-ttl": "P2D"`, engine/message_buffer.py); `buffer_ttl` reads it, validation refuses
one that is no duration.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from jsonschema import FormatChecker
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine import business_time
from engine.definitions import forms
from engine.errors import InvalidInput

SUFFIX = ".json"
TTL_KEY = "x-buffer-ttl"

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=(ValueError, TypeError, OverflowError))
def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True  # format speaks of strings only; "type" says what else is refused
    if datetime.fromisoformat(value).tzinfo is None:
        raise ValueError("no UTC offset")
    TimerEventDefinition.get_datetime(value)
    return True


def file_name(message: str) -> str:
    """The name of message `message`'s schema file in a bundle's messages/ folder."""
    return message + SUFFIX


def message_name(filename: str) -> str:
    return filename[:-len(SUFFIX)] if filename.endswith(SUFFIX) else filename


def parsed(stored: dict[str, str] | None) -> dict[str, dict]:
    """Stored schemas (message name -> JSON text) as JSON Schemas."""
    return {name: json.loads(text) for name, text in (stored or {}).items()}


def check_payload(schemas: dict[str, dict], name: str, payload: dict) -> None:
    """Raise InvalidInput naming the payload's field (`payload.slot_end`) when `payload` does
    not satisfy the schema of message `name` in `schemas` (message name -> JSON Schema).

    A version deployed before message schemas existed has none: its payloads pass unchecked.
    """
    schema = schemas.get(name)
    if schema is None:
        return
    try:
        forms.validate(schema, payload, formats=FORMATS)
    except InvalidInput as refused:
        field = f"payload.{refused.field}" if refused.field else "payload"
        reason = refused.message
        if refused.field and reason.startswith(f"{refused.field}: "):
            reason = reason[len(refused.field) + 2:]
        details = [dict(d, field=f"payload.{d['field']}" if d.get("field") else "payload")
                   for d in refused.details or [] if isinstance(d, dict)] or None
        raise InvalidInput(f"message '{name}': {field}: {reason}", field=field,
                           details=details) from None


def buffer_ttl(schema: dict | None, default: str) -> timedelta:
    """How long an early message of `schema` is kept: its `x-buffer-ttl`, else `default`, an
    ISO-8601 duration ('P3D', 'PT12H', 'PT0S': never) in calendar time (a message keeps over
    weekends too). Raises ValueError naming the text."""
    text = (schema or {}).get(TTL_KEY) or default
    if not isinstance(text, str):
        raise ValueError(f"{TTL_KEY} must be an ISO-8601 duration such as 'P2D', not {text!r}")
    days, time = business_time.parse_duration(text)
    return timedelta(days=days) + time
