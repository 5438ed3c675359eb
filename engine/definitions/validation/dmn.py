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
  the warning names the rows and which one wins. Obvious means two rules with
  the same input entries (after trimming, '-' and empty both meaning "any"),
  or a catch-all rule (every input '-' or empty) next to other rules.
  Overlaps hidden behind different but intersecting conditions (`> 5` and
  `< 10`) are not detected.
"""
from __future__ import annotations

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
