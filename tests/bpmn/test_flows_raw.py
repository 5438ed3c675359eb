"""Every path of the after-sales processes, driven on raw SpiffWorkflow with a tiny in-test driver
(no engine, no database), so the diagrams are known to run whatever the platform does around them.

Each scenario asserts the user tasks that become ready (BPMN id and department lane), the service
calls made (operator and the parameter that matters), and the final `outcome`. Every scenario runs
twice: in memory, and with a serialize/deserialize round trip after every step."""
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions import timer as timer_module
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)

REQUEST = {
    "request_no": "AS-20261123-0001", "order_id": "O-7781", "customer_id": "C-42", "customer_tier": "normal",
    "type": "return_refund", "category": "apparel", "amount": 399.0, "reason": "too small",
    "items": [{"sku": "TSHIRT-M", "qty": 1}], "damage": False, "pickup": False,
    "repeat_complaints": 0,
}


class Clock:
    """What the timer code sees as now(); tests move it forward."""
    now = T0


class FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        return Clock.now if tz is None else Clock.now.astimezone(tz)


class RecordingEngine(PythonScriptEngine):
    """The default engine, except that service calls are recorded and answered like the platform
    does: 'requested' at once, the real result arriving later as a message."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def call_service(self, task, operation_name, operation_params):
        params = {name: p["value"] for name, p in operation_params.items()}
        self.calls.append((operation_name, params))
        return json.dumps({"status": "requested", "idempotency_key": f"{operation_name}:{task.id}"})


class Run:
    def __init__(self, spec, subprocesses, data, roundtrip):
        self.engine = RecordingEngine()
        self.roundtrip = roundtrip
        self.restores = 0
        self.wf = BpmnWorkflow(spec, subprocesses, script_engine=self.engine)
        self.wf.get_next_task(spec_name="Start").set_data(**data)
        self._settle()

    def _settle(self):
        self.wf.do_engine_steps()
        if self.roundtrip:
            self.wf = SERIALIZER.deserialize_json(SERIALIZER.serialize_json(self.wf))
            self.wf.script_engine = self.engine
            self.restores += 1

    # -- what is there
    def ready(self):
        return {(t.task_spec.bpmn_id, t.task_spec.lane) for t in self.wf.get_tasks(state=TaskState.READY, manual=True)}

    def waiting_messages(self):
        names = set()
        for task in self.wf.get_tasks(state=TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            inner = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
            names.update(d.name for d in inner if isinstance(d, MessageEventDefinition))
        return names

    def data(self, bpmn_id):
        """Data of the last finished task with this BPMN id (in any subprocess)."""
        done = [t for t in self.wf.get_tasks() if t.task_spec.bpmn_id == bpmn_id and t.state == TaskState.COMPLETED]
        assert done, f"{bpmn_id} never ran"
        return max(done, key=lambda t: t.last_state_change).data

    def calls(self):
        """(operator, the parameter that tells the calls apart) for each service call so far."""
        out = []
        for op, params in self.engine.calls:
            key = {"notify.customer": "template", "shipping.ship": "what", "payment.refund": "amount",
                   "payment.clawback": "amount", "courier.book_pickup": "address"}[op]
            out.append((op, params[key]))
        return out

    # -- what happens
    def complete(self, bpmn_id, lane, also_ready=(), **form):
        assert self.ready() == {(bpmn_id, lane), *also_ready}, f"expected {bpmn_id} ready in {lane}"
        (task,) = [t for t in self.wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id]
        schema = json.loads((BPMN_DIR / "forms" / task.task_spec.extensions["properties"]["form"]).read_text("utf-8"))
        Draft202012Validator(schema).validate(form)
        task.set_data(**form)
        task.run()
        self._settle()

    def send(self, name, payload):
        assert name in self.waiting_messages(), f"not waiting for {name}: {self.waiting_messages()}"
        self.wf.send_event(BpmnEvent(MessageEventDefinition(name), payload))
        self._settle()

    def advance(self, **delta):
        Clock.now = Clock.now + timedelta(**delta)
        self.wf.refresh_timers()
        self._settle()

    def answer_survey(self, score):
        assert self.ready() == set()
        assert self.waiting_messages() == {"csat_submitted"}
        self.send("csat_submitted", {"score": score, "comment": "ok"})

    def assert_closed(self, outcome, csat):
        assert self.wf.is_completed()
        assert self.wf.data["outcome"] == outcome
        assert self.wf.data["csat"] == csat
        assert self.restores > 0 or not self.roundtrip


@pytest.fixture(scope="module")
def specs():
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_files([str(p) for p in sorted(BPMN_DIR.glob("*.bpmn"))])
    parser.add_dmn_files([str(p) for p in sorted(BPMN_DIR.glob("*.dmn"))])
    return {pid: (parser.get_spec(pid), parser.get_subprocess_specs(pid))
            for pid in ("aftersales_request", "onsite_pickup")}


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(timer_module, "datetime", FrozenDatetime)
    Clock.now = T0
    yield Clock


@pytest.fixture(params=[False, True], ids=["in_memory", "save_restore"])
def start(request, specs):
    def _start(process_id="aftersales_request", **data):
        spec, subprocesses = specs[process_id]
        return Run(spec, subprocesses, {**REQUEST, **data}, request.param)
    return _start


RECEIVED = ("notify.customer", "request_received")
RESOLVED_AND_SURVEY = [("notify.customer", "resolved"), ("notify.customer", "survey")]
PAID = {"status": "paid", "amount": 399.0, "reference": "RF-0001"}
SHIPPED_BACK = {"tracking_no": "SF1234567890", "carrier": "SF"}
APPROVE_399 = {"refund_approved": True, "refund_amount": 399.0, "refund_note": "ok"}
PASSED = {"inspection_passed": True, "goods_condition": "as_new", "inspection_note": ""}
FAILED = {"inspection_passed": False, "goods_condition": "used", "inspection_note": "worn, tags removed"}


# --- routing (DMN) ----------------------------------------------------------------------------

@pytest.mark.parametrize("request_data, expected", [
    ({"category": "fresh", "damage": True, "amount": 88.0}, ("refund_first", 1, "PT1H", "PT24H", True)),
    ({}, ("refund_first", 3, "PT4H", "P2D", True)),
    ({"category": "3c", "amount": 5999.0}, ("standard_return", 3, "PT4H", "P2D", False)),
    ({"category": "3c", "amount": 5999.0, "customer_tier": "vip"}, ("refund_first", 2, "PT2H", "P2D", True)),
    ({"type": "exchange"}, ("exchange", 3, "PT4H", "P2D", False)),
    ({"type": "repair", "category": "3c"}, ("repair", 2, "PT4H", "PT48H", False)),
    ({"type": "repair", "category": "appliance"}, ("repair", 3, "PT4H", "P5D", False)),
    ({"type": "complaint", "customer_tier": "vip"}, ("complaint", 2, "PT2H", "P1D", False)),
    ({"type": "complaint"}, ("complaint", 3, "PT4H", "P2D", False)),
    ({"type": "complaint", "repeat_complaints": 2}, ("complaint", 2, "PT4H", "P2D", False)),
])
def test_routing_decision(start, request_data, expected):
    run = start(**request_data)
    data = run.data("classify_request")
    assert (data["route"], data["priority"], data["respond_sla"], data["resolve_sla"],
            data["refund_first_eligible"]) == expected
    assert run.calls()[0] == RECEIVED
    assert run.engine.calls[0][1] == {"request_no": "AS-20261123-0001", "template": "request_received",
                                      "priority": expected[1]}


# --- refund first (先退款后退货) ----------------------------------------------------------------

def test_refund_first_then_goods_self_shipped_and_passed(start):
    run = start()
    run.complete("approve_refund", "finance", **APPROVE_399)
    assert run.engine.calls[-1] == ("payment.refund", {"request_no": "AS-20261123-0001", "amount": 399.0})
    assert run.waiting_messages() == {"refund_result"}
    run.send("refund_result", PAID)
    assert run.waiting_messages() == {"return_shipped"}
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.answer_survey(5)
    assert run.calls() == [RECEIVED, ("payment.refund", 399.0), ("notify.customer", "refund_paid"),
                           ("notify.customer", "return_instructions"), ("notify.customer", "goods_received"),
                           *RESOLVED_AND_SURVEY]
    run.assert_closed("refunded", 5)
    assert run.wf.data["refunded_amount"] == 399.0
    assert run.wf.data["return_shipment"] == SHIPPED_BACK


def test_refund_failure_is_handled_and_retried_and_survey_times_out(start):
    run = start()
    run.complete("approve_refund", "finance", **APPROVE_399)
    run.send("refund_result", {"status": "failed", "amount": 399.0, "reference": None})
    run.complete("handle_refund_failure", "finance", refund_failure_cause="wrong_account",
                 refund_failure_note="customer gave a new card")
    assert run.calls()[-1] == ("payment.refund", 399.0)
    run.send("refund_result", PAID)
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    assert run.waiting_messages() == {"csat_submitted"}
    run.advance(days=6)
    assert not run.wf.is_completed()
    run.advance(days=1, seconds=1)
    assert [c for c in run.calls() if c[0] == "payment.refund"] == [("payment.refund", 399.0)] * 2
    run.assert_closed("refunded", None)


def test_goods_not_returned_after_follow_up_are_clawed_back(start):
    run = start()
    run.complete("approve_refund", "finance", **APPROVE_399)
    run.send("refund_result", PAID)
    run.advance(days=7, seconds=1)
    run.complete("follow_up_return", "customer_service", customer_reached=True, new_deadline_days=3,
                 follow_up_note="promised to ship on Friday")
    assert run.waiting_messages() == {"return_shipped"}
    run.advance(days=2)
    assert run.ready() == set()
    run.advance(days=1, seconds=1)
    run.complete("clawback_review", "finance", clawback_decision="claw_back", clawback_amount=399.0,
                 clawback_note="goods never came back")
    assert run.engine.calls[-1] == ("payment.clawback", {"request_no": "AS-20261123-0001", "amount": 399.0})
    run.send("clawback_result", {"status": "paid", "amount": 399.0, "reference": "CB-0001"})
    run.answer_survey(2)
    assert run.calls()[-5:] == [("notify.customer", "return_instructions"), ("payment.clawback", 399.0),
                                ("notify.customer", "clawback"), *RESOLVED_AND_SURVEY]
    run.assert_closed("refunded_clawed_back", 2)


def test_customer_unreachable_claw_back_waived(start):
    run = start()
    run.complete("approve_refund", "finance", **APPROVE_399)
    run.send("refund_result", PAID)
    run.advance(days=7, seconds=1)
    run.complete("follow_up_return", "customer_service", customer_reached=False, new_deadline_days=0)
    run.complete("clawback_review", "finance", clawback_decision="waive", clawback_amount=0)
    run.answer_survey(4)
    assert "payment.clawback" not in [op for op, _ in run.calls()]
    run.assert_closed("clawback_waived", 4)
    assert run.wf.data["return_result"] == "not_returned"


def test_goods_shipped_by_the_new_deadline_are_inspected(start):
    run = start()
    run.complete("approve_refund", "finance", **APPROVE_399)
    run.send("refund_result", PAID)
    run.advance(days=7, seconds=1)
    run.complete("follow_up_return", "customer_service", customer_reached=True, new_deadline_days=5)
    run.advance(days=2)
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.answer_survey(5)
    run.assert_closed("refunded", 5)


def test_failed_inspection_after_refund_opens_claw_back(start):
    run = start()
    run.complete("approve_refund", "finance", **APPROVE_399)
    run.send("refund_result", PAID)
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **FAILED)
    run.complete("clawback_review", "finance", clawback_decision="claw_back", clawback_amount=200.0,
                 clawback_note="partial: used item")
    run.send("clawback_result", {"status": "paid", "amount": 200.0, "reference": "CB-0002"})
    run.answer_survey(3)
    assert ("payment.clawback", 200.0) in run.calls()
    run.assert_closed("refunded_clawed_back", 3)


def test_claw_back_that_fails_is_recorded(start):
    run = start()
    run.complete("approve_refund", "finance", **APPROVE_399)
    run.send("refund_result", PAID)
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **FAILED)
    run.complete("clawback_review", "finance", clawback_decision="claw_back", clawback_amount=399.0)
    run.send("clawback_result", {"status": "failed", "amount": 399.0, "reference": None})
    run.answer_survey(1)
    assert ("notify.customer", "clawback") not in run.calls()
    run.assert_closed("clawback_failed", 1)


def test_finance_declines_refund_first_so_goods_come_back_first(start):
    run = start()
    run.complete("approve_refund", "finance", refund_approved=False, refund_amount=0, refund_note="suspicious")
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.complete("approve_refund", "finance", **APPROVE_399)
    run.send("refund_result", PAID)
    run.answer_survey(4)
    assert run.calls()[1:5] == [("notify.customer", "return_instructions"), ("notify.customer", "goods_received"),
                                ("payment.refund", 399.0), ("notify.customer", "refund_paid")]
    run.assert_closed("refunded", 4)


# --- standard return (goods first) and exchange ------------------------------------------------

def test_standard_return_refunds_after_passed_inspection(start):
    run = start(category="3c", amount=5999.0)
    assert run.ready() == set() and run.waiting_messages() == {"return_shipped"}
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.complete("approve_refund", "finance", refund_approved=True, refund_amount=5999.0)
    assert run.ready() == {("second_approval", "finance")}     # above 2,000: four eyes
    run.complete("second_approval", "finance", second_approved=True, second_note="checked")
    run.send("refund_result", {"status": "paid", "amount": 5999.0, "reference": "RF-0002"})
    run.answer_survey(5)
    assert run.calls() == [RECEIVED, ("notify.customer", "return_instructions"), ("notify.customer", "goods_received"),
                           ("payment.refund", 5999.0), ("notify.customer", "refund_paid"), *RESOLVED_AND_SURVEY]
    run.assert_closed("refunded", 5)


def test_a_second_approver_can_send_a_large_refund_back(start):
    run = start(category="3c", amount=5999.0)
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.complete("approve_refund", "finance", refund_approved=True, refund_amount=5999.0)
    run.complete("second_approval", "finance", second_approved=False, second_note="check the box")
    assert run.ready() == {("approve_refund", "finance")}
    run.complete("approve_refund", "finance", refund_approved=True, refund_amount=1999.0)
    assert run.ready() == set()                                 # at or below 2,000: one pair
    assert ("payment.refund", 1999.0) in run.calls()


def test_standard_return_failed_inspection_is_rejected(start):
    run = start(category="3c", amount=5999.0)
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **FAILED)
    run.complete("explain_rejection", "customer_service", rejection_reason="The item shows signs of use.",
                 customer_contacted=True)
    run.answer_survey(2)
    assert ("notify.customer", "request_rejected") in run.calls()
    assert "payment.refund" not in [op for op, _ in run.calls()]
    run.assert_closed("rejected", 2)


def test_standard_return_declined_by_finance_after_inspection_is_rejected(start):
    run = start(category="3c", amount=5999.0)
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.complete("approve_refund", "finance", refund_approved=False, refund_amount=0, refund_note="outside policy")
    run.complete("explain_rejection", "customer_service", rejection_reason="Bought more than 30 days ago.",
                 customer_contacted=True)
    run.answer_survey(1)
    run.assert_closed("rejected", 1)


def test_standard_return_never_shipped_is_cancelled(start):
    run = start(category="3c", amount=5999.0)
    run.advance(days=7, seconds=1)
    run.complete("follow_up_return", "customer_service", customer_reached=True, new_deadline_days=0,
                 follow_up_note="customer keeps the item")
    run.answer_survey(3)
    assert ("notify.customer", "request_cancelled") in run.calls()
    run.assert_closed("cancelled_not_returned", 3)


def test_exchange_ships_a_replacement(start):
    run = start(type="exchange")
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.complete("prepare_replacement", "warehouse", replacement_sku="TSHIRT-L", replacement_note="")
    run.answer_survey(5)
    assert run.calls() == [RECEIVED, ("notify.customer", "return_instructions"), ("notify.customer", "goods_received"),
                           ("shipping.ship", "replacement"), ("notify.customer", "shipped"), *RESOLVED_AND_SURVEY]
    run.assert_closed("exchanged", 5)


def test_exchange_failed_inspection_is_rejected(start):
    run = start(type="exchange")
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **FAILED)
    run.complete("explain_rejection", "customer_service", rejection_reason="Damaged by the customer.",
                 customer_contacted=False)
    run.answer_survey(2)
    assert "shipping.ship" not in [op for op, _ in run.calls()]
    run.assert_closed("rejected", 2)


# --- on-site pickup (上门取件) ------------------------------------------------------------------

def _slot(hours_from_now):
    start = (Clock.now + timedelta(hours=hours_from_now)).astimezone(CST)
    return {"slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=3)).isoformat()}


def test_refund_first_with_onsite_pickup(start):
    run = start(pickup=True)
    run.complete("approve_refund", "finance", **APPROVE_399)
    run.send("refund_result", PAID)
    run.complete("confirm_pickup_address", "logistics", pickup_address="上海市徐汇区漕溪北路 88 号",
                 contact_phone="+86 138 0000 0000")
    assert run.engine.calls[-1] == ("courier.book_pickup", {"request_no": "AS-20261123-0001",
                                                            "address": "上海市徐汇区漕溪北路 88 号"})
    run.send("pickup_booked", _slot(20))
    assert run.waiting_messages() == {"picked_up"}
    run.send("picked_up", {"courier": "SF", "picked_up_at": "2026-11-24T10:12:00+08:00"})
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.answer_survey(5)
    assert ("notify.customer", "pickup_scheduled") in run.calls()
    assert ("notify.customer", "return_instructions") not in run.calls()
    run.assert_closed("refunded", 5)
    assert run.wf.data["pickup_result"] == "picked_up"


def _miss_pickups(run, times):
    for _ in range(times):
        run.send("pickup_booked", _slot(20))
        run.advance(hours=23, minutes=1)


def test_pickup_missed_three_times_is_escalated_and_customer_ships_it(start):
    run = start(pickup=True, category="3c", amount=5999.0)
    run.complete("confirm_pickup_address", "logistics", pickup_address="Beijing", contact_phone="13800000000")
    _miss_pickups(run, 2)
    assert [op for op, _ in run.calls()].count("courier.book_pickup") == 3
    _miss_pickups(run, 1)
    assert run.data("count_missed_pickup")["pickup_attempts"] == 3
    run.complete("pickup_escalation", "customer_service", pickup_resolution="arrange_self_ship",
                 pickup_escalation_note="customer drops it at a SF locker")
    assert run.waiting_messages() == {"return_shipped"}
    run.send("return_shipped", SHIPPED_BACK)
    run.complete("inspect_goods", "warehouse", **PASSED)
    run.complete("approve_refund", "finance", refund_approved=True, refund_amount=5999.0)
    run.complete("second_approval", "finance", second_approved=True)
    run.send("refund_result", {"status": "paid", "amount": 5999.0, "reference": "RF-0003"})
    run.answer_survey(3)
    assert [op for op, _ in run.calls()].count("courier.book_pickup") == 3
    run.assert_closed("refunded", 3)


def test_pickup_escalation_cancels_the_request(start):
    run = start(pickup=True, category="3c", amount=5999.0)
    run.complete("confirm_pickup_address", "logistics", pickup_address="Beijing", contact_phone="13800000000")
    _miss_pickups(run, 3)
    run.complete("pickup_escalation", "customer_service", pickup_resolution="cancel_request")
    run.answer_survey(2)
    run.assert_closed("cancelled_not_returned", 2)


def test_onsite_pickup_retry_after_escalation_books_again(start):
    run = start("onsite_pickup")
    run.complete("confirm_pickup_address", "logistics", pickup_address="Hangzhou", contact_phone="13900000000")
    _miss_pickups(run, 3)
    run.complete("pickup_escalation", "customer_service", pickup_resolution="retry_pickup",
                 pickup_escalation_note="customer is home all Saturday")
    assert [op for op, _ in run.calls()].count("courier.book_pickup") == 4
    run.send("pickup_booked", _slot(5))
    run.send("picked_up", {"courier": "SF", "picked_up_at": "2026-11-27T09:00:00+08:00"})
    assert run.wf.is_completed()
    assert run.wf.data["pickup_result"] == "picked_up"
    assert run.wf.data["pickup_attempts"] == 0


# --- repair (维修) ------------------------------------------------------------------------------

REPAIR = {"type": "repair", "category": "3c", "reason": "screen flickers"}
DIAGNOSED = {"fault_found": True, "diagnosis": "loose display cable", "estimated_cost": 300.0}


def test_repair_in_warranty_with_failed_qa_goes_back_to_repair(start):
    run = start(**REPAIR, in_warranty=True)
    run.complete("diagnose", "repair", **DIAGNOSED, in_warranty=True)
    run.complete("repair_item", "repair", repair_done=True, parts_used="display cable")
    run.complete("qa_check", "qa", qa_passed=False, qa_note="still flickers when warm")
    run.complete("repair_item", "repair", repair_done=True, parts_used="display panel")
    run.complete("qa_check", "qa", qa_passed=True, qa_note="8h burn-in ok")
    run.answer_survey(5)
    assert run.calls() == [RECEIVED, ("shipping.ship", "repaired"), ("notify.customer", "shipped"),
                           *RESOLVED_AND_SURVEY]
    run.assert_closed("repaired", 5)


def test_repair_out_of_warranty_quote_approved(start):
    run = start(**REPAIR)
    run.complete("diagnose", "repair", **DIAGNOSED, in_warranty=False)
    run.complete("prepare_quote", "repair", quote_amount=350.0, quote_note="panel + labour")
    assert run.engine.calls[-1] == ("notify.customer", {"request_no": "AS-20261123-0001", "template": "repair_quote",
                                                        "quote_amount": 350.0})
    run.send("quote_answered", {"approved": True})
    run.complete("repair_item", "repair", repair_done=True, parts_used="display panel")
    run.complete("qa_check", "qa", qa_passed=True)
    run.answer_survey(4)
    run.assert_closed("repaired", 4)


def test_repair_quote_declined_returns_item_unrepaired(start):
    run = start(**REPAIR)
    run.complete("diagnose", "repair", **DIAGNOSED, in_warranty=False)
    run.complete("prepare_quote", "repair", quote_amount=350.0)
    run.send("quote_answered", {"approved": False})
    run.answer_survey(3)
    assert run.calls()[-4:] == [("shipping.ship", "unrepaired"), ("notify.customer", "shipped"), *RESOLVED_AND_SURVEY]
    run.assert_closed("returned_unrepaired", 3)
    assert run.wf.data["quote_status"] == "declined"


def test_repair_quote_unanswered_for_three_days_counts_as_declined(start):
    run = start(**REPAIR)
    run.complete("diagnose", "repair", **DIAGNOSED, in_warranty=False)
    run.complete("prepare_quote", "repair", quote_amount=350.0)
    run.advance(days=2, hours=23)
    assert run.waiting_messages() == {"quote_answered"}
    run.advance(hours=1, seconds=1)
    run.answer_survey(2)
    assert ("shipping.ship", "unrepaired") in run.calls()
    run.assert_closed("returned_unrepaired", 2)
    assert run.wf.data["quote_status"] == "expired"


def test_repair_no_fault_found_is_sent_back(start):
    run = start(**REPAIR, in_warranty=True)
    run.complete("diagnose", "repair", fault_found=False, diagnosis="works as designed", in_warranty=True)
    run.answer_survey(4)
    assert ("shipping.ship", "unrepaired") in run.calls()
    run.assert_closed("no_fault_found", 4)


def test_repair_that_cannot_be_done_is_sent_back(start):
    run = start(**REPAIR)
    run.complete("diagnose", "repair", **DIAGNOSED, in_warranty=True)
    run.complete("repair_item", "repair", repair_done=False, parts_used="none: board discontinued")
    run.answer_survey(1)
    assert ("shipping.ship", "unrepaired") in run.calls()
    run.assert_closed("unrepairable", 1)


# --- complaint escalation (投诉升级) -------------------------------------------------------------

COMPLAINT = {"type": "complaint", "reason": "courier was rude"}
RESPONSE = {"complaint_response": "We are sorry and are looking into it.", "proposed_resolution": "coupon"}
RESOLUTION = {"complaint_resolution": "Coupon of 50 CNY, courier warned", "compensation_amount": 50.0}


def _confirm_and_call_back(run):
    run.send("complaint_feedback", {"confirmed": True, "comment": "thanks"})
    run.advance(days=2)
    assert run.ready() == set()
    run.advance(days=1, seconds=1)
    run.complete("callback_customer", "customer_service", callback_done=True, satisfaction_note="happy")


def test_complaint_answered_in_time_is_not_escalated(start):
    run = start(**COMPLAINT)
    run.advance(hours=3)
    run.complete("respond_to_complaint", "customer_service", **RESPONSE)
    run.advance(hours=9)
    run.complete("resolve_complaint", "customer_service", **RESOLUTION)
    _confirm_and_call_back(run)
    run.answer_survey(5)
    assert run.calls() == [RECEIVED, ("notify.customer", "complaint_response"),
                           ("notify.customer", "complaint_resolved"), *RESOLVED_AND_SURVEY]
    run.assert_closed("resolved", 5)


def test_complaint_has_no_wall_clock_escalation_of_its_own(start):
    # Escalation is the platform's SLA watch, in business time (engine/jobs/sla.py): a night
    # without an answer opens no task in the process, and nothing keeps the complaint open.
    run = start(**COMPLAINT)
    run.advance(hours=16)
    assert run.ready() == {("respond_to_complaint", "customer_service")}
    run.complete("respond_to_complaint", "customer_service", **RESPONSE)
    run.complete("resolve_complaint", "customer_service", **RESOLUTION)
    run.send("complaint_feedback", {"confirmed": True, "comment": "fine"})
    assert run.data("record_resolved")["outcome"] == "resolved"    # resolved when confirmed
    run.advance(days=3, seconds=1)
    run.complete("callback_customer", "customer_service", callback_done=True)
    run.answer_survey(3)
    run.assert_closed("resolved", 3)


def test_reopened_complaint_goes_to_supervisor_then_silence_confirms(start):
    run = start(**COMPLAINT)
    run.complete("respond_to_complaint", "customer_service", **RESPONSE)
    run.complete("resolve_complaint", "customer_service", **RESOLUTION)
    run.send("complaint_feedback", {"confirmed": False, "comment": "50 CNY is not enough"})
    run.complete("handle_reopened_complaint", "cs_supervisor", reopen_action="offer a full refund of shipping")
    run.complete("resolve_complaint", "customer_service", complaint_resolution="Refund of shipping fee",
                 compensation_amount=12.0)
    run.advance(days=3, seconds=1)
    assert run.data("assume_confirmed")["customer_feedback"]["confirmed"] is True
    run.advance(days=3, seconds=1)
    run.complete("callback_customer", "customer_service", callback_done=False, satisfaction_note="no answer")
    run.answer_survey(4)
    assert [c for c in run.calls() if c == ("notify.customer", "complaint_resolved")] == \
        [("notify.customer", "complaint_resolved")] * 2
    run.assert_closed("resolved", 4)
