"""Checks of message schemas: every message a process waits for has a usable JSON Schema.

Deliveries are checked against the schema of their message name
(engine.definitions.messages), so a process that catches a message (a catch event, a
boundary event, an event-gateway branch or a receive task) may be deployed only with
`messages/<message name>.json` for it: a message without one is reported at the element that
waits for it. Each schema file of the upload must be UTF-8 JSON, a valid JSON Schema whose
patterns RE2 compiles: the same rules as forms (`validation.tasks.FormChecker`), and its
`x-buffer-ttl`, if any, an ISO-8601 duration (how long an early message is kept).
"""
from __future__ import annotations

import json

from engine.definitions.dependencies import caught_messages
from engine.definitions.messages import TTL_KEY, buffer_ttl, file_name
from engine.definitions.vocabulary import bpmn

from .model import Bundle, Problem, is_executable
from .tasks import FormChecker

FOLDER = "messages"


def check_messages(bundle: Bundle, messages: dict[str, bytes]) -> list[Problem]:
    """One problem per caught message without a usable schema, and per unusable schema file."""
    schemas = _SchemaChecker(messages, kind="message schema", folder=FOLDER)
    problems, used = [], set()
    for doc in bundle.bpmn_documents():
        names = {m.get("id"): m.get("name") or m.get("id") for m in doc.root.iter(bpmn("message"))}
        for process in doc.processes():
            if not is_executable(process):
                continue
            for name, element_id in caught_messages(process, names).items():
                schema = file_name(name)
                used.add(schema)
                element = doc.ids().get(element_id)
                if schema not in messages:
                    problems.append(doc.problem(element, (
                        f"message {name!r} is caught here but has no schema: add "
                        f"{FOLDER}/{schema} (a JSON Schema of its payload), which every "
                        "delivery of it is checked against")))
                elif (reason := schemas.error(schema)) is not None:
                    problems.append(doc.problem(element, f"message {name!r}: {reason}"))
    for schema in sorted(set(messages) - used):
        reason = schemas.error(schema)
        if reason is not None:
            problems.append(Problem(f"{FOLDER}/{schema}", None, None, reason))
    return problems


class _SchemaChecker(FormChecker):
    """A form's checks, then the schema's time to live."""

    def _check(self, name: str) -> str | None:
        reason = super()._check(name)
        if reason is not None:
            return reason
        schema = json.loads(self.forms[name].decode("utf-8"))
        try:
            buffer_ttl(schema, "PT0S")
        except ValueError as exc:
            return f"message schema {name!r}: {TTL_KEY}: {exc}"
        return None
