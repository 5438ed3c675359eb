"""The shapes shared by the bundle validators: problems, documents, the bundle.

`Problem` is what every check returns: an error, which stops the upload from being deployed,
or a warning (severity "warning"), which is shown with the errors but deploys. `errors()`
picks the blocking ones. `Document` is one parsed upload file;
`Bundle` is everything a check may look across files for (process ids,
decision ids, forms, departments). The checks themselves live in
`validation.bpmn`, `validation.calls`, `validation.expressions`, `validation.tasks`,
`validation.dmn`, `validation.signals` and `validation.spiff`; `validation.validate_bundle`
runs them.
The BPMN and DMN names they read files by are in `engine.definitions.vocabulary`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from lxml import etree

from engine.definitions.vocabulary import bpmn


def dmn_children(element, local: str) -> list:
    """Direct DMN children of `element` named `local`, in the element's own namespace."""
    namespace = etree.QName(element).namespace
    return list(element.iterchildren(f"{{{namespace}}}{local}"))


ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an upload; `line` and `element_id` are None when unknown.

    A WARNING names something that runs but may not do what its author meant (a UNIQUE table
    whose rows overlap, a catch nothing throws); it does not stop a deploy."""

    file: str
    line: int | None
    element_id: str | None
    message: str
    severity: str = ERROR

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def as_dict(self) -> dict:
        """The JSON shape of a problem, as the API and the CLI report it."""
        return {"file": self.file, "line": self.line, "element_id": self.element_id,
                "message": self.message, "severity": self.severity}

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        element = f" [{self.element_id}]" if self.element_id else ""
        label = " warning:" if self.severity == WARNING else ""
        return f"{where}:{element}{label} {self.message}"


def errors(problems) -> list[Problem]:
    """The problems that stop a deploy (warnings left out)."""
    return [problem for problem in problems if problem.is_error]


@dataclass
class Document:
    """One parsed upload file; `kind` is "bpmn" or "dmn"."""

    filename: str
    tree: etree._ElementTree
    kind: str
    _ids: dict | None = field(default=None, repr=False)

    @property
    def root(self) -> etree._Element:
        return self.tree.getroot()

    def problem(self, element, message: str, line: int | None = None,
                severity: str = ERROR) -> Problem:
        """A Problem located at `element` (its id and line), or at the file when None."""
        if element is None:
            return Problem(self.filename, line, None, message, severity)
        element_id = element.get("id") if isinstance(element.tag, str) else None
        return Problem(self.filename, line or element.sourceline, element_id, message, severity)

    def warning(self, element, message: str, line: int | None = None) -> Problem:
        """A warning located at `element`: shown with the problems, but it deploys."""
        return self.problem(element, message, line, WARNING)

    def ids(self) -> dict[str, etree._Element]:
        """Every element of the file that has an id, by id (the first one wins)."""
        if self._ids is None:
            self._ids = {}
            for element in self.root.iter():
                element_id = element.get("id") if isinstance(element.tag, str) else None
                if element_id is not None:
                    self._ids.setdefault(element_id, element)
        return self._ids

    def processes(self) -> Iterator[etree._Element]:
        yield from self.root.iter(bpmn("process"))


def is_executable(process) -> bool:
    # SpiffWorkflow runs a process unless isExecutable is anything but "true".
    return process.get("isExecutable", "true") == "true"


@dataclass
class Bundle:
    """What the checks may look up across the whole upload."""

    documents: list[Document]
    forms: dict[str, bytes]
    departments: frozenset[str]
    known_processes: frozenset[str]
    # deployed process id -> the process ids its call activities call, where the caller knows
    # them (validation.calls follows them to find cycles through deployed processes).
    deployed_calls: dict[str, frozenset[str]] = field(default_factory=dict)
    # process id -> (document, process element); filled by `index()`.
    processes: dict[str, tuple[Document, etree._Element]] = field(default_factory=dict)
    # decision id -> document
    decisions: dict[str, Document] = field(default_factory=dict)

    def bpmn_documents(self) -> list[Document]:
        return [doc for doc in self.documents if doc.kind == "bpmn"]

    def dmn_documents(self) -> list[Document]:
        return [doc for doc in self.documents if doc.kind == "dmn"]

    def executable_processes(self) -> Iterator[tuple[Document, etree._Element]]:
        for doc in self.bpmn_documents():
            for process in doc.processes():
                if is_executable(process):
                    yield doc, process

    def index(self) -> list[Problem]:
        """Fill `processes` and `decisions`; report ids defined twice."""
        problems = []
        for doc in self.bpmn_documents():
            for process in doc.processes():
                pid = process.get("id")
                if pid in self.processes:
                    other = self.processes[pid][0].filename
                    problems.append(doc.problem(process, f"process id {pid!r} is also defined "
                                                         f"in {other}"))
                elif pid:
                    self.processes[pid] = (doc, process)
        for doc in self.dmn_documents():
            for decision in dmn_children(doc.root, "decision"):
                did = decision.get("id")
                if did in self.decisions:
                    problems.append(doc.problem(decision, f"decision id {did!r} is also defined "
                                                          f"in {self.decisions[did].filename}"))
                elif did:
                    self.decisions[did] = doc
        return problems
