"""The checks SpiffWorkflow itself performs: XSD validation and a full parse.

`xsd_problems` validates one file against the XSD SpiffWorkflow ships (BPMN 2.0
with the spiffworkflow extensions, or the DMN 1.1-1.3 schemas) and reports
every error in libxml2's log with its line, where Spiff's own validator stops
at the last one. The DMN 1.2 schema SpiffWorkflow ships cannot be built (its
DMNDI12.xsd is the DI schema, so `dmndi:DMNDI` resolves to nothing and every
DMN 1.2 file failed with an XMLSchemaParseError): `_dmn12_schema` builds it
with the DMNDI 1.3 schema moved to the DMN 1.2 DMNDI namespace, which is
what DMNDI 1.2 is.

`library_problems` runs the real parser over the whole upload, the way the
engine will load it (`SpiffBpmnParser(validator=VALIDATOR)`, `get_spec` and
`get_subprocess_specs` for every executable process), and turns each
`ValidationException`, or any other exception, into a Problem. Its own DMN XSD
check is left out: `xsd_problems` has run it already (with the fixed DMN 1.2
schema, which Spiff's would fail to build).

A shared lock guards both: the compiled schemas and their error logs are
module-level objects, and lxml schemas must not validate in two threads at once.
"""
from __future__ import annotations

import os
import re
import threading

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.dmn.parser.BpmnDmnParser import XSD_DIR as DMN_XSD_DIR
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from engine.definitions.vocabulary import BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, SPIFF_NS

from .model import Bundle, Document, Problem

_LOCK = threading.Lock()
_DMN_VALIDATORS: dict[str, etree.XMLSchema] = {}
_XSD = "http://www.w3.org/2001/XMLSchema"
DMN12_NS = "http://www.omg.org/spec/DMN/20180521/MODEL/"
_DMNDI12_NS = "http://www.omg.org/spec/DMN/20180521/DMNDI/"
_DMNDI13_NS = "https://www.omg.org/spec/DMN/20191111/DMNDI/"
_FIXED_DMNDI12 = "aftersales-DMNDI12.xsd"     # a name no file has: served by _Dmndi12Resolver
# Spiff's parser validates DMN only against the schemas of this mapping: none (see above).
_XSD_ALREADY_CHECKED = {"(checked by xsd_problems)": ""}
_SHORT_NAMES = tuple((f"{{{namespace}}}", prefix) for namespace, prefix in (
    (BPMN_NS, "bpmn:"), (BPMNDI_NS, "bpmndi:"), (DC_NS, "dc:"), (DI_NS, "di:"),
    (SPIFF_NS, "spiffworkflow:")))
_NOT_FOUND = re.compile(r"The process '([^']*)' was not found")


def shorten(message: str) -> str:
    """Replace Clark-notation namespaces that libxml2 puts in messages with prefixes."""
    for long, short in _SHORT_NAMES:
        message = message.replace(long, short)
    return re.sub(r"\{[^}]*\}", "", message).strip()


class _Dmndi12Resolver(etree.Resolver):
    """Serves the DMNDI 1.2 schema: DMNDI 1.3's, in DMN 1.2's DMNDI namespace (the two differ
    only there). Its own imports (DC.xsd, and DI as Spiff names it, DMNDI12.xsd) are read
    from SpiffWorkflow's schema folder."""

    def resolve(self, url, pubid, context):
        if not url.endswith(_FIXED_DMNDI12):
            return None
        with open(os.path.join(DMN_XSD_DIR, "DMNDI13.xsd"), "rb") as xsd:
            text = xsd.read().replace(_DMNDI13_NS.encode(), _DMNDI12_NS.encode())
        return self.resolve_string(text, context,
                                   base_url=os.path.join(DMN_XSD_DIR, _FIXED_DMNDI12))


def _dmn12_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    parser.resolvers.add(_Dmndi12Resolver())
    tree = etree.parse(DMN_SCHEMAS[DMN12_NS], parser)
    for imported in tree.getroot().iterchildren(f"{{{_XSD}}}import"):
        if imported.get("namespace") == _DMNDI12_NS:
            imported.set("schemaLocation", _FIXED_DMNDI12)
    return etree.XMLSchema(tree)


def _dmn_validator(namespace: str) -> etree.XMLSchema | None:
    if namespace not in DMN_SCHEMAS:
        return None
    if namespace not in _DMN_VALIDATORS:
        _DMN_VALIDATORS[namespace] = (_dmn12_schema() if namespace == DMN12_NS
                                      else BpmnValidator(DMN_SCHEMAS[namespace]).validator)
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
            VALIDATOR.preprocess(doc.tree)
            schema = VALIDATOR.validator
        else:
            schema = _dmn_validator(etree.QName(doc.root).namespace)
        if schema is None:
            return []
        if schema.validate(doc.tree):
            return []
        entries = list(schema.error_log)
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
    parser = SpiffBpmnParser(validator=VALIDATOR, dmn_schemas=_XSD_ALREADY_CHECKED)
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
