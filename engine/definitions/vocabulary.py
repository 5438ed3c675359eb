"""The BPMN and DMN vocabulary: namespaces, the element names we read, and tags built from them.

One place for the names that the validators, the version diff and the diagram page all read
BPMN files by, so that "what is a flow node" or "which DMN versions do we know" has one answer.
Files are matched by namespace, never by prefix: `bpmn:task`, `bpmn2:task` and an unprefixed
`task` in the default namespace are the same element.
"""
from __future__ import annotations

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# Diagram interchange: where each element is drawn (read by modelers and the viewer, not the engine).
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
# DMN versions SpiffWorkflow 3.2 ships an XSD for (1.1 to 1.3), and later ones we recognise.
DMN_SUPPORTED_NS = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
)
DMN_LATER_NS = (
    "https://www.omg.org/spec/DMN/20211108/MODEL/",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
)

ACTIVITIES = frozenset({
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "adHocSubProcess", "transaction",
})
EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent",
                    "intermediateThrowEvent", "boundaryEvent", "implicitThrowEvent"})
GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway", "parallelGateway",
                      "eventBasedGateway", "complexGateway"})
CHOREOGRAPHIES = frozenset({"callChoreography", "choreographyTask", "subChoreography"})
#: What a sequence flow may connect.
FLOW_NODES = ACTIVITIES | EVENTS | GATEWAYS | CHOREOGRAPHIES
#: BPMN containers whose direct children are one scope of sequence flows.
CONTAINERS = ("process", "subProcess", "transaction", "adHocSubProcess")
#: Elements holding a condition (an expression over task data).
CONDITIONS = ("conditionExpression", "condition", "loopCondition", "completionCondition")
#: The parts of a timerEventDefinition, each an expression.
TIMERS = ("timeDuration", "timeDate", "timeCycle")
#: Spiff extension elements holding a script run before or after a task.
SCRIPT_EXTENSIONS = ("preScript", "postScript")


def bpmn(local: str) -> str:
    """The Clark-notation tag of a BPMN element, whatever prefix the file uses."""
    return f"{{{BPMN_NS}}}{local}"


def spiff(local: str) -> str:
    """The Clark-notation tag of a spiffworkflow extension element."""
    return f"{{{SPIFF_NS}}}{local}"


def local_name(element) -> str:
    """The tag without its namespace; "" for comments and processing instructions."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return etree.QName(tag).localname


def is_bpmn(element, *locals_: str) -> bool:
    """True when `element` is a BPMN element (named one of `locals_`, when given)."""
    tag = element.tag
    return (isinstance(tag, str) and tag.startswith(f"{{{BPMN_NS}}}")
            and (not locals_ or tag[len(BPMN_NS) + 2:] in locals_))
