"""Syntax checks of the Python that BPMN files carry, before anything runs it.

SpiffWorkflow evaluates conditions, timer expressions and scripts only when a
task runs, so a typo surfaces as a failed task in production. This module
parses them with `ast.parse` (never compiles or runs them) in every executable
process:

* conditions (sequence flow `conditionExpression`, conditional events,
  loop and completion conditions), parsed like `eval` parses them;
* scripts (script tasks, `spiffworkflow:preScript` / `postScript`), parsed like
  `exec` parses them, with the file line of the error;
* timer expressions (`timeDuration`, `timeDate`, `timeCycle`): in Spiff they are
  Python too, so an ISO-8601 literal must be quoted ("PT4H"); an unquoted PT4H
  is a NameError at run time and is reported here.
"""
from __future__ import annotations

import ast
import re

from engine.definitions.vocabulary import (
    CONDITIONS,
    SCRIPT_EXTENSIONS,
    TIMERS,
    is_bpmn,
    local_name,
    spiff,
)

from .bpmn import owner
from .model import Document, Problem, is_executable

TIMER_RULE = "timer expression must be a quoted ISO-8601 string or an expression over data"
_DURATION = (r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?"
             r"(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")
_ISO_LIKE = re.compile(rf"^(R\d*/\S+|{_DURATION}|\d{{4}}-\d{{2}}-\d{{2}}\S*)$")
_FOREIGN = ("${", "#{")
_SCRIPT_TAGS = tuple(spiff(name) for name in SCRIPT_EXTENSIONS)


def check_expressions(doc: Document) -> list[Problem]:
    """Syntax problems of the conditions, scripts and timers of a file's executable processes."""
    problems = []
    for process in doc.processes():
        if not is_executable(process):
            continue
        for element in process.iter():
            if is_bpmn(element, *CONDITIONS):
                problems += _check_condition(doc, element)
            elif is_bpmn(element, "script") or element.tag in _SCRIPT_TAGS:
                problems += _check_script(doc, element)
            elif is_bpmn(element, *TIMERS):
                problems += _check_timer(doc, element)
            elif is_bpmn(element, "timerEventDefinition") and not any(
                    is_bpmn(child, *TIMERS) for child in element):
                problems.append(doc.problem(owner(element), f"{TIMER_RULE}: the timer has no "
                                            "timeDuration, timeDate or timeCycle",
                                            line=element.sourceline))
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


def _check_condition(doc: Document, element) -> list[Problem]:
    text = (element.text or "").strip()
    if not text:
        return []  # an empty condition is no condition; the gateway check reports it
    error = syntax_error(text, "eval")
    if error is None:
        return []
    hint = ""
    if any(marker in text for marker in _FOREIGN):
        hint = " (this looks like a Camunda JUEL/FEEL expression; write Python, e.g. amount > 100)"
    return [doc.problem(owner(element), f"condition {text!r} is not a valid Python expression: "
                                        f"{_describe(error)}{hint}", line=element.sourceline)]


def _check_script(doc: Document, element) -> list[Problem]:
    text = element.text or ""
    what = "script" if is_bpmn(element) else f"spiffworkflow:{local_name(element)}"
    if not text.strip():
        if is_bpmn(element):
            return [doc.problem(owner(element), "script task has an empty script",
                                line=element.sourceline)]
        return []
    error = syntax_error(text, "exec")
    if error is None:
        return []
    line = element.sourceline + (error.lineno or 1) - 1
    return [doc.problem(owner(element), f"{what} has a syntax error on its line "
                                        f"{error.lineno or 1}: {_describe(error)}", line=line)]


def timer_error(text: str | None) -> str | None:
    """Why a timer expression would fail at run time, or None when it parses as Python."""
    text = (text or "").strip()
    if not text:
        return f"{TIMER_RULE}: the timer is empty"
    if _ISO_LIKE.match(text):
        return f"{TIMER_RULE}: {text} is not quoted, write \"{text}\""
    error = syntax_error(text, "eval")
    if error is not None:
        return f"{TIMER_RULE}: {text!r} is not valid Python ({_describe(error)})"
    return None


def _check_timer(doc: Document, element) -> list[Problem]:
    message = timer_error(element.text)
    if message is None:
        return []
    return [doc.problem(owner(element), message, line=element.sourceline)]
