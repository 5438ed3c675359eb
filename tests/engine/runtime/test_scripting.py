"""The restricted script environment (engine/runtime/scripting.py) run by real BPMN workflows."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.runtime import scripting
from engine.runtime.scripting import (
    PlatformScriptEngine,
    RestrictedEnvironment,
    check_expression,
    check_script,
)

NAMESPACES = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
              'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
              'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
              'id="definitions" targetNamespace="http://example.com/aftersales"')

# Start -> "Compute refund" script -> "Over the approval limit?" gateway -> manager or auto route.
REFUND_CHECK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {ns}>
  <bpmn:process id="refund_check" isExecutable="true">
    <bpmn:startEvent id="request_received"><bpmn:outgoing>to_compute</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="to_compute" sourceRef="request_received" targetRef="compute_refund"/>
    <bpmn:scriptTask id="compute_refund" name="Compute refund">
      <bpmn:incoming>to_compute</bpmn:incoming><bpmn:outgoing>to_check</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="to_check" sourceRef="compute_refund" targetRef="over_limit"/>
    <bpmn:exclusiveGateway id="over_limit" name="Over the approval limit?" default="to_auto">
      <bpmn:incoming>to_check</bpmn:incoming>
      <bpmn:outgoing>to_manager</bpmn:outgoing><bpmn:outgoing>to_auto</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="to_manager" sourceRef="over_limit" targetRef="manager_route">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_auto" sourceRef="over_limit" targetRef="auto_route"/>
    <bpmn:scriptTask id="manager_route" name="Route to manager">
      <bpmn:incoming>to_manager</bpmn:incoming><bpmn:outgoing>to_end_manager</bpmn:outgoing>
      <bpmn:script>route = 'manager'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="auto_route" name="Approve automatically">
      <bpmn:incoming>to_auto</bpmn:incoming><bpmn:outgoing>to_end_auto</bpmn:outgoing>
      <bpmn:script>route = 'auto'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="to_end_manager" sourceRef="manager_route" targetRef="end_manager"/>
    <bpmn:sequenceFlow id="to_end_auto" sourceRef="auto_route" targetRef="end_auto"/>
    <bpmn:endEvent id="end_manager"><bpmn:incoming>to_end_manager</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_auto"><bpmn:incoming>to_end_auto</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

PRICE_LOOKUP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {ns}>
  <bpmn:process id="price_lookup" isExecutable="true">
    <bpmn:startEvent id="request_received"><bpmn:outgoing>to_lookup</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="to_lookup" sourceRef="request_received" targetRef="look_up_price"/>
    <bpmn:serviceTask id="look_up_price" name="Look up price">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="lookup_price" resultVariable="price">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="sku" type="str" value="sku"/>
            <spiffworkflow:parameter id="quantity" type="int" value="qty * 2"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>to_lookup</bpmn:incoming><bpmn:outgoing>to_end</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="to_end" sourceRef="look_up_price" targetRef="done"/>
    <bpmn:endEvent id="done"><bpmn:incoming>to_end</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def parse(template: str, process_id: str, **parts: str):
    parser = SpiffBpmnParser(validator=VALIDATOR)
    xml = template.format(ns=NAMESPACES, **{k: escape(v) for k, v in parts.items()})
    parser.add_bpmn_str(xml.encode())
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


def refund_workflow(script: str, condition: str = "amount > 100", data: dict | None = None,
                    engine: PlatformScriptEngine | None = None) -> BpmnWorkflow:
    spec, subs = parse(REFUND_CHECK, "refund_check", script=script, condition=condition)
    wf = BpmnWorkflow(spec, subs, script_engine=engine or PlatformScriptEngine())
    wf.get_tasks(spec_name="request_received")[0].set_data(**(data or {"amount": 50}))
    return wf


def task(wf: BpmnWorkflow, spec_name: str):
    return wf.get_tasks(spec_name=spec_name)[0]


def save_and_restore(wf: BpmnWorkflow) -> BpmnWorkflow:
    return SERIALIZER.deserialize_json(SERIALIZER.serialize_json(wf))


@pytest.fixture
def march_first_9_30():
    at = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
    clock.freeze(at)
    try:
        yield at
    finally:
        clock.freeze(None)


# --- ordinary scripts and conditions --------------------------------------------------------------

ORDINARY_SCRIPT = """
lines = [{'sku': 'A1', 'price': 19.99, 'qty': 6}, {'sku': 'B2', 'price': 5.5, 'qty': 2}]
subtotal = sum(line['price'] * line['qty'] for line in lines)
amount = round2(subtotal * (1 - discount))
skus = sorted({line['sku'] for line in lines})
summary = f"{len(lines)} lines, {amount:.2f} EUR"
count = 0
for sku, line in zip(skus, lines):
    count += line.get('qty', 0)
customer['tier'] = 'gold' if amount > 50 and 'A1' in skus else 'basic'
"""


@pytest.mark.parametrize("restore_first", [False, True], ids=["in_memory", "save_restore"])
def test_script_writes_task_data_and_condition_picks_the_route(restore_first):
    engine = PlatformScriptEngine()
    wf = refund_workflow(ORDINARY_SCRIPT, data={"discount": 0.1, "customer": {"name": "Li"}},
                         engine=engine)
    if restore_first:
        wf = save_and_restore(wf)
        wf.script_engine = engine

    wf.do_engine_steps()

    assert wf.is_completed()
    data = task(wf, "manager_route").data
    assert data["amount"] == Decimal("117.85")  # (119.94 + 11.0) * 0.9 = 117.846
    assert data["skus"] == ["A1", "B2"]
    assert data["summary"] == "2 lines, 117.85 EUR"
    assert data["count"] == 8
    assert data["customer"] == {"name": "Li", "tier": "gold"}
    assert data["route"] == "manager"
    assert "round2" not in data and "__builtins__" not in data and "_getattr_" not in data


def test_condition_false_takes_the_default_flow():
    wf = refund_workflow("amount = amount + 10", data={"amount": 80})
    wf.do_engine_steps()
    assert wf.is_completed()
    assert task(wf, "auto_route").data == {"amount": 90, "route": "auto"}
    assert wf.get_tasks(spec_name="manager_route", state=TaskState.COMPLETED) == []


def test_helpers_read_the_platform_clock(march_first_9_30):
    env = RestrictedEnvironment()
    data = {"date": "2025-02-28"}  # task data may shadow a helper's name
    env.execute("due = iso(now() + timedelta(days=3))\nday = date", data)
    assert data["due"] == "2025-03-04T09:30:00+00:00"
    assert data["day"] == "2025-02-28"
    assert env.evaluate("now().year", {}) == 2025
    assert env.evaluate("round2(2.675)", {}) == Decimal("2.68")  # round() would give 2.67


def test_script_can_delete_data_and_functions_are_not_written_back():
    env = RestrictedEnvironment()
    data = {"draft": "x", "amount": 3}
    env.execute("def double(n):\n    return n * 2\namount = double(amount)\ndel draft", data)
    assert data == {"amount": 6}


@pytest.mark.timing
def test_evaluating_a_condition_is_fast():
    env = RestrictedEnvironment()
    data = {"amount": 150, "currency": "EUR", "customer": {"tier": "gold"}}
    assert env.evaluate("amount > 100", data) is True
    runs = 10_000
    started = time.perf_counter()
    for _ in range(runs):
        env.evaluate("amount > 100", data)
    per_call = (time.perf_counter() - started) / runs
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} us per evaluation"


def test_what_is_proved_cheap_runs_without_the_time_limits_tracer(monkeypatch):
    """A condition or a script without calls or loops runs each line once: nothing for the
    tracer to stop, so none is set; a loop run in process keeps its tracer."""
    traced = []
    monkeypatch.setattr(scripting, "sys", SimpleNamespace(
        gettrace=lambda: None, settrace=lambda tracer: traced.append(tracer)))
    env, data = RestrictedEnvironment(in_process=True), {"amount": 150}

    assert env.evaluate("amount > 100 and amount < 200", data) is True
    env.execute("route = 'manager' if amount > 100 else 'auto'", data)
    assert data["route"] == "manager" and traced == []

    env.execute("n = 0\nfor i in range(3):\n    n += 1", data)
    assert data["n"] == 3 and traced[0] is not None and traced[-1] is None


# --- refusals: the task goes to ERROR and the message names the problem ---------------------------

@pytest.mark.parametrize("script, message", [
    ("who = __import__('os').system('touch {marker}')", '"__import__" is an invalid variable name'),
    ("x = ().__class__.__base__.__subclasses__()", "invalid attribute name because it starts with"),
    ("import os\nos.system('touch {marker}')", "import statements are not allowed"),
    ("secret = open('/etc/passwd').read()", '"open()" is not allowed'),
    ("reader = open\nsecret = reader('/etc/passwd')", '"open" is not allowed'),
    ("x = getattr(amount, '__class__')", '"getattr()" is not allowed'),
    ("x = type(amount)", '"type()" is not allowed'),
    ("x = vars()", '"vars()" is not allowed'),
    ("x = globals()", '"globals()" is not allowed'),
    ("x = eval('1')", '"eval()" is not allowed'),
    ("exec('x = 1')", '"exec()" is not allowed'),
    ("x = compile('1', 'f', 'eval')", '"compile()" is not allowed'),
    ("x = Exception.mro()", '"mro" is not allowed'),
    ("x = 10**10**10", "number too large"),
    ("x = 'a' * 10**10", "sequence too large"),
    ("x = [0] * 10**10", "sequence too large"),
    ("x = 1 << 10**10", "number too large"),
    ("for i in range(10**9):\n    pass", "range too large"),
    ("when = datetime.now()", "use now()"),
    ("try:\n    x = 1\nexcept:\n    pass", "try statements"),
    ("raise SystemExit", "name 'SystemExit' is not defined"),
    ("d = {}\nx = d[5]", "KeyError"),  # a non-str args[0] used to crash Spiff's formatter
])
def test_refused_script_puts_the_task_in_error(script, message, tmp_path):
    marker = tmp_path / "pwned"
    wf = refund_workflow(script.replace("{marker}", str(marker)))

    with pytest.raises(WorkflowTaskException) as raised:
        wf.do_engine_steps()

    assert message in str(raised.value)
    assert task(wf, "compute_refund").state == TaskState.ERROR
    assert not wf.is_completed()
    assert not marker.exists()


@pytest.mark.parametrize("condition, message", [
    ("amount.__class__ is int", "invalid attribute name"),
    ("amount > limit", "NameError: name 'limit' is not defined"),
    ("amount >> > 1", "Line 1: syntax error"),
])
def test_refused_condition_puts_the_gateway_in_error(condition, message):
    wf = refund_workflow("checked = True", condition=condition)

    with pytest.raises(WorkflowTaskException) as raised:
        wf.do_engine_steps()

    assert f"Error evaluating expression '{condition}'" in str(raised.value)
    assert message in str(raised.value)
    assert task(wf, "over_limit").state == TaskState.ERROR


def test_failed_script_can_be_retried_after_fixing_the_data():
    wf = refund_workflow("refund = round2(amount * rate)", data={"amount": 120})
    with pytest.raises(WorkflowTaskException, match="name 'rate' is not defined"):
        wf.do_engine_steps()
    failed = task(wf, "compute_refund")
    assert failed.state == TaskState.ERROR and not wf.is_completed()

    wf.reset_from_task_id(failed.id, data={"amount": 120, "rate": 0.5})
    wf.do_engine_steps()

    assert wf.is_completed()
    assert task(wf, "manager_route").data["refund"] == 60.0


# --- time limit -----------------------------------------------------------------------------------

@pytest.mark.timing
@pytest.mark.parametrize("script", [
    "while True: pass",
    "n = 0\nfor i in range(1000000):\n    for j in range(1000000):\n        n += 1",
    "def grow(n):\n    return grow(n - 1) + grow(n - 1) if n else 1\nx = grow(60)",
    "x = [0 for a in range(1000) for b in range(1000) for c in range(1000)]",
])
def test_endless_script_is_stopped_at_the_time_limit(script):
    wf = refund_workflow(script, engine=PlatformScriptEngine(time_limit=0.2))
    started = time.monotonic()

    with pytest.raises(WorkflowTaskException, match="time limit of 0.2 s"):
        wf.do_engine_steps()

    # 0.2 s of the script's CPU time, or 0.6 of the clock when a loaded machine gave it less.
    assert time.monotonic() - started < 0.2 * scripting.WALL_LIMITS + 0.1
    assert task(wf, "compute_refund").state == TaskState.ERROR


def test_time_limit_works_outside_the_main_thread():
    wf = refund_workflow("while True: pass", engine=PlatformScriptEngine(time_limit=0.2))
    errors = []

    def run():
        try:
            wf.do_engine_steps()
        except WorkflowTaskException as err:
            errors.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=2)

    assert not worker.is_alive()
    assert len(errors) == 1 and "time limit" in str(errors[0])


@pytest.fixture
def waiting_clock(monkeypatch):
    """The tracer's wall clock `step` seconds later at every reading (a second unless set), as
    when the thread waits for the CPU between two lines on a loaded machine, or with `share`
    set the thread's CPU time over that share of a core; its CPU time is the real one."""
    clock = SimpleNamespace(step=1.0, now=0.0, share=None)

    def monotonic():
        if clock.share is not None:
            return time.thread_time() / clock.share
        clock.now += clock.step
        return clock.now
    monkeypatch.setattr(scripting, "time", SimpleNamespace(monotonic=monotonic,
                                                           thread_time=time.thread_time))
    return clock


def test_time_spent_waiting_for_the_cpu_does_not_count(waiting_clock):
    waiting_clock.step = 0.02         # 0.7 s of the clock for a limit of 0.5 s, within the 1.5
    data = {}

    RestrictedEnvironment(time_limit=0.5, in_process=True).execute(
        "refund = 0\nfor i in range(10):\n    refund += 1", data)

    assert data["refund"] == 10


def test_a_script_that_used_its_time_stops_whatever_the_clock_says(waiting_clock):
    waiting_clock.share = 0.5          # the limit's 0.2 s of CPU take 0.4 s of the clock
    with pytest.raises(TimeoutError, match="longer than the time limit of 0.2 s"):
        RestrictedEnvironment(time_limit=0.2, in_process=True).execute("while True: pass", {})


def test_waiting_counts_past_three_time_limits_of_the_clock(waiting_clock):
    data = {}
    with pytest.raises(TimeoutError, match="more than 1.5 s of the clock, 3 times its time "
                                           "limit of 0.5 s"):
        RestrictedEnvironment(time_limit=0.5, in_process=True).execute(
            "refund = 0\nfor i in range(50):\n    refund += 1", data)
    assert data.get("refund", 0) < 50


def test_validate_refuses_what_does_not_parse_each_time_it_is_asked():
    # SpiffWorkflow's DMN engine tells an operator from a value by whether "v > 100" parses
    # where "> 100" does not; the engine keeps each answer, the refusals included.
    engine = PlatformScriptEngine()
    for _ in range(2):
        engine.validate("v > 100")
        with pytest.raises(SyntaxError):
            engine.validate("> 100")


# --- service tasks --------------------------------------------------------------------------------

def price_workflow(engine: PlatformScriptEngine) -> BpmnWorkflow:
    spec, subs = parse(PRICE_LOOKUP, "price_lookup")
    wf = BpmnWorkflow(spec, subs, script_engine=engine)
    task(wf, "request_received").set_data(sku="A1", qty=3)
    return wf


def test_service_handler_gets_plain_params_and_its_result_lands_in_the_variable():
    calls = []

    def handler(task, operation_name, params):
        calls.append((task.task_spec.name, operation_name, params))
        return {"unit_price": 19.99, "currency": "EUR"}

    wf = price_workflow(PlatformScriptEngine(service_handler=handler))
    wf.do_engine_steps()

    assert calls == [("look_up_price", "lookup_price", {"sku": "A1", "quantity": 6})]
    assert wf.is_completed()
    assert task(wf, "done").data["price"] == {"unit_price": 19.99, "currency": "EUR"}


def test_failing_service_puts_the_task_in_error():
    def handler(task, operation_name, params):
        raise ConnectionError("price service unreachable")

    wf = price_workflow(PlatformScriptEngine(service_handler=handler))
    with pytest.raises(WorkflowTaskException,
                       match="service lookup_price failed: price service unreachable"):
        wf.do_engine_steps()
    assert task(wf, "look_up_price").state == TaskState.ERROR


def test_service_task_without_a_handler_says_so():
    wf = price_workflow(PlatformScriptEngine())
    with pytest.raises(WorkflowTaskException, match="no service handler is configured"):
        wf.do_engine_steps()
    assert task(wf, "look_up_price").state == TaskState.ERROR


# --- deploy-time checks ---------------------------------------------------------------------------

def test_check_reports_syntax_errors_with_their_line():
    assert check_script("total = 1\nrefund = (total *\n") == \
        "Line 2: syntax error: '(' was never closed"
    assert check_expression("amount >> > 100").startswith("Line 1: syntax error")


def test_check_reports_forbidden_constructs_without_running_them():
    assert '"__import__" is an invalid variable name' in check_script("x = 1\n__import__('os')")
    assert check_script("x = 1\nimport os").startswith("Line 2: import statements are not allowed")
    assert '"open()" is not allowed' in check_expression("open('/etc/passwd')")
    assert "invalid attribute name" in check_expression("().__class__")


def test_check_accepts_ordinary_code():
    assert check_script(ORDINARY_SCRIPT) is None
    assert check_expression("  amount > 100 and customer['tier'] == 'gold'  ") is None
    assert check_expression('"PT1S"') is None


# --- persistence trap -----------------------------------------------------------------------------

def test_restored_workflow_does_not_keep_our_engine():
    """Spiff gives a deserialized workflow a fresh, unrestricted engine: re-attach ours on load."""
    script = "kind = (1).__class__.__name__"  # harmless, but needs dunder access
    restored = save_and_restore(refund_workflow(script))

    assert not isinstance(restored.script_engine, PlatformScriptEngine)
    restored.do_engine_steps()  # ran unrestricted: this is the trap
    assert task(restored, "auto_route").data["kind"] == "int"

    reattached = save_and_restore(refund_workflow(script))
    reattached.script_engine = PlatformScriptEngine()
    with pytest.raises(WorkflowTaskException, match="invalid attribute name"):
        reattached.do_engine_steps()
