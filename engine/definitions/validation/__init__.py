"""Validation of an uploaded bundle (BPMN and DMN files plus JSON Schema forms).

This module owns the answer to "may this upload be deployed?": `validate_bundle`
reports every problem at once, as `Problem`s naming the file, line and element
id, and never raises. It runs, in order:

1. the hardened parse of each file (`engine.definitions.xmlsafe`), then recognises BPMN
   and DMN files by their root namespace, whatever prefix they use;
2. XSD validation against the schemas shipped with SpiffWorkflow;
3. our own structural checks, which catch what SpiffWorkflow reports badly or
   not at all: references and gateways (`validation.bpmn`), conditions, scripts
   and expressions (`validation.expressions`) and timers (`validation.timers`),
   lanes, forms and SLAs of user tasks (`validation.tasks`), DMN tables
   (`validation.dmn`), processes that call themselves (`validation.calls`), messages
   caught without a usable JSON Schema of their payload (`validation.messages`);
4. only when all of that passes, a full load with SpiffWorkflow's own parser
   (`validation.spiff`), so its messages never hide ours.

Where the runtime has a rule, validation asks it rather than restating it: the
script sandbox (`engine.runtime.scripting`) judges every piece of Python,
SpiffWorkflow's timer functions judge literal timer values, and the business
calendar's parser (`engine.business_time.parse_duration`) judges SLA durations.
So what validates runs, and what would fail at run time is reported here.

Vendor extensions (Camunda, Signavio, bpmn.io) are ignored; constructs
SpiffWorkflow cannot run are reported as 'unsupported: ...'. Processes marked
isExecutable="false" (other parties' pools) are allowed and not checked.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

from lxml import etree

from engine.config import DEPARTMENTS
from engine.definitions.bundle import DMN_SUFFIX
from engine.definitions.vocabulary import BPMN_NS, DMN_LATER_NS, DMN_SUPPORTED_NS
from engine.definitions.xmlsafe import XmlRefused, parse_xml

from .bpmn import check_bpmn_document
from .calls import check_call_cycles
from .dmn import check_dmn_document
from .expressions import check_expressions
from .messages import check_messages
from .model import Bundle, Document, Problem, errors, is_executable
from .signals import check_signals
from .spiff import library_problems, xsd_problems
from .tasks import FormChecker, check_user_tasks
from .timers import check_timers

__all__ = ["DEPARTMENTS", "Problem", "errors", "validate_bundle", "executable_process_ids"]


def validate_bundle(files: dict[str, bytes], forms: dict[str, bytes],
                    departments: Iterable[str] = DEPARTMENTS,
                    known_processes: Iterable[str] = (),
                    messages: dict[str, bytes] | None = None) -> list[Problem]:
    """Every problem of an upload, sorted by file and line; [] means it may be deployed.

    `files` maps file names to BPMN or DMN bytes, `forms` maps names of files in
    the upload's forms/ folder to JSON bytes. `known_processes` are process ids
    already deployed, which call activities may call; given as a mapping, each id
    maps to the ids that deployed process calls, so cycles through deployed
    processes are found too (given as ids, a deployed process calls nothing).
    `messages` maps names of files in the upload's messages/ folder to JSON Schemas; every
    message an executable process catches must have one (None: messages are not checked,
    for callers that check a fragment; deployment always passes them, engine.definitions.plan).
    Never raises: an unexpected error in a check or in the library becomes a Problem.
    """
    try:
        return _validate(files, forms, departments, known_processes, messages)
    except Exception as exc:  # bad arguments; each check is guarded on its own
        return [Problem("", None, None, f"internal error while validating: "
                                        f"{type(exc).__name__}: {exc}")]


def _validate(files, forms, departments, known_processes, messages) -> list[Problem]:
    problems: list[Problem] = []
    documents = []
    for filename, data in files.items():
        document = _guarded(problems, filename, _load, filename, data)
        if isinstance(document, Document):
            documents.append(document)
        elif isinstance(document, Problem):
            problems.append(document)
    deployed_calls = ({pid: frozenset(called) for pid, called in known_processes.items()}
                      if isinstance(known_processes, Mapping) else {})
    bundle = Bundle(documents, dict(forms or {}), frozenset(departments),
                    frozenset(known_processes), deployed_calls)
    problems += _guarded(problems, "", bundle.index) or []
    problems += _guarded(problems, "", check_call_cycles, bundle) or []
    forms_checker = FormChecker(bundle.forms)
    for document in documents:
        problems += _guarded(problems, document.filename, xsd_problems, document) or []
        problems += _check_document(problems, document, bundle, forms_checker)
    if messages is not None:
        problems += _guarded(problems, "", check_messages, bundle, messages) or []
    problems += _guarded(problems, "", check_signals, bundle) or []
    problems += _check_something_runs(bundle)
    if not errors(problems):     # warnings do not hide the library's own verdict
        problems += _guarded(problems, "", library_problems, bundle) or []
    return sorted(set(problems), key=_order)


def executable_process_ids(files: dict[str, bytes]) -> list[str]:
    """Ids of the processes SpiffWorkflow would run, in file order; unreadable files are skipped."""
    ids = []
    for filename, data in files.items():
        try:
            tree = parse_xml(data, filename)
        except XmlRefused:
            continue
        for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
            if is_executable(process) and process.get("id"):
                ids.append(process.get("id"))
    return ids


def _load(filename: str, data: bytes) -> Document | Problem:
    try:
        tree = parse_xml(data, filename)
    except XmlRefused as refused:
        return Problem(filename, refused.line, None, refused.message)
    root = tree.getroot()
    namespace = etree.QName(root).namespace
    if namespace == BPMN_NS and etree.QName(root).localname == "definitions":
        kind = "bpmn"
    elif namespace in DMN_SUPPORTED_NS + DMN_LATER_NS:
        kind = "dmn"
    else:
        return Problem(filename, root.sourceline, root.get("id"),
                       f"not a BPMN 2.0 or DMN file: root element is {root.tag!r}")
    # Deployment picks the loader by file name (catalog.parser_for: name.endswith(DMN_SUFFIX)),
    # so the name must tell the truth by that same test: "policy.DMN" would be loaded as BPMN.
    if (kind == "dmn") != filename.endswith(DMN_SUFFIX):
        expected = "*.dmn" if kind == "dmn" else "*.bpmn"
        return Problem(filename, root.sourceline, root.get("id"),
                       f"file holds {kind.upper()} but its name does not say so; "
                       f"name it {expected}")
    return Document(filename, tree, kind)


def _check_document(problems: list[Problem], doc: Document, bundle: Bundle,
                    forms: FormChecker) -> list[Problem]:
    if doc.kind == "dmn":
        return _guarded(problems, doc.filename, check_dmn_document, doc) or []
    found = []
    for check, args in ((check_bpmn_document, (doc, bundle)), (check_expressions, (doc,)),
                        (check_timers, (doc,)), (check_user_tasks, (doc, bundle, forms))):
        found += _guarded(problems, doc.filename, check, *args) or []
    return found


def _check_something_runs(bundle: Bundle) -> list[Problem]:
    bpmn_documents = bundle.bpmn_documents()
    if not bpmn_documents or any(True for _ in bundle.executable_processes()):
        return []
    first = bpmn_documents[0]
    return [Problem(first.filename, None, None, 'no executable process in the upload: mark the '
                                                'process to run with isExecutable="true"')]


def _guarded(problems: list[Problem], filename: str, check: Callable, *args):
    """Run one check; an unexpected exception becomes a Problem instead of a crash."""
    try:
        return check(*args)
    except Exception as exc:  # the contract: validation reports, it never raises
        problems.append(Problem(filename, None, None, f"internal error while checking "
                                                      f"({check.__name__}): "
                                                      f"{type(exc).__name__}: {exc}"))
        return None


def _order(problem: Problem):
    return (problem.file, problem.line or 0, problem.element_id or "", problem.message)
