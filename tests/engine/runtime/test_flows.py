"""The after-sales flows of bpmn/ driven through the platform: requests filed from orders, engine
verbs one transaction each, the outbox dispatcher with the built-in ledger and courier, timers
fired by the timer job. Each scenario asserts what each department sees, the money in the ledger,
the notifications sent and the request's final status, and that its history replays.

Every scenario runs twice: 'restored' drops every in-process cache before each step, as if each
step ran in a newly started process.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock, orders, platform, service_requests
from engine.access import Actor
from engine.definitions import catalog
from engine.errors import Forbidden
from engine.definitions.bundle import Bundle
from engine.history import replay
from engine.jobs import outbox, sla, timers
from engine.models import AuditEvent, HumanTask, Ledger, Outbox, ServiceRequest, StaffTier
from tests.conftest import ROOT
from tests.sql_trace import statements_sent

CUSTOMER = Actor("c42", "customer", customer_id="C-42")
SHIPPED_BACK = {"tracking_no": "SF1234567890", "carrier": "SF"}
APPROVE_399 = {"refund_approved": True, "refund_amount": 399.0, "refund_note": "ok"}
PASSED = {"inspection_passed": True, "goods_condition": "as_new", "inspection_note": ""}
SUPERVISOR, MANAGEMENT = "cs_supervisor", "management"
FAILED = {"inspection_passed": False, "goods_condition": "used", "inspection_note": "worn"}


class Desk:
    """One after-sales request, worked the way the departments and the outside world do."""

    def __init__(self, sessions, settings, restored: bool):
        self.sessions, self.settings, self.restored = sessions, settings, restored
        self.runtime = platform.runtime(settings)
        self.number = None

    def _fresh(self):
        if self.restored:
            catalog._cache.clear()
            self.runtime = platform.runtime(self.settings)
        return self.runtime

    def file(self, **fields):
        runtime = self._fresh()
        with self.sessions.begin() as session:
            request = service_requests.file_request(session, runtime, {"order_id": "O-7781", "reason": "too small",
                                                               **fields}, CUSTOMER)
            self.number = request.number
        return self

    def ready(self) -> set[tuple[str, str]]:
        with self.sessions() as session:
            return {(t.bpmn_id, t.department) for t in session.scalars(
                select(HumanTask).where(HumanTask.business_key == self.number))}

    def complete(self, bpmn_id, department, by=1, **form):
        with self.sessions() as session:
            task = session.scalars(select(HumanTask).where(HumanTask.business_key == self.number,
                                                           HumanTask.bpmn_id == bpmn_id)).one()
        assert task.department == department
        runtime = self._fresh()
        with self.sessions.begin() as session:
            runtime.complete(session, task.task_id, form,
                             Actor(f"{department}_{by}", "staff", department))

    def send(self, name, payload):
        runtime = self._fresh()
        with self.sessions.begin() as session:
            runtime.deliver_message(session, name, self.number, payload)

    def dispatch(self):
        return outbox.dispatch_due(self.sessions, self._fresh())

    def advance(self, **delta):
        clock.advance(timedelta(**delta))
        timers.run_due(self.sessions, self._fresh())

    def tier(self, bpmn_id) -> str | None:
        """The service tier the SLA watch handed open task `bpmn_id` to (None: none yet)."""
        with self.sessions() as session:
            return session.scalars(select(HumanTask.tier).where(
                HumanTask.business_key == self.number, HumanTask.bpmn_id == bpmn_id)).one()

    def watch(self) -> set[str]:
        """Run the SLA watch; the departments of the request's open escalation tasks."""
        sla.check(self.sessions, self._fresh(), clock.now())
        with self.sessions() as session:
            return {t.department for t in session.scalars(select(HumanTask).where(
                HumanTask.business_key.startswith(f"ESC-{self.number}-")))}

    def survey(self, score):
        self.send("csat_submitted", {"score": score, "comment": "ok"})

    def ledger(self):
        with self.sessions() as session:
            return [(r.kind, str(r.amount), r.status) for r in session.scalars(
                select(Ledger).where(Ledger.request_no == self.number).order_by(Ledger.id))]

    def sent(self, operation="notify.customer"):
        key = {"notify.customer": "template", "shipping.ship": "what"}[operation]
        with self.sessions() as session:
            return [r.payload[key] for r in session.scalars(
                select(Outbox).where(Outbox.business_key == self.number, Outbox.operation == operation)
                .order_by(Outbox.id))]

    def request(self) -> ServiceRequest:
        with self.sessions() as session:
            return session.scalars(select(ServiceRequest).where(ServiceRequest.number == self.number)).one()

    def assert_closed(self, outcome, csat):
        request = self.request()
        assert (request.status, request.outcome, request.csat) == ("closed", outcome, csat)
        assert request.resolved_at is not None and request.closed_at is not None
        with self.sessions() as session:
            result = replay.verify(session, request.instance_id, self.runtime.script_engine)
        assert result.ok, result.divergence


@pytest.fixture(params=["warm", "restored"])
def desk(request, sessions, settings):
    with sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
        orders.upsert(session, "O-7781", _order("apparel", "TSHIRT-M", "399.00", "上海市徐汇区漕溪北路 88 号", 3))
        orders.upsert(session, "O-9001", {**_order("3c", "PHONE-X", "5999.00", "上海市静安区", 30),
                                          "warranty_until": (clock.now() + timedelta(days=335)).isoformat()})
    return Desk(sessions, settings, request.param == "restored")


def _order(category, sku, price, address, days_ago):
    return {"customer_id": "C-42", "category": category, "currency": "CNY", "paid_amount": price,
            "paid_at": (clock.now() - timedelta(days=days_ago)).isoformat(),
            # Delivered yesterday: every request type of these tests is open to the item.
            "delivered_at": (clock.now() - timedelta(days=1)).isoformat(), "shipping_address": address,
            "items": [{"sku": sku, "name": sku, "quantity": 1, "unit_price": price}]}


def test_request_is_filed_from_the_order_and_routed(desk):
    desk.file(type="return_refund")
    request = desk.request()
    assert (request.category, float(request.amount), request.route, request.status) == \
        ("apparel", 399.0, "refund_first", "in_progress")
    assert desk.ready() == {("approve_refund", "finance")}
    assert desk.sent() == ["request_received"]


def test_the_request_row_follows_its_instance_when_steps_skip_writing_it(desk, sql_engine):
    """service_requests.sync does not write the row again when this process wrote the same
    values for the instance's previous event (warm); a step on a reloaded workflow, a step
    after a suspension and a step that changes the row always write it."""
    def updates(sent):
        return [s for s in sent if s.startswith("UPDATE service_request")]
    with statements_sent(sql_engine) as sent:
        desk.file(type="return_refund")
        desk.complete("approve_refund", "finance", **APPROVE_399)
        desk.dispatch()
        sent.clear()
        desk.send("return_shipped", SHIPPED_BACK)      # the row does not change
        assert len(updates(sent)) == (1 if desk.restored else 0)
        sent.clear()
        operator = Actor("admin", "admin")
        instance_id = desk.request().instance_id
        for verb in (desk.runtime.suspend, desk.runtime.resume):
            with desk.sessions.begin() as session:
                verb(session, instance_id, operator, reason="customer asked to wait")
            assert desk.request().status == ("on_hold" if verb == desk.runtime.suspend
                                              else "in_progress")
        assert len(updates(sent)) == 2
        desk.complete("inspect_goods", "warehouse", **PASSED)     # the outcome: written
        assert (desk.request().status, desk.request().outcome) == ("resolved", "refunded")
        assert len(updates(sent)) == 3
        sent.clear()
        desk.send("csat_submitted", {"score": 4, "comment": ""})   # csat: written
        desk.assert_closed("refunded", 4)
        assert len(updates(sent)) == 1


def test_refund_first_pays_before_the_goods_come_back(desk):
    desk.file(type="return_refund")
    desk.complete("approve_refund", "finance", **APPROVE_399)
    assert desk.ledger() == [("refund", "399.00", "pending")]  # held, not paid, until delivered
    assert desk.dispatch()["done"] >= 1                  # payment + reply message + notifications
    assert desk.ledger() == [("refund", "399.00", "paid")]
    assert desk.ready() == set()
    desk.send("return_shipped", SHIPPED_BACK)
    assert desk.ready() == {("inspect_goods", "warehouse")}
    desk.complete("inspect_goods", "warehouse", **PASSED)
    desk.survey(5)
    desk.dispatch()
    assert desk.ledger() == [("refund", "399.00", "paid")]          # paid exactly once
    assert desk.sent() == ["request_received", "refund_paid", "return_instructions",
                           "goods_received", "resolved", "survey"]
    assert desk.request().first_response_at is not None
    desk.assert_closed("refunded", 5)


def test_refund_is_never_paid_twice_even_if_delivery_is_retried(desk, sessions):
    desk.file(type="return_refund")
    desk.complete("approve_refund", "finance", **APPROVE_399)
    desk.dispatch()
    with sessions.begin() as session:                    # a crash lost the 'done' mark
        for row in session.scalars(select(Outbox).where(Outbox.operation == "payment.refund")):
            row.status = "pending"
    desk.dispatch()
    desk.dispatch()
    assert desk.ledger() == [("refund", "399.00", "paid")]


def test_failed_inspection_after_refund_claws_back(desk):
    desk.file(type="return_refund")
    desk.complete("approve_refund", "finance", **APPROVE_399)
    desk.dispatch()
    desk.send("return_shipped", SHIPPED_BACK)
    desk.complete("inspect_goods", "warehouse", **FAILED)
    assert desk.ready() == {("clawback_review", "finance")}
    desk.complete("clawback_review", "finance", clawback_decision="claw_back", clawback_amount=200.0,
                  clawback_note="partial: used item")
    desk.dispatch()
    desk.survey(3)
    assert desk.ledger() == [("refund", "399.00", "paid"), ("clawback", "200.00", "paid")]
    desk.assert_closed("refunded_clawed_back", 3)


def test_goods_never_returned_follow_up_then_claw_back(desk):
    desk.file(type="return_refund")
    desk.complete("approve_refund", "finance", **APPROVE_399)
    desk.dispatch()
    desk.advance(days=7, seconds=1)
    assert desk.ready() == {("follow_up_return", "customer_service")}
    desk.complete("follow_up_return", "customer_service", customer_reached=True, new_deadline_days=3,
                  follow_up_note="promised to ship")
    desk.advance(days=3, seconds=1)
    desk.complete("clawback_review", "finance", clawback_decision="claw_back", clawback_amount=399.0)
    desk.dispatch()
    desk.survey(2)
    assert desk.ledger() == [("refund", "399.00", "paid"), ("clawback", "399.00", "paid")]
    desk.assert_closed("refunded_clawed_back", 2)


def test_standard_return_inspects_before_refunding(desk):
    desk.file(type="return_refund", order_id="O-9001")          # 5,999 CNY: not refund-first
    assert desk.request().route == "standard_return"
    assert desk.ready() == set()
    desk.send("return_shipped", SHIPPED_BACK)
    desk.complete("inspect_goods", "warehouse", **PASSED)
    desk.complete("approve_refund", "finance", refund_approved=True, refund_amount=5999.0)
    assert desk.ready() == {("second_approval", "finance")}       # above 2,000 CNY
    with pytest.raises(Forbidden, match="second person"):
        desk.complete("second_approval", "finance", second_approved=True)
    desk.complete("second_approval", "finance", by=2, second_approved=True)
    desk.dispatch()
    desk.survey(4)
    assert desk.ledger() == [("refund", "5999.00", "paid")]
    desk.assert_closed("refunded", 4)


def test_exchange_ships_a_replacement_and_pays_nothing(desk):
    desk.file(type="exchange")
    desk.send("return_shipped", SHIPPED_BACK)
    desk.complete("inspect_goods", "warehouse", **PASSED)
    assert desk.ready() == {("prepare_replacement", "warehouse")}
    schema_fields = _form_fields("prepare_replacement")
    desk.complete("prepare_replacement", "warehouse", **_sample(schema_fields))
    desk.dispatch()
    desk.survey(5)
    assert desk.ledger() == []
    assert desk.sent("shipping.ship") == ["replacement"]
    desk.assert_closed("exchanged", 5)


def test_onsite_pickup_books_the_courier_and_waits_for_the_pickup(desk):
    desk.file(type="return_refund", pickup=True)
    desk.complete("approve_refund", "finance", **APPROVE_399)
    desk.dispatch()                                      # refund paid
    assert desk.ready() == {("confirm_pickup_address", "logistics")}
    desk.complete("confirm_pickup_address", "logistics", pickup_address="上海市徐汇区漕溪北路 88 号",
                  contact_phone="+86 138 0000 0000")
    desk.dispatch()                                      # the built-in courier books a slot
    desk.send("picked_up", {"courier": "SF", "picked_up_at": "2026-11-24T10:12:00+08:00"})
    desk.complete("inspect_goods", "warehouse", **PASSED)
    desk.survey(5)
    assert "pickup_scheduled" in desk.sent()
    desk.assert_closed("refunded", 5)


def test_missed_pickups_are_rebooked_twice_then_escalated(desk):
    desk.file(type="return_refund", pickup=True)
    desk.complete("approve_refund", "finance", **APPROVE_399)
    desk.dispatch()
    desk.complete("confirm_pickup_address", "logistics", pickup_address="上海市静安区", contact_phone="+86 138 0000 0000")
    for _ in range(3):
        desk.dispatch()                                  # (re)book a slot
        desk.advance(days=1, hours=6)                    # the slot passes without a pickup
    assert desk.ready() == {("pickup_escalation", "customer_service")}
    with desk.sessions() as session:
        bookings = session.scalars(select(Outbox).where(Outbox.business_key == desk.number,
                                                        Outbox.operation == "courier.book_pickup")).all()
    assert len(bookings) == 3


def test_repair_in_warranty_with_a_failed_qa_loop(desk):
    desk.file(type="repair", order_id="O-9001", reason="screen flickers")   # in warranty by the order
    with desk.sessions() as session:
        started = session.scalars(select(AuditEvent).where(
            AuditEvent.instance_id == desk.request().instance_id, AuditEvent.seq == 1)).one()
    assert started.payload["data"]["in_warranty"] is True
    desk.complete("diagnose", "repair", fault_found=True, diagnosis="loose cable", estimated_cost=300.0,
                  in_warranty=True)
    desk.complete("repair_item", "repair", repair_done=True, parts_used="cable")
    desk.complete("qa_check", "qa", qa_passed=False, qa_note="still flickers")
    assert desk.ready() == {("repair_item", "repair")}
    desk.complete("repair_item", "repair", repair_done=True, parts_used="panel")
    desk.complete("qa_check", "qa", qa_passed=True, qa_note="ok")
    desk.dispatch()
    desk.survey(5)
    assert desk.sent("shipping.ship") == ["repaired"]
    desk.assert_closed("repaired", 5)


def test_repair_quote_unanswered_for_three_days_is_declined(desk):
    desk.file(type="repair", order_id="O-9001", reason="water damage")
    desk.complete("diagnose", "repair", fault_found=True, diagnosis="board", estimated_cost=800.0,
                  in_warranty=False)
    desk.complete("prepare_quote", "repair", quote_amount=850.0)
    assert "repair_quote" in desk.sent()
    desk.advance(days=3, seconds=1)
    desk.survey(2)
    assert desk.sent("shipping.ship") == ["unrepaired"]
    desk.assert_closed("returned_unrepaired", 2)


def test_repair_quote_approved_by_the_customer(desk):
    desk.file(type="repair", order_id="O-9001", reason="battery")
    desk.complete("diagnose", "repair", fault_found=True, diagnosis="battery", estimated_cost=200.0,
                  in_warranty=False)
    desk.complete("prepare_quote", "repair", quote_amount=220.0)
    desk.send("quote_answered", {"approved": True})
    desk.complete("repair_item", "repair", repair_done=True, parts_used="battery")
    desk.complete("qa_check", "qa", qa_passed=True)
    desk.survey(4)
    desk.assert_closed("repaired", 4)


def test_complaint_goes_up_the_tiers_then_to_supervisor_and_management(desk):
    # Filed Monday 10:00 in Shanghai: the 4 business hours to respond end at 14:00. It needs L1:
    # handed to L2 then, to an expert at 18:00, escalated to the supervisor on Tuesday at 13:00
    # and to management at 17:00, once per level; resolving closes both escalations.
    with desk.sessions.begin() as session:
        session.add(StaffTier(username="customer_service_1", tier="expert", updated_by="admin",
                              updated_at=clock.now()))
    desk.file(type="complaint", reason="courier was rude")
    assert desk.ready() == {("respond_to_complaint", "customer_service")}
    desk.advance(hours=4, minutes=1)
    assert (desk.watch(), desk.tier("respond_to_complaint")) == (set(), "L2")
    desk.advance(hours=4)
    assert (desk.watch(), desk.tier("respond_to_complaint")) == (set(), "expert")
    desk.advance(hours=19)
    assert desk.watch() == {SUPERVISOR}
    desk.advance(hours=4)
    assert desk.watch() == {SUPERVISOR, MANAGEMENT}
    assert desk.watch() == {SUPERVISOR, MANAGEMENT}
    desk.complete("respond_to_complaint", "customer_service",
                  complaint_response="We are sorry.", proposed_resolution="coupon")
    desk.complete("resolve_complaint", "customer_service",
                  complaint_resolution="Coupon 50 CNY", compensation_amount=50.0)
    desk.send("complaint_feedback", {"confirmed": True, "comment": "fine"})
    assert desk.watch() == set()          # resolved: the escalations were closed
    desk.advance(days=3, seconds=1)
    desk.complete("callback_customer", "customer_service", callback_done=True)
    desk.survey(3)
    desk.assert_closed("resolved", 3)


def test_reopened_complaint_goes_to_the_supervisor(desk):
    desk.file(type="complaint", reason="late delivery")
    desk.complete("respond_to_complaint", "customer_service",
                  complaint_response="Sorry.", proposed_resolution="coupon")
    desk.complete("resolve_complaint", "customer_service",
                  complaint_resolution="Coupon", compensation_amount=10.0)
    desk.send("complaint_feedback", {"confirmed": False, "comment": "not enough"})
    assert desk.ready() == {("handle_reopened_complaint", "cs_supervisor")}
    desk.complete("handle_reopened_complaint", "cs_supervisor", reopen_action="refund shipping")
    desk.complete("resolve_complaint", "customer_service",
                  complaint_resolution="Shipping refunded", compensation_amount=12.0)
    desk.send("complaint_feedback", {"confirmed": True, "comment": "ok"})
    desk.advance(days=3, seconds=1)
    desk.complete("callback_customer", "customer_service", callback_done=True)
    desk.advance(days=7, seconds=1)                      # the survey is never answered
    desk.assert_closed("resolved", None)


def _form_fields(bpmn_id):
    import json
    return json.loads((ROOT / "bpmn" / "forms" / f"{bpmn_id}.json").read_text("utf-8"))


def _sample(schema):
    """Minimal valid data for a form schema (required fields only)."""
    values = {}
    for name in schema.get("required", []):
        spec = schema["properties"][name]
        if "enum" in spec:
            values[name] = spec["enum"][0]
        else:
            values[name] = {"boolean": True, "number": 1.0, "integer": 1, "string": "ok"}[spec["type"]]
    return values
