"""Checks of the Python that BPMN files carry, asked of the sandbox that will run it.

SpiffWorkflow evaluates conditions and expressions and runs scripts only when a task runs, so a
mistake surfaces as a failed task in production. Whether a piece of Python may run is decided in
one place, the platform's sandbox: `engine.runtime.scripting.check_script` and
`check_expression` compile with the runtime's own policy (Python syntax, and no import, no `_`
names or attributes, no try, with or class statements, no eval, open, getattr...) and never run
anything. `refusals` asks it and turns its answer into lines; in every executable process this
module asks about:

* conditions (sequence flow `conditionExpression`, conditional events, loop and completion
  conditions), multi-instance `loopCardinality`, service task parameters and message payloads,
  all evaluated as expressions;
* scripts (script tasks, `spiffworkflow:preScript` / `postScript`), run as statements, each
  refusal reported at the file line of the refused statement.

Only the wording is ours: the column of a syntax error, and a hint when a condition is Camunda's
JUEL/FEEL. Timers (`validation.timers`) and DMN entries (`validation.dmn`) use `refusals` too.
"""
from __future__ import annotations

import ast
import re
from typing import NamedTuple

from engine.definitions.vocabulary import (
    CONDITIONS,
    SCRIPT_EXTENSIONS,
    bpmn,
    is_bpmn,
    local_name,
    spiff,
)
from engine.runtime import scripting

from .bpmn import owner
from .model import Document, Problem, is_executable

_FOREIGN = ("${", "#{")
_SCRIPT_TAGS = tuple(spiff(name) for name in SCRIPT_EXTENSIONS)
# Other expressions the runtime evaluates in the sandbox, by tag: what to call them.
_EXPRESSIONS = {bpmn("loopCardinality"): "loop cardinality",
                spiff("messagePayload"): "message payload"}
_PARAMETER = spiff("parameter")
# The shape of the sandbox's messages (RestrictedPython's): "Line 2: ...; Line 5: ...".
_SANDBOX_ERROR = re.compile(r"Line (\d+|None): (.*?)(?=; Line (?:\d+|None): |$)", re.S)


class Refusal(NamedTuple):
    """One reason the sandbox refuses a piece of Python, at `line` of its text (from 1)."""

    line: int
    reason: str
    syntax: bool  # a syntax error rather than the platform's policy


def refusals(text: str, mode: str) -> list[Refusal]:
    """Why the sandbox would refuse `text`, one Refusal per refused line; [] when it would run.

    `mode` is "exec" for a script, "eval" for an expression (which the sandbox strips first;
    lines are still counted in `text` as given).
    """
    source = text if mode == "exec" else text.strip()
    try:
        error = (scripting.check_script if mode == "exec" else scripting.check_expression)(text)
    except (RecursionError, MemoryError, ValueError) as exc:  # absurdly nested input
        return [Refusal(1, f"cannot be compiled ({type(exc).__name__})", True)]
    if error is None:
        return []
    shift = text[:len(text) - len(text.lstrip())].count("\n") if mode == "eval" else 0
    syntax = syntax_error(source, mode)
    if syntax is not None:
        # The sandbox's first step is this same parse; asking Python again keeps the column.
        return [Refusal((syntax.lineno or 1) + shift, _describe(syntax), True)]
    by_line: dict[int, list[str]] = {}
    for line, reason in _SANDBOX_ERROR.findall(error):
        by_line.setdefault((int(line) if line.isdigit() else 1) + shift, []).append(reason.strip())
    if not by_line:  # a message of another shape: report it whole
        return [Refusal(1 + shift, error, False)]
    return [Refusal(line, "; ".join(reasons), False) for line, reasons in sorted(by_line.items())]


def check_expressions(doc: Document) -> list[Problem]:
    """The sandbox's refusals of the conditions, expressions and scripts of a file's
    executable processes."""
    problems = []
    for process in doc.processes():
        if not is_executable(process):
            continue
        for element in process.iter():
            if is_bpmn(element, *CONDITIONS):
                problems += _check_expression(doc, element, "condition", element.text)
            elif element.tag in _EXPRESSIONS:
                problems += _check_expression(doc, element, _EXPRESSIONS[element.tag],
                                              element.text)
            elif element.tag == _PARAMETER and element.get("value") is not None:
                what = f"service task parameter {element.get('id')!r}"
                problems += _check_expression(doc, element, what, element.get("value"),
                                              empty_too=True)
            elif is_bpmn(element, "script") or element.tag in _SCRIPT_TAGS:
                problems += _check_script(doc, element)
    return problems


def syntax_error(text: str, mode: str) -> SyntaxError | None:
    """The SyntaxError `ast.parse` finds in `text`, or None when it parses."""
    try:
        ast.parse(text, mode=mode)
    except SyntaxError as exc:
        return exc
    except (ValueError, RecursionError, MemoryError) as exc:
        return SyntaxError(f"cannot be parsed ({type(exc).__name__})")
    return None


def _describe(error: SyntaxError) -> str:
    column = f", column {error.offset}" if error.offset else ""
    return f"{error.msg}{column}"


def foreign_hint(text: str) -> str:
    """A hint to append when `text` looks like Camunda's JUEL/FEEL, else ""."""
    if any(marker in text for marker in _FOREIGN):
        return " (this looks like a Camunda JUEL/FEEL expression; write Python, e.g. amount > 100)"
    return ""


def describe(refusal: Refusal) -> str:
    """'is not valid Python (...)' or 'is refused by the script sandbox (...)'."""
    if refusal.syntax:
        return f"is not valid Python ({refusal.reason})"
    return f"is refused by the script sandbox ({refusal.reason})"


def _check_expression(doc: Document, element, what: str, text: str | None,
                      empty_too: bool = False) -> list[Problem]:
    text = text or ""
    if not text.strip():
        # An empty condition is no condition (the gateway check reports a missing one); an
        # empty parameter is still evaluated, and fails.
        return [doc.problem(owner(element), f"{what} is empty", line=element.sourceline)] \
            if empty_too else []
    hint = foreign_hint(text)
    problems = []
    for refusal in refusals(text, "eval"):
        if refusal.syntax:
            message = f"is not a valid Python expression: {refusal.reason}"
        else:
            message = f"is refused by the script sandbox: {refusal.reason}"
        problems.append(doc.problem(owner(element), f"{what} {text.strip()!r} {message}{hint}",
                                    line=element.sourceline + refusal.line - 1))
    return problems


def _check_script(doc: Document, element) -> list[Problem]:
    text = element.text or ""
    what = "script" if is_bpmn(element) else f"spiffworkflow:{local_name(element)}"
    if not text.strip():
        if is_bpmn(element):
            return [doc.problem(owner(element), "script task has an empty script",
                                line=element.sourceline)]
        return []
    problems = []
    for refusal in refusals(text, "exec"):
        if refusal.syntax:
            message = f"has a syntax error on its line {refusal.line}"
        else:
            message = f"is refused by the script sandbox on its line {refusal.line}"
        problems.append(doc.problem(owner(element), f"{what} {message}: {refusal.reason}",
                                    line=element.sourceline + refusal.line - 1))
    return problems
