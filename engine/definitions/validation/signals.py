"""Checks of signals: references, and catches that nothing in the upload throws.

* a `signalRef` must name a `bpmn:signal` of the same file (SpiffWorkflow's own message for
  one that does not is a TypeError from inside its parser);
* a signal catch (an intermediate catch, a boundary event, a start event) that waits for a
  signal no executable process of the upload throws is a WARNING: the process runs, and the
  signal can be sent from outside (POST /api/signals, `aftersales signals send`), but nothing
  in the processes will ever send it. Throws are looked for in the whole upload as deployed
  (with the processes it calls, which run in the same instance); a throw in another deployed
  process does not count, because SpiffWorkflow delivers a thrown signal within its own
  instance only and the platform does not route thrown signals between instances.

Signals are named as SpiffWorkflow names them: the `name` of the signal its `signalRef`
points to, else the name of the event itself.
"""
from __future__ import annotations

from engine.definitions.vocabulary import bpmn, local_name

from .model import Bundle, Document, Problem

CATCHES = ("intermediateCatchEvent", "boundaryEvent", "startEvent")
THROWS = ("intermediateThrowEvent", "endEvent")


def check_signals(bundle: Bundle) -> list[Problem]:
    """Every signal problem of the upload's executable processes (see the module docstring)."""
    problems, thrown, catches = [], set(), []
    for doc, process in bundle.executable_processes():
        signals = {s.get("id"): s for s in doc.root.iter(bpmn("signal"))}
        for definition in process.iter(bpmn("signalEventDefinition")):
            event = definition.getparent()
            ref = definition.get("signalRef")
            if ref is not None and ref not in signals:
                problems.append(doc.problem(event, f"signalRef {ref!r} names no signal defined "
                                                   "in this file", line=definition.sourceline))
                continue
            name = signals[ref].get("name") if ref is not None else event.get("name")
            if local_name(event) in THROWS:
                thrown.add(name)
            elif local_name(event) in CATCHES:
                catches.append((doc, event, name))
    for doc, event, name in catches:
        if name not in thrown:
            problems.append(_unthrown(doc, event, name))
    return problems


def _unthrown(doc: Document, event, name: str | None) -> Problem:
    return doc.warning(event, f"signal catch {event.get('id')!r} waits for {name!r} that no "
                              "process throws; it can only be sent with POST /api/signals")
