"""The process definitions in bpmn/: they parse and validate as SpiffWorkflow will run them, every
user task has a department lane, a form and an SLA, and every diagram is laid out for a modeler
(a shape for every node, an edge for every flow, nothing drawn on top of anything else)."""
import itertools
import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import UserTask

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
FORMS_DIR = BPMN_DIR / "forms"
DEPARTMENTS = {"customer_service", "cs_supervisor", "management", "finance", "logistics", "warehouse",
               "repair", "qa", "operations", "procurement"}
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC",
      "di": "http://www.omg.org/spec/DD/20100524/DI",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
FLOW_NODES = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
              "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
              "receiveTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
              "inclusiveGateway", "eventBasedGateway", "complexGateway"}
ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

BPMN_FILES = sorted(BPMN_DIR.glob("*.bpmn"))
DMN_FILES = sorted(BPMN_DIR.glob("*.dmn"))


def _local(el):
    return etree.QName(el).localname


def _doc(path):
    return etree.parse(str(path))


def _executable_processes():
    out = []
    for path in BPMN_FILES:
        for proc in _doc(path).iterfind("bpmn:process", NS):
            if proc.get("isExecutable") == "true":
                out.append(proc.get("id"))
    return out


def _flow_nodes(proc):
    return [el for el in proc.iter() if isinstance(el.tag, str) and _local(el) in FLOW_NODES]


@pytest.fixture(scope="module")
def parser():
    p = SpiffBpmnParser(validator=VALIDATOR)
    p.add_bpmn_files([str(f) for f in BPMN_FILES])
    p.add_dmn_files([str(f) for f in DMN_FILES])
    return p


def test_the_after_sales_processes_are_there():
    ids = set(_executable_processes())
    assert {"aftersales_request", "refund_first", "return_goods", "onsite_pickup", "repair",
            "complaint_escalation"} <= ids
    assert (BPMN_DIR / "routing.dmn").exists()


@pytest.mark.parametrize("process_id", _executable_processes())
def test_process_builds_with_its_called_processes(parser, process_id):
    spec = parser.get_spec(process_id)
    subprocesses = parser.get_subprocess_specs(process_id)
    assert spec.name == process_id
    called = {ts.spec for ts in spec.task_specs.values() if hasattr(ts, "spec") and isinstance(ts.spec, str)}
    assert called <= set(subprocesses)


def test_entry_process_reaches_every_flow(parser):
    assert set(parser.get_subprocess_specs("aftersales_request")) == {
        "refund_first", "return_goods", "onsite_pickup", "repair", "complaint_escalation"}


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_one_participant_and_every_node_in_a_department_lane(path):
    doc = _doc(path)
    processes = doc.findall("bpmn:process", NS)
    participants = doc.findall("bpmn:collaboration/bpmn:participant", NS)
    assert len(processes) == 1 and len(participants) == 1
    proc = processes[0]
    assert participants[0].get("processRef") == proc.get("id")
    assert path.stem == proc.get("id")
    lanes = proc.findall("bpmn:laneSet/bpmn:lane", NS)
    assert lanes, "no laneSet"
    assert {lane.get("name") for lane in lanes} <= DEPARTMENTS
    in_lanes = [ref.text for lane in lanes for ref in lane.findall("bpmn:flowNodeRef", NS)]
    assert len(in_lanes) == len(set(in_lanes)), "a node is in two lanes"
    nodes = {el.get("id") for el in _flow_nodes(proc)}
    assert nodes == set(in_lanes)


@pytest.mark.parametrize("process_id", _executable_processes())
def test_user_tasks_have_department_form_and_sla(parser, process_id):
    spec = parser.get_spec(process_id)
    user_tasks = [ts for ts in spec.task_specs.values() if isinstance(ts, UserTask)]
    for ts in user_tasks:
        assert ts.lane in DEPARTMENTS, ts.name
        props = ts.extensions.get("properties", {})
        sla = props.get("sla", "")
        assert ISO_DURATION.match(sla) or IDENTIFIER.match(sla), (ts.name, sla)
        form = FORMS_DIR / props.get("form", "missing")
        assert form.is_file(), (ts.name, form)


def _referenced_forms():
    forms = set()
    for path in BPMN_FILES:
        for prop in _doc(path).iterfind(".//spiffworkflow:property[@name='form']", NS):
            forms.add(prop.get("value"))
    return sorted(forms)


@pytest.mark.parametrize("form", _referenced_forms())
def test_form_is_a_closed_json_schema_with_bilingual_fields(form):
    schema = json.loads((FORMS_DIR / form).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["title"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    for name, field in schema["properties"].items():
        assert field.get("title"), name
        assert re.search(r"[\u4e00-\u9fff]", field.get("description", "")), f"{form}: {name} has no Chinese description"


def test_form_fields_do_not_collide_across_forms():
    # Completed form data is merged flat into the task data: one name, one meaning.
    seen = {}
    for form in _referenced_forms():
        schema = json.loads((FORMS_DIR / form).read_text(encoding="utf-8"))
        for name in schema["properties"]:
            assert name not in seen, f"{name} is in {form} and {seen.get(name)}"
            seen[name] = form


def _bounds(shape):
    b = shape.find("dc:Bounds", NS)
    return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))


def _overlap(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def _inside(inner, outer):
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    return ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh


def _on_border(point, rect, tol=2.0):
    x, y = point
    rx, ry, rw, rh = rect
    within = rx - tol <= x <= rx + rw + tol and ry - tol <= y <= ry + rh + tol
    deep_inside = rx + tol < x < rx + rw - tol and ry + tol < y < ry + rh - tol
    return within and not deep_inside


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_diagram_has_a_shape_for_every_node_and_an_edge_for_every_flow(path):
    doc = _doc(path)
    proc = doc.find("bpmn:process", NS)
    plane = doc.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == doc.find("bpmn:collaboration", NS).get("id")
    shapes = {s.get("bpmnElement"): _bounds(s) for s in plane.iterfind("bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): [(float(w.get("x")), float(w.get("y"))) for w in e.iterfind("di:waypoint", NS)]
             for e in plane.iterfind("bpmndi:BPMNEdge", NS)}
    nodes = {el.get("id"): el for el in _flow_nodes(proc)}
    lanes = proc.findall("bpmn:laneSet/bpmn:lane", NS)
    participant = doc.find("bpmn:collaboration/bpmn:participant", NS).get("id")
    missing = set(nodes) | {lane.get("id") for lane in lanes} | {participant}
    assert missing - set(shapes) == set()
    for flow in proc.iter(f"{{{NS['bpmn']}}}sequenceFlow"):
        points = edges.get(flow.get("id"))
        assert points and len(points) >= 2, flow.get("id")
        assert _on_border(points[0], shapes[flow.get("sourceRef")]), f"{flow.get('id')} does not start at its source"
        assert _on_border(points[-1], shapes[flow.get("targetRef")]), f"{flow.get('id')} does not end at its target"


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_diagram_layout_is_clean(path):
    doc = _doc(path)
    proc = doc.find("bpmn:process", NS)
    plane = doc.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    shapes = {s.get("bpmnElement"): _bounds(s) for s in plane.iterfind("bpmndi:BPMNShape", NS)}
    nodes = {el.get("id"): el for el in _flow_nodes(proc)}
    hosts = {nid: el.get("attachedToRef") for nid, el in nodes.items() if _local(el) == "boundaryEvent"}
    for a, b in itertools.combinations(sorted(nodes), 2):
        if hosts.get(a) == b or hosts.get(b) == a:
            continue  # a boundary event sits on its task's border
        assert not _overlap(shapes[a], shapes[b]), f"{a} overlaps {b}"
    participant = shapes[doc.find("bpmn:collaboration/bpmn:participant", NS).get("id")]
    lane_boxes = []
    for lane in proc.findall("bpmn:laneSet/bpmn:lane", NS):
        box = shapes[lane.get("id")]
        assert _inside(box, participant), lane.get("name")
        lane_boxes.append(box)
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            if ref.text in hosts:
                continue  # drawn on its host, which is checked
            assert _inside(shapes[ref.text], box), f"{ref.text} is drawn outside lane {lane.get('name')}"
    for a, b in itertools.combinations(lane_boxes, 2):
        assert not _overlap(a, b), "lanes overlap"


def test_routing_table_is_first_hit_with_the_agreed_outputs():
    doc = _doc(BPMN_DIR / "routing.dmn")
    ns = {"dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/"}
    table = doc.find("dmn:decision[@id='route_request']/dmn:decisionTable", ns)
    assert table.get("hitPolicy") in ("FIRST", "UNIQUE")
    inputs = [i.findtext("dmn:inputExpression/dmn:text", namespaces=ns) for i in table.iterfind("dmn:input", ns)]
    outputs = [o.get("name") for o in table.iterfind("dmn:output", ns)]
    assert inputs == ["type", "category", "amount", "customer_tier", "damage",
                      "repeat_complaints"]
    assert outputs == ["route", "priority", "respond_sla", "resolve_sla", "refund_first_eligible",
                       "service_tier"]
    last = table.findall("dmn:rule", ns)[-1]
    assert all(e.findtext("dmn:text", namespaces=ns) == "-" for e in last.iterfind("dmn:inputEntry", ns)), \
        "the last rule catches every request, so route is always set"
