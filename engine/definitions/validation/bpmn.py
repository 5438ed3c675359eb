"""Structural checks of BPMN files: references, gateways, unsupported constructs.

SpiffWorkflow checks few references itself and reports the ones it does check
badly (a missing flow target reads "found two items, perhaps a form has the
same ID?"; an undefined messageRef crashes with a TypeError), so this module
checks them first, in every executable process of the upload:

* sequence flows whose sourceRef/targetRef names no task, event or gateway of
  the same process or subprocess;
* `default` flows that do not exist or do not leave their element;
* boundary events attached to nothing, or to something that is not an activity;
* messageRef naming no `message` of the same file;
* call activities calling a process that is neither in the upload nor in
  `known_processes`, or that is not executable;
* business rule tasks whose `spiffworkflow:calledDecisionId` is in no DMN file;
* pools (participants) whose processRef is in no file of the upload;
* exclusive and inclusive gateways with several outgoing flows where a
  non-default flow has no condition;
* cancel events where BPMN and SpiffWorkflow allow none: a cancel end event
  outside a transaction, a cancel boundary event on anything but a
  transaction, a transaction with a cancel end event but no cancel boundary
  event to go on from;
* constructs SpiffWorkflow cannot run (complex gateways, compensation, link
  events, choreographies, data stores), as 'unsupported: ...'. Transactions
  run (SpiffWorkflow 3.2: a cancel end event cancels the transaction, its
  cancel boundary event takes the flow on); their compensation does not, so a
  transaction's compensation handlers are refused as compensation.

Non-executable processes (isExecutable="false") are not run, so not checked.
"""
from __future__ import annotations

from engine.definitions.vocabulary import (
    ACTIVITIES,
    CONTAINERS,
    FLOW_NODES,
    bpmn,
    is_bpmn,
    local_name,
    spiff,
)

from .model import Bundle, Document, Problem, is_executable

# Why each construct is refused: the text goes to the process owner as is.
UNSUPPORTED = {
    "complexGateway": "complex gateway: SpiffWorkflow has none; use an exclusive, "
                      "inclusive or parallel gateway",
    "compensateEventDefinition": "compensation event: SpiffWorkflow does not implement "
                                 "compensation",
    "linkEventDefinition": "link event: SpiffWorkflow does not implement link events; "
                           "draw a sequence flow instead",
    "callChoreography": "choreography: choreographies cannot be executed",
    "choreographyTask": "choreography: choreographies cannot be executed",
    "subChoreography": "choreography: choreographies cannot be executed",
}


def check_bpmn_document(doc: Document, bundle: Bundle) -> list[Problem]:
    """Every structural problem of one BPMN file (see the module docstring)."""
    problems = []
    for process in doc.processes():
        if not is_executable(process):
            continue
        for container in _containers(process):
            problems += _check_flows(doc, container)
            problems += _check_defaults(doc, container)
            problems += _check_boundaries(doc, container)
            problems += _check_gateways(doc, container)
        problems += _check_calls(doc, process, bundle)
        problems += _check_business_rules(doc, process, bundle)
        problems += _check_unsupported(doc, process)
        problems += _check_cancel_events(doc, process)
    problems += _check_data_stores(doc)
    problems += _check_message_refs(doc)
    problems += _check_participants(doc, bundle)
    return problems


def owner(element):
    """The flow node or flow an element belongs to (itself if it is one), else None."""
    current = element
    while current is not None:
        if is_bpmn(current) and (local_name(current) in FLOW_NODES
                                 or local_name(current) in ("sequenceFlow", "process")):
            return current
        current = current.getparent()
    return None


def _containers(process):
    yield process
    for element in process.iterdescendants():
        if is_bpmn(element, *CONTAINERS):
            yield element


def _children(container) -> dict[str, object]:
    return {child.get("id"): child for child in container
            if is_bpmn(child) and child.get("id")}


def _flows(container) -> list:
    return [child for child in container if is_bpmn(child, "sequenceFlow")]


def condition_text(flow) -> str:
    condition = flow.find(bpmn("conditionExpression"))
    return (condition.text or "").strip() if condition is not None else ""


def _check_flows(doc: Document, container) -> list[Problem]:
    problems, children = [], _children(container)
    for flow in _flows(container):
        for attribute in ("sourceRef", "targetRef"):
            ref = flow.get(attribute)
            if not ref:
                problems.append(doc.problem(flow, f"sequence flow has no {attribute}"))
                continue
            target = children.get(ref)
            if target is None:
                where = ("which is in another process or subprocess" if ref in doc.ids()
                         else "which is not in this file")
                problems.append(doc.problem(flow, f"sequence flow {attribute} {ref!r} names "
                                                  f"no element of this process, {where}"))
            elif local_name(target) not in FLOW_NODES:
                problems.append(doc.problem(flow, f"sequence flow {attribute} {ref!r} is a "
                                                  f"{local_name(target)}, not a task, event or "
                                                  "gateway"))
    return problems


def _check_defaults(doc: Document, container) -> list[Problem]:
    problems, children = [], _children(container)
    for element in children.values():
        default = element.get("default")
        if default is None:
            continue
        flow = children.get(default)
        if flow is None or not is_bpmn(flow, "sequenceFlow"):
            problems.append(doc.problem(element, f"default flow {default!r} does not exist"))
        elif flow.get("sourceRef") != element.get("id"):
            problems.append(doc.problem(element, f"default flow {default!r} does not leave "
                                                 "this element"))
    return problems


def _check_boundaries(doc: Document, container) -> list[Problem]:
    problems, children = [], _children(container)
    for event in container.iterchildren(bpmn("boundaryEvent")):
        ref = event.get("attachedToRef")
        host = children.get(ref) if ref else None
        if not ref:
            problems.append(doc.problem(event, "boundary event is attached to nothing "
                                               "(no attachedToRef)"))
        elif host is None:
            problems.append(doc.problem(event, f"boundary event attachedToRef {ref!r} names no "
                                               "activity of this process"))
        elif local_name(host) not in ACTIVITIES:
            problems.append(doc.problem(event, f"boundary event is attached to {ref!r}, a "
                                               f"{local_name(host)}, not an activity"))
    return problems


def _check_gateways(doc: Document, container) -> list[Problem]:
    problems, flows = [], _flows(container)
    for gateway in container:
        if not is_bpmn(gateway, "exclusiveGateway", "inclusiveGateway"):
            continue
        outgoing = [flow for flow in flows if flow.get("sourceRef") == gateway.get("id")]
        if len(outgoing) < 2:
            continue
        for flow in outgoing:
            if flow.get("id") != gateway.get("default") and not condition_text(flow):
                problems.append(doc.problem(
                    flow, f"flow out of gateway {gateway.get('id')!r} has no condition and is "
                          "not the gateway's default flow"))
    return problems


def _check_calls(doc: Document, process, bundle: Bundle) -> list[Problem]:
    problems = []
    for call in process.iter(bpmn("callActivity")):
        called = call.get("calledElement")
        if not called:
            problems.append(doc.problem(call, "call activity names no process (calledElement)"))
        elif called in bundle.processes:
            other_doc, other = bundle.processes[called]
            if not is_executable(other):
                problems.append(doc.problem(call, f"calls process {called!r} "
                                                  f"({other_doc.filename}), which is not "
                                                  "executable"))
        elif called not in bundle.known_processes:
            problems.append(doc.problem(call, f"calls process {called!r}, which is neither in "
                                              "this upload nor already deployed"))
    return problems


def _check_business_rules(doc: Document, process, bundle: Bundle) -> list[Problem]:
    problems = []
    for task in process.iter(bpmn("businessRuleTask")):
        ref = task.find(f"{bpmn('extensionElements')}/{spiff('calledDecisionId')}")
        decision = (ref.text or "").strip() if ref is not None else ""
        if not decision:
            problems.append(doc.problem(task, "business rule task names no decision "
                                              "(spiffworkflow:calledDecisionId)"))
        elif decision not in bundle.decisions:
            problems.append(doc.problem(task, f"calls decision {decision!r}, which is in none "
                                              "of the upload's DMN files"))
    return problems


def _check_unsupported(doc: Document, process) -> list[Problem]:
    problems = []
    for element in process.iter():
        if not is_bpmn(element):
            continue
        reason = UNSUPPORTED.get(local_name(element))
        if reason is None and element.get("isForCompensation") == "true":
            reason = "compensation handler: SpiffWorkflow does not implement compensation"
        if reason is not None:
            located = element if element.get("id") else owner(element)
            problems.append(doc.problem(located, f"unsupported: {reason}",
                                        line=element.sourceline))
    return problems


def _check_cancel_events(doc: Document, process) -> list[Problem]:
    problems = []
    for definition in process.iter(bpmn("cancelEventDefinition")):
        event = definition.getparent()
        container = event.getparent()
        if is_bpmn(event, "endEvent") and not is_bpmn(container, "transaction"):
            problems.append(doc.problem(event, "a cancel end event may only end a transaction "
                                               "(bpmn:transaction); use a plain or terminate "
                                               "end event"))
        elif is_bpmn(event, "endEvent") and not _cancel_boundaries(container):
            problems.append(doc.problem(event, f"transaction {container.get('id')!r} ends with "
                                               "this cancel end event but has no cancel boundary "
                                               "event to continue from; attach one"))
        elif is_bpmn(event, "boundaryEvent"):
            host = _children(container).get(event.get("attachedToRef"))
            if host is not None and not is_bpmn(host, "transaction"):
                problems.append(doc.problem(event, "a cancel boundary event may only be attached "
                                                   f"to a transaction; {host.get('id')!r} is a "
                                                   f"{local_name(host)}"))
    return problems


def _cancel_boundaries(transaction) -> list:
    container = transaction.getparent()
    return [event for event in container.iterchildren(bpmn("boundaryEvent"))
            if event.get("attachedToRef") == transaction.get("id")
            and event.find(bpmn("cancelEventDefinition")) is not None]


def _check_data_stores(doc: Document) -> list[Problem]:
    # SpiffWorkflow refuses every dataStore it has no implementation for, and we register none.
    return [doc.problem(store, "unsupported: data store: the platform provides no data store; "
                               "use data objects or task data")
            for store in doc.root.iter(bpmn("dataStore"))]


def inside_non_executable(element) -> bool:
    """True when `element` is inside a process that is not run (isExecutable="false")."""
    for ancestor in element.iterancestors(bpmn("process")):
        return not is_executable(ancestor)
    return False


def _check_message_refs(doc: Document) -> list[Problem]:
    messages = {message.get("id") for message in doc.root.iter(bpmn("message"))}
    problems = []
    for element in doc.root.iter():
        ref = element.get("messageRef") if is_bpmn(element) else None
        if ref is None or ref in messages or inside_non_executable(element):
            continue
        located = element if local_name(element) in FLOW_NODES | {"messageFlow"} \
            else owner(element)
        problems.append(doc.problem(located, f"messageRef {ref!r} names no message defined in "
                                             "this file", line=element.sourceline))
    return problems


def _check_participants(doc: Document, bundle: Bundle) -> list[Problem]:
    problems = []
    for participant in doc.root.iter(bpmn("participant")):
        ref = participant.get("processRef")
        if ref and ref not in bundle.processes:
            problems.append(doc.problem(participant, f"pool processRef {ref!r} names no process "
                                                     "of the upload"))
    return problems
