"""What the bpmn-js viewer draws: the BPMN files of a definition and the marks on their elements.

`view()` returns a JSON-ready dict {files: [{name, processes}], files_url, initial, marks, heat,
labels} that static/js/diagram.js renders with the NavigatedViewer, after fetching the XML of
the files from `files_url` (a definition row never changes, so the browser caches it). Marks are CSS classes per element id
(ready, waiting, completed, added, removed, changed...) or heat values. A call activity whose
called process holds a token is marked too, so that the parent diagram shows where work is.
"""
from __future__ import annotations

from functools import lru_cache

from flask import url_for

from engine.definitions import xmlsafe
from engine.definitions.bundle import DMN_SUFFIX
from engine.definitions.vocabulary import bpmn


@lru_cache(maxsize=256)
def _outline(name: str, xml: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], frozenset]:
    """(process ids, (call activity id, called process) pairs, every element id) of one file."""
    root = xmlsafe.parse_xml(xml.encode("utf-8"), name).getroot()
    processes = tuple(p.get("id") for p in root.iter(bpmn("process")) if p.get("id"))
    calls = tuple((c.get("id"), c.get("calledElement"))
                  for c in root.iter(bpmn("callActivity")) if c.get("id"))
    ids = frozenset(e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id"))
    return processes, calls, ids


@lru_cache(maxsize=256)
def _names(name: str, xml: str) -> tuple[tuple[str, str], ...]:
    root = xmlsafe.parse_xml(xml.encode("utf-8"), name).getroot()
    return tuple((e.get("id"), e.get("name")) for e in root.iter()
                 if isinstance(e.tag, str) and e.get("id") and e.get("name"))


def element_names(sources: dict[str, str]) -> dict[str, str]:
    """BPMN element id -> its (bilingual) name, over every BPMN file of a definition."""
    names: dict[str, str] = {}
    for name, xml in bpmn_files(sources).items():
        names.update(_names(name, xml))
    return names


def bpmn_files(sources: dict[str, str]) -> dict[str, str]:
    return {name: xml for name, xml in sorted(sources.items()) if not name.endswith(DMN_SUFFIX)}


def view(definition, marks: dict[str, str], *, prefer: str | None = None,
         heat: dict[str, float] | None = None, labels: dict[str, str] | None = None,
         focus: str | None = None, files_url: str | None = None) -> dict:
    """The viewer's payload for a definition (as engine.definitions.catalog.show gives it,
    with its sources). `marks` maps element ids to a CSS class; the
    initial file is the one with element `focus`, else the one where the work (or the change)
    is, else the one with process `prefer`. The XML
    itself is fetched by the viewer from `pages.definition_files` (immutable, cached), or from
    `files_url` for files that are not deployed (an owner's draft)."""
    files = bpmn_files(definition["sources"])
    outlines = _outlines(files)
    marks = dict(marks)
    _mark_call_activities(outlines, marks)
    initial = (next((name for name, (_p, _c, ids) in outlines.items() if focus in ids), None)
               or _file_for(outlines, marks)
               or next((name for name, (processes, _c, _i) in outlines.items()
                        if prefer in processes), None))
    return {"files": [{"name": name, "processes": list(outlines[name][0])} for name in files],
            "files_url": files_url or url_for("pages.definition_files",
                                              definition_id=definition["id"],
                                              sha=definition["sha256"][:16]),
            "initial": initial or next(iter(files), None), "marks": marks,
            "heat": heat or {}, "labels": labels or {}}


def frames(sources: dict[str, str], steps) -> list[dict]:
    """For each replay step (engine.history.replay.Step): its marks and the file where its tokens are."""
    outlines = _outlines(bpmn_files(sources))
    result = []
    for step in steps:
        marks = marks_of(step.ready, step.waiting, step.completed)
        _mark_call_activities(outlines, marks)
        result.append({"marks": marks, "file": _file_for(outlines, marks)})
    return result


def _outlines(files: dict[str, str]) -> dict:
    return {name: _outline(name, xml) for name, xml in files.items()}


def _file_for(outlines: dict, marks: dict[str, str]) -> str | None:
    """The file where the work is: one with a READY element, else one with a WAITING element;
    among those, the innermost (no call activity of its own holding the token). Else the first
    file with a diff mark."""
    for wanted in ("ready", "waiting", "changed", "added", "removed"):
        found = [name for name, (_p, _c, ids) in outlines.items()
                 if any(marks.get(i) == wanted for i in ids)]
        innermost = [name for name in found
                     if not any(marks.get(i) == "active" for i in outlines[name][2])]
        if found:
            return (innermost or found)[0]
    return None


def _mark_call_activities(outlines: dict, marks: dict[str, str]) -> None:
    active_processes = set()
    for processes, _calls, ids in outlines.values():
        if any(marks.get(i) in ("ready", "waiting") for i in ids):
            active_processes.update(processes)
    for _ in range(len(outlines)):          # nested call activities: spread upwards
        changed = False
        for processes, calls, _ids in outlines.values():
            for call_id, called in calls:
                if called in active_processes and marks.get(call_id) != "active":
                    marks[call_id] = "active"
                    active_processes.update(processes)
                    changed = True
        if not changed:
            break


def marks_of(ready=(), waiting=(), completed=()) -> dict[str, str]:
    """CSS classes per element: ready and waiting win over completed (loops run again)."""
    marks = {bpmn_id: "completed" for bpmn_id in completed}
    marks.update({bpmn_id: "waiting" for bpmn_id in waiting})
    marks.update({bpmn_id: "ready" for bpmn_id in ready})
    return marks
