"""Checks of DMN files: what SpiffWorkflow's DMN reader needs, and obvious table mistakes.

Kept modest on purpose. Per DMN file it checks:

* the DMN version: 1.1 to 1.3 are read (SpiffWorkflow ships their XSDs);
  later versions are reported as unsupported;
* the DMN namespace is the default one or bound to the prefix `dmn` (Spiff's
  reader looks elements up through that prefix);
* exactly one decision per file, holding a decision table (Spiff reads one
  decision per file and only decision tables);
* every decision, table, input, output, rule and entry has an id, and no XML
  comment sits where Spiff's reader would trip over it;
* the hit policy is one Spiff evaluates correctly (UNIQUE, FIRST, ANY,
  COLLECT without aggregation);
* tables have rules, each rule has one entry per input and per output;
* the Python of input expressions, input entries and output entries passes the
  platform's script sandbox, which evaluates them when the decision runs. An
  input entry is checked as the test SpiffWorkflow's DMN engine builds from it
  (`amount` and `> 100` make `amount > 100`, `"gold"` makes
  `(tier) == ("gold")`): the engine builds it here too, with a script engine
  that checks each test instead of evaluating it;
* for hit policy UNIQUE (the default), rules that obviously overlap, as a
  WARNING: SpiffWorkflow evaluates UNIQUE as first match (the first rule that
  matches wins, no error), and many tables rely on that with a catch-all last
  row (16 of SpiffWorkflow's own examples do), so the table runs and deploys;
  the warning names the rows and which one wins. Found are two rules with the
  same input entries (after trimming, '-' and empty both meaning "any"), a
  catch-all rule (every input '-' or empty) next to other rules, and rules
  whose entries are literals or comparisons with a number (`30`, `"gold"`,
  `>= 25`) that some input matches in every column (`30` and `>= 25`,
  `> 5` and `< 10`). Other entries (calls, `in [...]`, `!=`, expressions over
  several names) are taken as not overlapping: no warning rather than a false
  one.
"""
from __future__ import annotations

import ast
import math
import re
from types import SimpleNamespace

from lxml import etree
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

from engine.definitions.vocabulary import DMN_LATER_NS, local_name
from engine.runtime.scripting import PlatformScriptEngine

from .expressions import Refusal, describe, refusals
from .model import Document, Problem, dmn_children

NEEDS_ID = ("decision", "decisionTable", "input", "output", "rule", "inputEntry", "outputEntry")
UNSUPPORTED_HIT_POLICIES = ("PRIORITY", "OUTPUT ORDER", "RULE ORDER")


def check_dmn_document(doc: Document) -> list[Problem]:
    """Every problem of one DMN file (see the module docstring)."""
    root = doc.root
    namespace = etree.QName(root).namespace
    if namespace in DMN_LATER_NS:
        return [doc.problem(root, f"unsupported: DMN version {namespace}; SpiffWorkflow reads "
                                  "DMN 1.1 to 1.3 (save as DMN 1.3)", line=root.sourceline)]
    problems = []
    if root.nsmap.get(None) != namespace and root.nsmap.get("dmn") != namespace:
        problems.append(doc.problem(root, "DMN elements must use the default namespace or the "
                                          "prefix 'dmn:'; SpiffWorkflow finds them by that prefix",
                                    line=root.sourceline))
    problems += _check_ids_and_comments(doc)
    decisions = dmn_children(root, "decision")
    if not decisions:
        problems.append(doc.problem(root, "DMN file has no decision", line=root.sourceline))
    for extra in decisions[1:]:
        problems.append(doc.problem(extra, "unsupported: several decisions in one DMN file; "
                                           "SpiffWorkflow reads one decision per file"))
    for decision in decisions:
        tables = dmn_children(decision, "decisionTable")
        if not tables:
            problems.append(doc.problem(decision, "unsupported: decision without a decision "
                                                  "table; SpiffWorkflow runs decision tables only"))
        for table in tables:
            problems += _check_table(doc, table)
    return problems


def _check_ids_and_comments(doc: Document) -> list[Problem]:
    problems = []
    for element in doc.root.iter():
        if not isinstance(element.tag, str):
            parent = element.getparent()
            if parent is not None and local_name(parent) in ("decisionTable", "rule"):
                problems.append(doc.problem(parent, "remove the XML comment inside this "
                                                    f"{local_name(parent)}: SpiffWorkflow's DMN "
                                                    "reader fails on it",
                                            line=element.sourceline))
        elif local_name(element) in NEEDS_ID and not element.get("id"):
            problems.append(doc.problem(element, f"DMN {local_name(element)} has no id"))
    return problems


def _check_table(doc: Document, table) -> list[Problem]:
    problems = []
    policy = (table.get("hitPolicy") or "UNIQUE").upper()
    if policy in UNSUPPORTED_HIT_POLICIES:
        problems.append(doc.problem(table, f"unsupported: hit policy {policy}; SpiffWorkflow "
                                           "evaluates UNIQUE, FIRST, ANY and COLLECT"))
    if table.get("aggregation"):
        problems.append(doc.problem(table, f"unsupported: COLLECT aggregation "
                                           f"{table.get('aggregation')}; SpiffWorkflow ignores it"))
    for child in table:
        if isinstance(child.tag, str) and local_name(child) not in ("input", "output", "rule"):
            problems.append(doc.problem(table, f"unsupported: <{local_name(child)}> in a decision "
                                               "table; SpiffWorkflow reads only input, output "
                                               "and rule", line=child.sourceline))
    inputs, outputs = dmn_children(table, "input"), dmn_children(table, "output")
    rules = dmn_children(table, "rule")
    if not rules:
        problems.append(doc.problem(table, "decision table has no rules"))
    expressions = [_input_expression(doc, column, problems) for column in inputs]
    for rule in rules:
        problems += _check_rule(doc, rule, expressions, len(outputs))
    if policy == "UNIQUE":
        problems += _check_overlaps(doc, rules)
    return problems


def _check_rule(doc: Document, rule, expressions: list[str | None],
                n_outputs: int) -> list[Problem]:
    problems = []
    entries = dmn_children(rule, "inputEntry")
    if len(entries) != len(expressions):
        problems.append(doc.problem(rule, f"rule has {len(entries)} input entries but the table "
                                          f"has {len(expressions)} inputs"))
    for entry, expression in zip(entries, expressions):
        text = _raw_text(entry)
        # As SpiffWorkflow reads an entry: none, or exactly "-", matches anything.
        if expression is None or text is None or text == "-":
            continue
        reason = _input_entry_refusal(expression, text)
        if reason is not None:
            problems.append(doc.problem(rule, f"input entry {text!r}: {reason}",
                                        line=_text_line(entry)))
    results = dmn_children(rule, "outputEntry")
    if len(results) != n_outputs:
        problems.append(doc.problem(rule, f"rule has {len(results)} output entries but the table "
                                          f"has {n_outputs} outputs"))
    for entry in results:
        text = _raw_text(entry)
        for refusal in refusals(text, "eval") if text else ():
            problems.append(doc.problem(rule, f"output entry {text!r} {_verdict(refusal)}",
                                        line=_text_line(entry) + refusal.line - 1))
    return problems


def _verdict(refusal: Refusal) -> str:
    if refusal.syntax:
        return f"is not a valid Python expression: {refusal.reason}"
    return f"is refused by the script sandbox: {refusal.reason}"


def _input_expression(doc: Document, column, problems: list[Problem]) -> str | None:
    """The input's expression if its rules' entries can be checked against it, else None;
    a refused expression is added to `problems`."""
    found = dmn_children(column, "inputExpression")
    texts = dmn_children(found[-1], "text") if found else []
    text = texts[0].text if texts else None
    if not text:
        return None  # SpiffWorkflow then reads the value by the input's label, from task data
    found = refusals(text, "eval")
    if found:
        problems.append(doc.problem(column, f"input expression {text!r} {_verdict(found[0])}",
                                    line=texts[0].sourceline + found[0].line - 1))
        return None
    return text


class _Refused(Exception):
    def __init__(self, expression: str, refusal: Refusal):
        super().__init__(expression)
        self.expression, self.refusal = expression, refusal


class _CheckingScriptEngine(PlatformScriptEngine):
    """The platform's script engine, except that it checks each expression it is handed
    instead of evaluating it (and finds every one true)."""

    def evaluate(self, task, expression, external_context=None):
        found = refusals(expression, "eval")
        if found:
            raise _Refused(expression, found[0])
        return True


_CHECKING_TASK = SimpleNamespace(workflow=SimpleNamespace(script_engine=_CheckingScriptEngine()))


def _input_entry_refusal(expression: str, entry: str) -> str | None:
    """Why the test SpiffWorkflow builds from an input's expression and an entry would be
    refused when the decision runs, or None."""
    try:
        DMNEngine(None).evaluate(expression, entry, _CHECKING_TASK)
    except _Refused as refused:
        return f"the rule's test {refused.expression.strip()!r} {describe(refused.refusal)}"
    except SyntaxError as exc:  # the engine's own parse of the entry, to choose how to combine
        return f"is not valid Python ({exc.msg})"
    return None


def _raw_text(entry) -> str | None:
    # SpiffWorkflow keeps the last <text> child, as is (no stripping).
    texts = dmn_children(entry, "text")
    return texts[-1].text if texts else None


def _text_line(entry) -> int:
    texts = dmn_children(entry, "text")
    return texts[-1].sourceline if texts else entry.sourceline


def _entry_text(entry) -> str:
    texts = dmn_children(entry, "text")
    return (texts[0].text or "") if texts else ""


def _any(text: str) -> str | None:
    text = text.strip()
    return None if text in ("", "-") else text


def _check_overlaps(doc: Document, rules: list) -> list[Problem]:
    """Warnings for the rules of a UNIQUE table that obviously overlap (see the docstring)."""
    warnings = _same_or_catch_all(doc, rules)
    reported = {w.element_id for w in warnings}
    regions = [[_region(_entry_text(e)) for e in dmn_children(rule, "inputEntry")]
               for rule in rules]
    for later in range(1, len(rules)):
        if rules[later].get("id") in reported:
            continue
        earlier = [n for n in range(later) if rules[n].get("id") not in reported
                   and len(regions[n]) == len(regions[later])
                   and all(_intersect(a, b) for a, b in zip(regions[n], regions[later]))]
        if earlier:
            shown = ", ".join(_row(rules, n + 1) for n in earlier)
            warnings.append(doc.warning(
                rules[later], f"{_row(rules, later + 1)} overlaps {shown}: some input matches "
                              "both, and hit policy UNIQUE allows one match; SpiffWorkflow "
                              "evaluates UNIQUE as first match, so for those inputs the rule "
                              "above wins. Hit policy FIRST says so explicitly, or narrow "
                              "the entries"))
    return warnings


_COMPARISON = re.compile(r"^(<=|>=|<|>|==)\s*(.+)$", re.S)
_ANY = ("any",)


def _region(text: str):
    """What an input entry matches, where it is simple enough to tell: _ANY; ("eq", value);
    ("range", low, low_included, high, high_included); None when it cannot be told."""
    text = text.strip()
    if text in ("", "-"):
        return _ANY
    found = _COMPARISON.match(text)
    operator, operand = found.groups() if found else ("==", text)
    try:
        value = ast.literal_eval(operand.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if operator == "==":
        return ("eq", value) if isinstance(value, (str, int, float, bool)) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if operator in ("<", "<="):
        return ("range", -math.inf, False, value, operator == "<=")
    return ("range", value, operator == ">=", math.inf, False)


def _intersect(a, b) -> bool:
    """Can one input match both regions? Unknown regions are taken as disjoint."""
    if a is None or b is None:
        return False
    if a == _ANY or b == _ANY:
        return True
    if a[0] == "eq" and b[0] == "eq":
        return _kind(a[1]) == _kind(b[1]) and a[1] == b[1]
    if a[0] == "range" and b[0] == "range":
        # Of two equal bounds the excluded one is the narrower.
        low, low_in = max((a[1], a[2]), (b[1], b[2]), key=lambda bound: (bound[0], not bound[1]))
        high, high_in = min((a[3], a[4]), (b[3], b[4]), key=lambda bound: (bound[0], bound[1]))
        return low < high or (low == high and low_in and high_in)
    value, bounds = (a[1], b) if a[0] == "eq" else (b[1], a)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    _, low, low_in, high, high_in = bounds
    return (low < value or (low == value and low_in)) and \
        (value < high or (value == high and high_in))


def _kind(value) -> str:
    # 1 and 1.0 are one number to the test Spiff builds (==); True is not a number there.
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _same_or_catch_all(doc: Document, rules: list) -> list[Problem]:
    warnings, first_with = [], {}
    keys = [tuple(_any(_entry_text(e)) for e in dmn_children(rule, "inputEntry"))
            for rule in rules]
    for row, (rule, key) in enumerate(zip(rules, keys), start=1):
        if key in first_with:
            earlier = first_with[key]
            warnings.append(doc.warning(
                rule, f"{_row(rules, row)} has the same input entries as "
                      f"{_row(rules, earlier)}: hit policy UNIQUE allows one match, and "
                      f"SpiffWorkflow takes the first, so {_row(rules, earlier)} wins and this "
                      "rule never applies; change its entries or remove it"))
            continue
        first_with[key] = row
        if len(rules) > 1 and all(value is None for value in key):
            others = [n for n in range(1, len(rules) + 1) if n != row]
            later = [n for n in others if n > row]
            consequence = (f"the rules after it ({_rows(rules, later)}) never apply" if later
                           else "the rules above it win and this one applies when none of "
                                "them matches")
            warnings.append(doc.warning(
                rule, f"{_row(rules, row)} matches every input ('-' everywhere) and so overlaps "
                      f"{_rows(rules, others)} under hit policy UNIQUE; SpiffWorkflow evaluates "
                      f"UNIQUE as first match: {consequence}. Hit policy FIRST says so "
                      "explicitly"))
    return warnings


def _row(rules: list, row: int) -> str:
    """A rule as a modeler shows it: its row number (from 1) and its id."""
    return f"rule {row} ({rules[row - 1].get('id')})"


def _rows(rules: list, rows: list[int]) -> str:
    return ", ".join(_row(rules, row) for row in rows)
