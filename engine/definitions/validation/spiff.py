"""The checks SpiffWorkflow itself performs: XSD validation and a full parse.

`xsd_problems` validates one file against the XSD SpiffWorkflow ships (BPMN 2.0
with the spiffworkflow extensions, or the DMN 1.1-1.3 schemas) and reports
every error in libxml2's log with its line, where Spiff's own validator stops
at the last one.

`library_problems` runs the real parser over the whole upload, the way the
engine will load it (`SpiffBpmnParser(validator=VALIDATOR)`, `get_spec` and
`get_subprocess_specs` for every executable process), and turns each
`ValidationException`, or any other exception, into a Problem.

A shared lock guards both: the compiled schemas and their error logs are
module-level objects, and lxml schemas must not validate in two threads at once.
"""
from __future__ import annotations

import re
import threading

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine.definitions.vocabulary import BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, SPIFF_NS

from .model import Bundle, Document, Problem

_LOCK = threading.Lock()
_DMN_VALIDATORS: dict[str, BpmnValidator] = {}
_SHORT_NAMES = tuple((f"{{{namespace}}}", prefix) for namespace, prefix in (
    (BPMN_NS, "bpmn:"), (BPMNDI_NS, "bpmndi:"), (DC_NS, "dc:"), (DI_NS, "di:"),
    (SPIFF_NS, "spiffworkflow:")))
_NOT_FOUND = re.compile(r"The process '([^']*)' was not found")


def shorten(message: str) -> str:
    """Replace Clark-notation namespaces that libxml2 puts in messages with prefixes."""
    for long, short in _SHORT_NAMES:
        message = message.replace(long, short)
    return re.sub(r"\{[^}]*\}", "", message).strip()


def _dmn_validator(namespace: str) -> BpmnValidator | None:
    if namespace not in DMN_SCHEMAS:
        return None
    if namespace not in _DMN_VALIDATORS:
        _DMN_VALIDATORS[namespace] = BpmnValidator(DMN_SCHEMAS[namespace])
    return _DMN_VALIDATORS[namespace]


def _element_at(doc: Document, entry) -> etree._Element | None:
    """The element an XSD error log entry points at: by its path, else by its line."""
    try:
        namespaces = {k: v for k, v in doc.root.nsmap.items() if k}
        found = doc.tree.xpath(entry.path, namespaces=namespaces) if entry.path else []
        if found and isinstance(found[0], etree._Element):
            return found[0]
    except (etree.XPathError, TypeError, ValueError):
        pass
    on_line = [el for el in doc.root.iter() if el.sourceline == entry.line and el.get("id")]
    return on_line[0] if on_line else None


def xsd_problems(doc: Document) -> list[Problem]:
    """Every XSD error of one file, each with its line and, where it has one, element id."""
    with _LOCK:
        if doc.kind == "bpmn":
            validator = VALIDATOR
        else:
            validator = _dmn_validator(etree.QName(doc.root).namespace)
        if validator is None:
            return []
        validator.preprocess(doc.tree)
        if validator.validator.validate(doc.tree):
            return []
        entries = list(validator.validator.error_log)
    problems = []
    for entry in entries:
        element = _element_at(doc, entry)
        element_id = element.get("id") if element is not None else None
        problems.append(Problem(doc.filename, entry.line or None, element_id,
                                f"does not match the {doc.kind.upper()} schema: "
                                f"{shorten(entry.message)}"))
    return problems


def _from_exception(exc: Exception, doc: Document, fallback_id: str | None,
                    bundle: Bundle | None = None) -> Problem:
    if not isinstance(exc, ValidationException):
        failure = f"{type(exc).__name__}: {shorten(str(exc))}"
        return Problem(doc.filename, None, fallback_id,
                       f"SpiffWorkflow failed on this file: {failure}")
    message = shorten(str(exc.args[0]) if exc.args else str(exc))
    if exc.notes:
        message += ". " + ". ".join(exc.notes)
    if bundle is not None and exc.file_name:
        doc = next((d for d in bundle.documents if d.filename == exc.file_name), doc)
    element_id = exc.id or fallback_id
    line = exc.line_number if isinstance(exc.line_number, int) else None
    if line is None and element_id in doc.ids():
        # Spiff reads `node.line_number`, which lxml elements do not have: find the line ourselves.
        line = doc.ids()[element_id].sourceline
    return Problem(exc.file_name or doc.filename, line, element_id, f"SpiffWorkflow: {message}")


def library_problems(bundle: Bundle) -> list[Problem]:
    """Load the upload with SpiffWorkflow's parser as the engine will; report what it refuses."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    problems = []
    with _LOCK:
        for doc in bundle.dmn_documents():
            try:
                parser.add_dmn_xml(doc.root, filename=doc.filename)
            except Exception as exc:
                problems.append(_from_exception(exc, doc, None, bundle))
        for doc in bundle.bpmn_documents():
            try:
                parser.add_bpmn_xml(doc.tree, filename=doc.filename)
            except Exception as exc:
                problems.append(_from_exception(exc, doc, None, bundle))
        if problems:
            return problems
        for doc, process in bundle.executable_processes():
            problems += _load_process(parser, doc, process.get("id"), bundle)
    return problems


def _load_process(parser, doc: Document, process_id: str, bundle: Bundle) -> list[Problem]:
    try:
        parser.get_spec(process_id)
        # Spiff drops require_call_activity_specs=False when it recurses, so a call to an
        # already-deployed process from inside a subprocess still raises "not found".
        parser.get_subprocess_specs(process_id, require_call_activity_specs=False)
    except ValidationException as exc:
        missing = _NOT_FOUND.search(str(exc))
        if missing and missing.group(1) in bundle.known_processes:
            return []
        return [_from_exception(exc, doc, process_id, bundle)]
    except Exception as exc:
        return [_from_exception(exc, doc, process_id, bundle)]
    return []
