"""What each process of a set of BPMN/DMN files needs to run, and which file defines what.

A process needs the processes its call activities call (however deep in subprocesses), the
decisions its business rule tasks evaluate (`spiffworkflow:calledDecisionId`), the forms of
its user tasks (`spiffworkflow:property name="form"`) and a schema for each message it waits
for (catch events and receive tasks); the processes it calls need theirs in turn. Deployment
stores with each process exactly the files, forms and message schemas this finds for it (its
closure), so a change to one DMN file versions only the processes that evaluate its
decisions; resolution (engine.definitions.resolution) pulls from deployed versions what an
upload leaves out, by the same answers.

Files are read as validation reads them (hardened parse, elements by namespace); a file that
cannot be read defines nothing here, and validation reports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.definitions.bundle import DMN_SUFFIX
from engine.definitions.vocabulary import BPMN_NS, bpmn, spiff
from engine.definitions.xmlsafe import XmlRefused, parse_xml

# Where a message is waited for: events that catch it, and receive tasks.
CATCHING = ("startEvent", "intermediateCatchEvent", "boundaryEvent")


@dataclass(frozen=True)
class Needs:
    """What one process itself names (not what the processes it calls name)."""

    file: str
    name: str
    executable: bool
    calls: frozenset[str]
    decisions: frozenset[str]
    forms: frozenset[str]
    messages: dict[str, str]          # message name -> id of the first element waiting for it


@dataclass
class Closure:
    """Everything one process needs, its callees' needs included; `missing_*` are the
    processes and decisions no file of the index defines."""

    processes: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    decisions: set[str] = field(default_factory=set)
    forms: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    missing_processes: set[str] = field(default_factory=set)
    missing_decisions: set[str] = field(default_factory=set)


@dataclass
class Index:
    """The processes (by id) and decisions (id -> file) that a set of files defines."""

    processes: dict[str, Needs] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)

    def executable(self) -> list[str]:
        return sorted(pid for pid, needs in self.processes.items() if needs.executable)

    def defined_in(self, filename: str) -> set[str]:
        """Ids of the processes and decisions that file `filename` defines."""
        return ({pid for pid, needs in self.processes.items() if needs.file == filename}
                | {did for did, name in self.decisions.items() if name == filename})

    def closure(self, key: str) -> Closure:
        """What process `key` needs, following its calls through every process indexed."""
        result, todo = Closure(), [key]
        while todo:
            pid = todo.pop()
            if pid in result.processes or pid in result.missing_processes:
                continue
            needs = self.processes.get(pid)
            if needs is None:
                result.missing_processes.add(pid)
                continue
            result.processes.add(pid)
            result.files.add(needs.file)
            result.forms |= needs.forms
            result.messages |= set(needs.messages)
            for decision in needs.decisions:
                if decision in self.decisions:
                    result.decisions.add(decision)
                    result.files.add(self.decisions[decision])
                else:
                    result.missing_decisions.add(decision)
            todo.extend(needs.calls)
        return result


def index(files: dict[str, bytes | str]) -> Index:
    """The index of `files` (file name -> BPMN or DMN content); the first definition of an id
    wins, as validation reports the second."""
    result = Index()
    for filename in sorted(files):
        data = files[filename]
        try:
            root = parse_xml(data.encode() if isinstance(data, str) else data, filename).getroot()
        except XmlRefused:
            continue
        if filename.endswith(DMN_SUFFIX):
            namespace = etree.QName(root).namespace
            for decision in root.iterchildren(f"{{{namespace}}}decision"):
                if decision.get("id"):
                    result.decisions.setdefault(decision.get("id"), filename)
            continue
        if etree.QName(root).namespace != BPMN_NS:
            continue
        names = {m.get("id"): m.get("name") or m.get("id") for m in root.iter(bpmn("message"))}
        for process in root.iter(bpmn("process")):
            pid = process.get("id")
            if pid and pid not in result.processes:
                result.processes[pid] = _needs(filename, process, names)
    return result


def _needs(filename: str, process, message_names: dict) -> Needs:
    calls = {call.get("calledElement") for call in process.iter(bpmn("callActivity"))
             if call.get("calledElement")}
    decisions = {(ref.text or "").strip() for ref in process.iter(spiff("calledDecisionId"))}
    forms = {prop.get("value") for prop in process.iter(spiff("property"))
             if prop.get("name") == "form" and prop.get("value")}
    return Needs(filename, process.get("name") or process.get("id"),
                 process.get("isExecutable", "true") == "true", frozenset(calls),
                 frozenset(d for d in decisions if d), frozenset(forms),
                 caught_messages(process, message_names))


def caught_messages(process, message_names: dict) -> dict[str, str]:
    """Message name -> id of the first element of `process` that waits for it. A messageRef
    names a `message` (whose name SpiffWorkflow correlates by); one naming none is left out
    (validation reports it)."""
    caught: dict[str, str] = {}
    waiting = [(event, definition) for local in CATCHING
               for event in process.iter(bpmn(local))
               for definition in event.iterchildren(bpmn("messageEventDefinition"))]
    for task in process.iter(bpmn("receiveTask")):
        inner = list(task.iterchildren(bpmn("messageEventDefinition")))
        waiting.append((task, task if task.get("messageRef") is not None or not inner
                        else inner[0]))
    for element, definition in waiting:
        ref = definition.get("messageRef")
        if ref is None and definition is not element:
            # SpiffWorkflow names a message event without messageRef after its event.
            name = element.get("name")
        else:
            name = message_names.get(ref)
        if name:
            caught.setdefault(name, element.get("id") or "")
    return dict(sorted(caught.items()))
