"""Deployed versions of a process: listing, element-level diffs and the impact on running work.

A diff is computed from the stored sources (never from parsed specs) with lxml, element by BPMN
id, so it reads the way a process owner edited the model: what was added, removed, and for each
element that stayed, which of its business-relevant properties changed. `impact()` lists the
unfinished instances of the older version that stand on a removed or changed element: those are
the ones a migration (engine/runtime/instance_migration.py) has to think about.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.definitions import catalog, xmlsafe
from engine.definitions.bundle import DMN_SUFFIX
from engine.definitions.vocabulary import (
    FLOW_NODES,
    SCRIPT_EXTENSIONS,
    TIMERS,
    bpmn,
    is_bpmn,
    local_name,
)
from engine.errors import NotFound
from engine.models import UNFINISHED, Instance
from engine.runtime import state_store

# The properties compared for every element that exists in both versions, in report order.
COMPARED = ("type", "name", "lane", "outgoing", "conditions", "timer", "form", "form_schema",
            "sla", "properties", "scripts", "called_element", "messages", "signals",
            "attached_to", "service", "decision")

# Task states at which an instance "stands on" an element.
STANDING = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


# ------------------------------------------------------------------ listing

def list_versions(session: Session, key: str) -> list[dict]:
    """Every deployed version of process `key`, oldest first. Raises NotFound if there is none."""
    rows = catalog.versions(session, key)
    if not rows:
        raise NotFound(f"process '{key}' is not deployed", field="process_key")
    return [{"definition_id": r.id, "version": r.version, "sha": r.sha256,
             "deployed_by": r.deployed_by, "deployed_at": r.deployed_at, "comment": r.comment}
            for r in rows]


# --------------------------------------------------------------------- diff

@dataclass
class Diff:
    process_key: str
    from_version: int
    to_version: int
    added: list[dict] = field(default_factory=list)      # {"id", "type", "name"}
    removed: list[dict] = field(default_factory=list)    # {"id", "type", "name"}
    changed: list[dict] = field(default_factory=list)    # {"id", "type", "name", "changes"}

    @property
    def affected(self) -> dict[str, dict]:
        """Removed and changed elements by id: {"change": "removed"|"changed", "what": [...]}."""
        out = {e["id"]: {"change": "removed", "what": []} for e in self.removed}
        out.update({e["id"]: {"change": "changed", "what": sorted(e["changes"])}
                    for e in self.changed})
        return out

    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict:
        return {"process_key": self.process_key, "from_version": self.from_version,
                "to_version": self.to_version, "added": self.added, "removed": self.removed,
                "changed": self.changed}


def diff(session: Session, key: str, v1: int, v2: int) -> Diff:
    """Elements added, removed and changed between versions `v1` and `v2` of `key`.

    Each changed element carries `changes`: {property: {"from": old, "to": new}} for the
    properties in COMPARED. Raises NotFound for an unknown version.
    """
    old, new = catalog.version_row(session, key, v1), catalog.version_row(session, key, v2)
    return diff_sources(key, v1, v2, elements(old.sources, old.forms),
                        elements(new.sources, new.forms))


def diff_sources(key: str, v1: int, v2: int, before: dict[str, dict],
                 after: dict[str, dict]) -> Diff:
    result = Diff(key, v1, v2)
    for element_id in sorted(after.keys() - before.keys()):
        result.added.append(_summary(after[element_id]))
    for element_id in sorted(before.keys() - after.keys()):
        result.removed.append(_summary(before[element_id]))
    for element_id in sorted(before.keys() & after.keys()):
        a, b = before[element_id], after[element_id]
        changes = {prop: {"from": a.get(prop), "to": b.get(prop)}
                   for prop in COMPARED if a.get(prop) != b.get(prop)}
        if changes:
            result.changed.append(dict(_summary(b), changes=changes))
    return result


def elements(sources: dict[str, str], forms: dict[str, str]) -> dict[str, dict]:
    """Every flow node (and DMN decision) of a definition's files, by id, described for diffing."""
    form_schemas = {}
    for name, text in forms.items():
        try:
            form_schemas[name] = json.loads(text)
        except ValueError:
            form_schemas[name] = text
    out: dict[str, dict] = {}
    for name, text in sorted(sources.items()):
        root = xmlsafe.parse_xml(text.encode(), name).getroot()
        if name.endswith(DMN_SUFFIX):
            _dmn_elements(root, out)
        else:
            _bpmn_elements(root, form_schemas, out)
    return out


def _summary(element: dict) -> dict:
    return {"id": element["id"], "type": element["type"], "name": element.get("name")}


def _text(el) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip()


def _bpmn_elements(root, form_schemas: dict, out: dict) -> None:
    messages = {m.get("id"): m.get("name") or m.get("id")
                for m in root.iter(bpmn("message"))}
    signals = {s.get("id"): s.get("name") or s.get("id")
               for s in root.iter(bpmn("signal"))}
    for process in root.iter(bpmn("process")):
        lanes = {}
        for lane in process.iter(bpmn("lane")):
            for ref in lane.findall(bpmn("flowNodeRef")):
                # Nested lanes are visited after their parent: the innermost lane wins.
                lanes[_text(ref)] = lane.get("name") or lane.get("id")
        flows: dict[str, dict] = {}
        for flow in process.iter(bpmn("sequenceFlow")):
            flows.setdefault(flow.get("sourceRef"), {})[flow.get("id")] = {
                "to": flow.get("targetRef"),
                "condition": _text(flow.find(bpmn("conditionExpression")))}
        for el in process.iter():
            kind = local_name(el)
            if kind not in FLOW_NODES or not is_bpmn(el):
                continue
            element_id = el.get("id")
            outgoing = flows.get(element_id, {})
            props = _properties(el)
            form = props.pop("form", None)
            described = {
                "id": element_id, "type": kind, "name": el.get("name"),
                "process": process.get("id"), "lane": lanes.get(element_id),
                "outgoing": {fid: f["to"] for fid, f in sorted(outgoing.items())} or None,
                "conditions": _conditions(el, outgoing),
                "timer": _timer(el), "form": form,
                "form_schema": form_schemas.get(form) if form else None,
                "sla": props.pop("sla", None), "properties": props or None,
                "scripts": _scripts(el), "called_element": el.get("calledElement"),
                "messages": _refs(el, "messageEventDefinition", "messageRef", messages),
                "signals": _refs(el, "signalEventDefinition", "signalRef", signals),
                "attached_to": el.get("attachedToRef"), "service": _service(el),
            }
            out[element_id] = {k: v for k, v in described.items() if v is not None}


def _own(el, localname: str):
    """The element's direct BPMN children named `localname` (its event definitions...)."""
    return [c for c in el if is_bpmn(c, localname)]


def _extensions(el):
    ext = el.find(bpmn("extensionElements"))
    return ext if ext is not None else []


def _properties(el) -> dict:
    props = {}
    for container in _extensions(el):
        if local_name(container) != "properties":
            continue
        for prop in container:
            if local_name(prop) == "property":
                props[prop.get("name")] = prop.get("value")
    return props


def _conditions(el, outgoing: dict) -> dict | None:
    conditions = {fid: f["condition"] for fid, f in sorted(outgoing.items())
                  if f["condition"] is not None}
    if el.get("default"):
        conditions["(default)"] = el.get("default")
    return conditions or None


def _timer(el) -> dict | None:
    timers = {}
    for definition in _own(el, "timerEventDefinition"):
        for part in definition:
            if is_bpmn(part, *TIMERS):
                timers[local_name(part)] = _text(part)
    return timers or None


def _scripts(el) -> dict | None:
    scripts = {}
    script = el.find(bpmn("script"))
    if script is not None:
        scripts["script"] = _text(script)
    for part in _extensions(el):
        if local_name(part) in SCRIPT_EXTENSIONS:
            scripts[local_name(part)] = _text(part)
    return scripts or None


def _refs(el, definition: str, attribute: str, names: dict) -> list[str] | None:
    refs = [d.get(attribute) for d in _own(el, definition)]
    if el.get(attribute) and local_name(el) in ("receiveTask", "sendTask"):
        refs.append(el.get(attribute))
    resolved = sorted(names.get(r, r) for r in refs if r)
    return resolved or None


def _service(el) -> dict | None:
    for part in _extensions(el):
        if local_name(part) != "serviceTaskOperator":
            continue
        params = {}
        for holder in part:
            for param in holder:
                if local_name(param) == "parameter":
                    params[param.get("id")] = [param.get("type"), param.get("value")]
        return {"operator": part.get("id"), "result": part.get("resultVariable"),
                "parameters": params}
    return None


def _dmn_elements(root, out: dict) -> None:
    for el in root.iter():
        if local_name(el) != "decision":
            continue
        out[el.get("id")] = {"id": el.get("id"), "type": "decision", "name": el.get("name"),
                             "decision": etree.tostring(el, method="c14n").decode()}


# ------------------------------------------------------------------- impact

def impact(session: Session, key: str, v_from: int, v_to: int) -> list[dict]:
    """Unfinished instances of `key` v`v_from` that stand on an element removed or changed in
    v`v_to`: [{"instance_id", "business_key", "status", "elements": [{"element", "state",
    "change", "what"}]}], by instance id. Instances standing only on unchanged elements are
    left out.

    "Standing on" means a READY, WAITING, STARTED (call activity) or ERROR task there, inside
    call activities too.
    """
    changes = diff(session, key, v_from, v_to).affected
    row = catalog.version_row(session, key, v_from)
    if not changes:
        return []
    compiled = catalog.compiled(session, row.id)
    result = []
    instances = session.scalars(select(Instance).where(Instance.definition_id == row.id,
                                                       Instance.status.in_(UNFINISHED))
                                .order_by(Instance.id))
    for instance in instances:
        # Read-only: no script engine is needed to look at task states.
        workflow, _ = state_store.load(session, instance, compiled, None)
        hits = []
        for task in workflow.get_tasks(state=STANDING):
            bpmn_id = task.task_spec.bpmn_id
            if bpmn_id in changes:
                hits.append({"element": bpmn_id, "state": TaskState.get_name(task.state),
                             **changes[bpmn_id]})
        if hits:
            result.append({"instance_id": instance.id, "business_key": instance.business_key,
                           "status": instance.status, "elements": hits})
    return result

