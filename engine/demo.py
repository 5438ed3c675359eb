"""Demo data: the bpmn/ bundle deployed, one user per role and department, orders, and requests
moved far enough that every department has work waiting. Safe to run twice (it adds nothing
that is already there, except new requests when none of the demo ones exist).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from engine import client_secrets, clock, config, orders, service_requests, users
from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.demo_providers import Client
from engine.errors import NotFound
from engine.jobs import outbox
from engine.models import HumanTask, ServiceRequest, User

PASSWORD = "demo1234"

STAFF = {"customer_service": "cs_1", "cs_supervisor": "cs_sup", "management": "manager",
         "finance": "fin_1", "logistics": "log_1", "warehouse": "wh_1", "repair": "rep_1",
         "qa": "qa_1", "operations": "ops_1", "procurement": "pur_1"}
OTHERS = [("owner", "process_owner", None, None), ("auditor", "auditor", None, None),
          ("admin", "admin", None, None), ("alice", "customer", None, "C-1001"),
          ("bob", "customer", None, "C-1002"), ("courier", "courier", None, None),
          ("payment", "payment", None, None), ("shop", "shop", None, None)]
# The history (engine/demo_history.py): more customers (username, customer id, tier; VIPs call
# customer service, which files for them) and a second person in the departments that do most,
# so that four-eyes tasks have someone else to do them.
CUSTOMERS = [("alice", "C-1001", "normal"), ("bob", "C-1002", "normal"),
             ("carol", "C-1003", "vip"), ("dave", "C-1004", "normal"),
             ("erin", "C-1005", "normal"), ("frank", "C-1006", "vip"),
             ("grace", "C-1007", "normal"), ("heidi", "C-1008", "normal"),
             ("ivan", "C-1009", "normal"), ("judy", "C-1010", "normal")]
COLLEAGUES = {"customer_service": "cs_2", "finance": "fin_2", "warehouse": "wh_2",
              "repair": "rep_2"}

ORDERS = [  # order, customer, category, (sku, name, quantity, unit price)
    ("O-1001", "C-1001", "apparel", [("DRESS-S", "连衣裙", 1, "399.00")]),
    ("O-1002", "C-1001", "3c", [("PHONE-X", "手机", 1, "5999.00")]),
    ("O-1003", "C-1002", "fresh", [("CHERRY-1KG", "车厘子", 1, "88.00")]),
    ("O-1004", "C-1002", "appliance", [("FRIDGE-200", "冰箱", 1, "2499.00")]),
    ("O-1005", "C-1001", "apparel", [("JACKET-L", "夹克", 1, "259.00")]),
    ("O-1006", "C-1002", "3c", [("EARBUDS", "耳机", 1, "899.00")]),
]


def order(customer, category, lines) -> dict:
    """A demo order as the shop would send it to PUT /api/orders (paid five days ago)."""
    items = [{"sku": sku, "name": name, "quantity": quantity, "unit_price": price}
             for sku, name, quantity, price in lines]
    return {"customer_id": customer, "category": category, "currency": "CNY", "channel": "app",
            "paid_amount": str(sum(Decimal(price) * quantity for *_, quantity, price in lines)),
            "paid_at": (clock.now() - timedelta(days=5)).isoformat(),
            "delivered_at": (clock.now() - timedelta(days=3)).isoformat(),
            "warranty_until": (clock.now() + timedelta(days=300)).isoformat(),
            "shipping_address": "上海市徐汇区漕溪北路 88 号", "items": items}


def load(sessions, runtime, bpmn_dir: Path, send_order=None, history=None) -> list[str]:
    """Deploy, create users and orders, file and advance sample requests; returns a summary.

    `send_order(order_id, body)` sends each order as the shop does (the CLI passes one that
    calls PUT /api/orders as the demo's `shop` user); without it the orders are stored with
    the function that route calls. An order already there is left as it is. `history()`, when
    given, runs before the samples are filed (engine.demo_history.fill: weeks of past work,
    after which the samples are today's) and returns lines for the summary."""
    lines = []
    with sessions.begin() as session:
        for d in catalog.deploy(session, Bundle.from_folder(bpmn_dir), "demo"):
            lines.append(f"process {d.process_key} v{d.version}{'' if d.created else ' (unchanged)'}")
        for dept, name in STAFF.items():
            role = "supervisor" if dept in config.SUPERVISES else "staff"
            _user(session, name, role, dept, None)
        for name, role, dept, customer in OTHERS:
            _user(session, name, role, dept, customer)
        new = [(order_id, order(customer, category, order_lines))
               for order_id, customer, category, order_lines in ORDERS
               if not _known(session, order_id)]
        if send_order is None:
            for order_id, body in new:
                orders.upsert(session, order_id, body)
    for order_id, body in new if send_order is not None else ():
        send_order(order_id, body)
    lines.append(f"orders: {len(new)} sent by the shop" if send_order else
                 f"orders: {len(new)} stored")
    lines.append(f"users: {', '.join(sorted(STAFF.values()))}, " +
                 ", ".join(n for n, *_ in OTHERS) + f" (password {PASSWORD})")
    if history is not None:
        lines += history()
    with sessions() as session:
        if session.scalar(select(ServiceRequest.id).where(
                ServiceRequest.order_id.in_([o[0] for o in ORDERS])).limit(1)) is not None:
            return lines + ["sample requests already there"]
    _file_samples(sessions, runtime)
    with sessions() as session:
        for dept in config.DEPARTMENTS:
            n = len(session.scalars(select(HumanTask.id).where(HumanTask.department == dept)).all())
            lines.append(f"  {dept}: {n} task(s) waiting")
    return lines


# The demo's providers call back for days; a real client signs in again when its token ends.
PROVIDER_TOKEN_HOURS = 24 * 7
PROVIDER_USERS = ("payment", "courier")


def provider_clients(sessions) -> dict[str, Client]:
    """The bearer token and the client secret (issued if there is none: engine.client_secrets
    .ensure) of the demo's `payment` and `courier` machine users, with which the demo providers
    (engine/demo_providers.py) sign their callbacks. Raises NotFound when the demo users are
    not there (run load first)."""
    clients = {}
    with sessions.begin() as session:
        for name in PROVIDER_USERS:
            user = users.find(session, name)
            if user is None:
                raise NotFound(f"no user '{name}': load the demo data first (aftersales demo)",
                               field="username")
            token, _ = users.issue_token(session, user, PROVIDER_TOKEN_HOURS)
            clients[name] = Client(name, token, client_secrets.ensure(session, name))
    return clients


def _known(session, order_id) -> bool:
    try:
        orders.visible(session, SYSTEM, order_id)
    except NotFound:
        return False
    return True


def _user(session, name, role, dept, customer):
    if session.scalar(select(User.id).where(User.username == name)) is None:
        users.create_user(session, name, PASSWORD, role, department=dept, customer_id=customer)


def _file_samples(sessions, runtime):
    alice, bob = Actor("alice", "customer", customer_id="C-1001"), Actor("bob", "customer", customer_id="C-1002")

    def file(actor, **fields):
        with sessions.begin() as session:
            return service_requests.file_request(session, runtime, {"reason": "demo", **fields}, actor).number

    def complete(number, bpmn_id, **form):
        with sessions() as session:
            task = session.scalars(select(HumanTask).where(HumanTask.business_key == number,
                                                           HumanTask.bpmn_id == bpmn_id)).one()
        with sessions.begin() as session:
            runtime.complete(session, task.task_id, form, Actor(STAFF[task.department], "staff", task.department))

    def send(number, name, payload):
        with sessions.begin() as session:
            runtime.deliver_message(session, name, number, payload)

    approve = {"refund_approved": True, "refund_amount": 399.0, "refund_note": "ok"}
    file(alice, order_id="O-1001", type="return_refund", reason="尺码不合适")          # finance
    shipped = file(alice, order_id="O-1005", type="return_refund", reason="颜色不喜欢")
    complete(shipped, "approve_refund", **dict(approve, refund_amount=259.0))
    outbox.dispatch_due(sessions, runtime)
    send(shipped, "return_shipped", {"tracking_no": "SF1002003001", "carrier": "SF"})  # warehouse
    pickup = file(bob, order_id="O-1003", type="return_refund", damage=True, pickup=True,
                  reason="到货时已损坏")
    complete(pickup, "approve_refund", **dict(approve, refund_amount=88.0))
    outbox.dispatch_due(sessions, runtime)                                              # logistics
    file(alice, order_id="O-1002", type="repair", reason="屏幕闪烁")                    # repair
    fixed = file(bob, order_id="O-1006", type="repair", reason="左耳无声")
    complete(fixed, "diagnose", fault_found=True, diagnosis="焊点松动", estimated_cost=50.0,
             in_warranty=True)
    complete(fixed, "repair_item", repair_done=True, parts_used="焊锡")                 # qa
    file(bob, order_id="O-1004", type="complaint", reason="安装师傅迟到三小时")          # customer service
    reopened = file(alice, order_id="O-1005", type="complaint", reason="客服态度差")
    complete(reopened, "respond_to_complaint", complaint_response="非常抱歉", proposed_resolution="coupon")
    complete(reopened, "resolve_complaint", complaint_resolution="补偿 20 元优惠券", compensation_amount=20.0)
    send(reopened, "complaint_feedback", {"confirmed": False, "comment": "补偿太少"})    # cs_supervisor
    with sessions.begin() as session:                                                   # management
        runtime.start(session, "sla_escalation", {
            "request_no": "DEMO-SLA-1", "task_name": "Inspect returned goods 验货",
            "department": "warehouse", "escalate_to": "management", "priority": 1}, SYSTEM,
            business_key="ESC-DEMO-1")
        runtime.start(session, "surge_alert", {"request_no": "ALERT-DEMO-1", "category": "fresh",
                                               "count": 12, "baseline": 2.0, "priority": 1}, SYSTEM,
                      business_key="ALERT-DEMO-1")                                       # operations
