"""A month of after-sales life for the demo: `fill(sessions, runtime, days, seed)`.

Starting `days` ago at local midnight, the platform clock (engine.clock) is frozen and moved
forward step by step to the moment `fill` was called. On the way, customers are sold orders
(engine.orders) and file requests from them (engine.service_requests), or call customer
service, which files for them (VIP customers always do); the staff of each department do the
tasks waiting for them in working hours (claimed when their department requires it, then
completed with form data as a person would type it: most in good time, some late, so SLAs are
at risk or breached and the SLA watch escalates); customers ship returns back, answer repair
quotes and complaint resolutions and rate the service (1-5, with a comment) through the same
answer path as the customer API; the courier reports pickups. Between steps the scheduler's
jobs run as engine.jobs.scheduler.PlatformScheduler runs them: timers, the outbox (with the
adapters the settings choose, built-in by default, so refunds are paid), the SLA watch, surge
alerts, staff digests, early-message expiry, the daily reconciliation and the reports.

Nothing is written to the tables directly: every change is an engine verb or a job, so the
instances' histories replay and verify like any other (`aftersales audit verify`). Everything
chosen is drawn from random.Random seeded with `seed` and the thing chosen about (a filing's
index, a task's request, element and opening time), so the same seed gives the same history.
Tasks of the last 24 hours are left for tomorrow, so the inbox has work; at the end the clock is
as `fill` found it: running real time again, or frozen at the moment `fill` was called (a test's
clock), so that what is filed afterwards is filed when the orders were sold.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine import clock, config, department_settings, demo, orders, service_requests, users
from engine.access import Actor
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.jobs.scheduler import RECONCILE_HOUR, REPORT_HOUR, PlatformScheduler
from engine.models import HumanTask, MessageSubscription, ServiceRequest, ShopOrder, User

# The clock moves this much at a time; staff and customers act at the end of a step. From
# midnight to the first filing of the morning nobody acts: only timers and jobs, every two hours.
STEP = timedelta(minutes=30)
NIGHT_STEP = timedelta(hours=2)
# Requests filed on an average day (weekends a little fewer); several hundred in a month.
PER_DAY = 12
# Customers file between 08:00 and 23:00 local time.
FILING_HOURS = (8, 23)
# The share of tasks done after their SLA's due time (the rest between 10 % and 90 % of it).
LATE_SHARE = 0.08
# How long a task without an SLA waits for its department, in working hours at most.
NO_SLA_HOURS = 6
# Tasks that opened this close to the end are left for tomorrow: the inbox has today's work.
LEFT_OPEN = timedelta(hours=24)
# Customers' answers: the share that never answers, and the hours they take otherwise.
SILENT_SHARE = {"csat_submitted": 0.25, "return_shipped": 0.05, "quote_answered": 0.1,
                "complaint_feedback": 0.15}
ANSWER_HOURS = {"csat_submitted": (2, 60), "return_shipped": (2, 30), "quote_answered": (1, 30),
                "complaint_feedback": (2, 40)}
# Orders in the history are numbered apart from the demo's own O-1xxx.
ORDER_PREFIX = "H-"

# What is sold: category -> (sku, name, unit price).
PRODUCTS = {
    "apparel": [("DRESS-M", "连衣裙", "329.00"), ("COAT-L", "羊毛大衣", "1299.00"),
                ("SHOES-42", "运动鞋", "599.00"), ("TSHIRT-XL", "纯棉T恤", "99.00")],
    "3c": [("PHONE-Y", "手机", "3999.00"), ("TABLET-10", "平板电脑", "2599.00"),
           ("EARBUDS-2", "蓝牙耳机", "699.00"), ("WATCH-S", "智能手表", "1499.00")],
    "fresh": [("CHERRY-2KG", "车厘子", "168.00"), ("SALMON-1KG", "三文鱼", "239.00"),
              ("MANGO-5KG", "芒果", "89.00")],
    "appliance": [("FRIDGE-300", "冰箱", "3299.00"), ("WASHER-8", "洗衣机", "2199.00"),
                  ("KETTLE-1", "电水壶", "159.00"), ("AIRCON-1", "空调", "2899.00")],
}
# (type, category, weight): what customers ask for, roughly as often as they do.
MIX = [("return_refund", "apparel", 18), ("return_refund", "fresh", 10),
       ("return_refund", "3c", 6), ("return_refund", "appliance", 4),
       ("exchange", "apparel", 10), ("exchange", "3c", 4), ("exchange", "appliance", 2),
       ("repair", "3c", 12), ("repair", "appliance", 8),
       ("complaint", "fresh", 6), ("complaint", "appliance", 6), ("complaint", "3c", 5),
       ("complaint", "apparel", 5)]
REASONS = {
    "return_refund": ["尺码不合适", "颜色和图片不一样", "质量太差，线头很多", "买错了型号", "不想要了",
                      "到货时已损坏", "收到的商品有异味", "包装破损，商品变形"],
    "exchange": ["尺码偏小，换大一号", "颜色发错了", "收到的是旧款", "有划痕，想换一个新的"],
    "repair": ["屏幕闪烁", "无法开机", "充电很慢", "左耳无声", "不制冷", "噪音很大", "漏水"],
    "complaint": ["快递员态度恶劣", "安装师傅迟到三小时", "客服一直不回复", "水果有一半是烂的",
                  "发票一直没开", "说好的赠品没有收到", "物流太慢，一周还没到"],
}
ADDRESSES = ["上海市徐汇区漕溪北路 88 号", "北京市朝阳区建国路 93 号", "广州市天河区体育西路 191 号",
             "杭州市西湖区文三路 259 号", "成都市武侯区人民南路四段 27 号", "南京市鼓楼区中山北路 30 号"]
RATING_COMMENTS = {
    5: ["处理得很快，非常满意", "客服很耐心，点赞", "退款秒到，下次还来"],
    4: ["总体不错，就是等得有点久", "问题解决了，谢谢"],
    3: ["一般吧，流程有点繁琐", "解决了，但沟通不太顺畅"],
    2: ["等了好几天才有人处理", "退款太慢了"],
    1: ["非常失望，再也不买了", "客服踢皮球，问题拖了很久", None],
}
RATING_WEIGHTS = {5: 45, 4: 25, 3: 12, 2: 8, 1: 10}
FEEDBACK_COMMENTS = {True: ["好的，谢谢", "可以接受", None], False: ["补偿太少", "问题根本没解决"]}
CUSTOMER_MESSAGES = tuple(SILENT_SHARE)


@dataclass(frozen=True)
class Filing:
    """One request the history files: when, by whom, about what."""

    at: datetime
    index: int
    customer: tuple[str, str, str]      # (username, customer id, tier)
    type: str
    category: str
    product: tuple[str, str, str]
    reason: str
    damage: bool
    pickup: bool
    by_phone: bool
    old_order: bool                     # bought over a year ago: out of warranty


def fill(sessions, runtime, days: int, seed: int = 1) -> dict:
    """Live `days` days up to now on the platform clock (see the module's docstring); returns
    counts {"requests", "finished", "tasks_done", "answers", "open_tasks"}. The demo's users
    and definitions must be there (engine.demo.load). The clock is left as it was found.
    Raises InvalidInput naming `history` for fewer than one day, Conflict when the database
    has requests already (the history would be lived behind their backs, before them)."""
    if not isinstance(days, int) or days < 1:
        raise InvalidInput("a history is at least one day", field="history")
    with sessions() as session:
        if session.scalar(select(ServiceRequest.id).limit(1)) is not None:
            raise Conflict("the database has requests already; a history goes before any "
                           "request: start from an empty database", field="history")
    end, found = clock.now(), clock.frozen()
    tz = ZoneInfo(runtime.settings.timezone)
    start = datetime.combine((end.astimezone(tz) - timedelta(days=days)).date(), time(0),
                             tz).astimezone(end.tzinfo)
    _ensure_people(sessions)
    world = _World(sessions, runtime, seed, tz)
    plan = _plan(seed, start, end, tz)
    try:
        t = start
        while t < end:
            night = t.astimezone(tz).hour < FILING_HOURS[0] and not \
                runtime.calendar.is_working_time(t)
            t = min(t + (NIGHT_STEP if night else STEP), end)
            clock.freeze(t)
            while plan and plan[0].at <= t:
                world.file(plan.pop(0))
            if runtime.calendar.is_working_time(t):
                world.work(t, end - LEFT_OPEN)
            world.answer(t)
            world.run_jobs(t)
    finally:
        world.close()
        clock.freeze(end if found is not None else None)
    with sessions() as session:
        world.counts["open_tasks"] = len(session.scalars(select(HumanTask.id)).all())
        world.counts["finished"] = len(session.scalars(select(ServiceRequest.id).where(
            ServiceRequest.number.in_(world.numbers),
            ServiceRequest.status.in_(("resolved", "closed")))).all())
    return world.counts


def present(sessions) -> bool:
    """Whether the database has a history already (an order of the history's)."""
    with sessions() as session:
        return session.scalar(select(ShopOrder.order_id).where(
            ShopOrder.order_id.startswith(ORDER_PREFIX)).limit(1)) is not None


def _plan(seed: int, start: datetime, end: datetime, tz: ZoneInfo) -> list[Filing]:
    """Every filing of the history, in time order, drawn from `seed`."""
    rng = random.Random(f"{seed}:plan")
    customers = [(name, customer_id, tier) for name, customer_id, tier in demo.CUSTOMERS]
    kinds = [(kind, category) for kind, category, _ in MIX]
    weights = [weight for *_, weight in MIX]
    filings = []
    day = start.astimezone(tz).date()
    while True:
        opens = datetime.combine(day, time(FILING_HOURS[0]), tz)
        if opens >= end:
            break
        weekend = day.weekday() >= 5
        count = max(0, round(rng.gauss(PER_DAY * (0.7 if weekend else 1.1), 3)))
        span = (FILING_HOURS[1] - FILING_HOURS[0]) * 3600
        for at in sorted(opens + timedelta(seconds=rng.randrange(span)) for _ in range(count)):
            kind, category = rng.choices(kinds, weights)[0]
            customer = rng.choice(customers)
            filings.append(Filing(
                at=at.astimezone(end.tzinfo), index=len(filings), customer=customer, type=kind,
                category=category, product=rng.choice(PRODUCTS[category]),
                reason=rng.choice(REASONS[kind]),
                damage=kind == "return_refund" and category == "fresh" and rng.random() < 0.6,
                pickup=kind == "return_refund" and category == "appliance",
                by_phone=customer[2] == "vip" or rng.random() < 0.15,
                old_order=kind == "repair" and rng.random() < 0.3))
        day += timedelta(days=1)
    return [f for f in filings if start <= f.at < end]


def _ensure_people(sessions) -> None:
    """The history's customers and second staff members (engine.demo), as user accounts."""
    with sessions.begin() as session:
        for name, customer_id, _ in demo.CUSTOMERS:
            if users.find(session, name) is None:
                users.create_user(session, name, demo.PASSWORD, "customer",
                                  customer_id=customer_id)
        for dept, name in demo.COLLEAGUES.items():
            if users.find(session, name) is None:
                users.create_user(session, name, demo.PASSWORD, _role(dept), department=dept)


def _role(dept: str) -> str:
    return "supervisor" if dept in config.SUPERVISES else "staff"


class _World:
    """The simulated people and the scheduler's jobs, acting on one platform."""

    def __init__(self, sessions, runtime, seed: int, tz: ZoneInfo):
        self.sessions, self.runtime, self.seed, self.tz = sessions, runtime, seed, tz
        self.scheduler = PlatformScheduler(sessions, runtime, worker="demo-history")
        self.seen: dict[tuple, datetime] = {}       # a customer's pending answer: first seen
        self.numbers: list[str] = []
        self.customers: dict[str, Actor] = {}
        self.counts = {"requests": 0, "finished": 0, "tasks_done": 0, "answers": 0,
                       "open_tasks": 0}
        self.last_daily: dict[str, object] = {}

    def close(self) -> None:
        self.runtime.timer_listeners.remove(self.scheduler.wake_at)

    def rng(self, *about) -> random.Random:
        return random.Random(":".join(str(part) for part in (self.seed, *about)))

    # -- customers ---------------------------------------------------------------------------

    def file(self, filing: Filing) -> None:
        """The shop's order (bought days before), then the request filed from it by the
        customer, or by customer service on the phone."""
        rng = self.rng("filing", filing.index)
        now = clock.now()
        name, customer_id, tier = filing.customer
        sku, product, price = filing.product
        bought = now - timedelta(days=rng.randint(400, 600) if filing.old_order else
                                 rng.randint(3, 12))
        order_id = f"{ORDER_PREFIX}{filing.index + 1:05d}"
        body = {"customer_id": customer_id, "category": filing.category, "currency": "CNY",
                "channel": rng.choice(["app", "web", "mini_program"]), "paid_amount": price,
                "paid_at": bought.isoformat(),
                "delivered_at": (bought + timedelta(days=rng.randint(1, 2))).isoformat(),
                "warranty_until": (bought + timedelta(days=365)).isoformat(),
                "shipping_address": rng.choice(ADDRESSES),
                "items": [{"sku": sku, "name": product, "quantity": 1, "unit_price": price}]}
        fields = {"order_id": order_id, "type": filing.type, "reason": filing.reason,
                  "damage": filing.damage, "pickup": filing.pickup}
        if filing.by_phone:
            actor = Actor(demo.STAFF["customer_service"], "staff", "customer_service")
            fields.update(customer_id=customer_id, customer_tier=tier)
        else:
            actor = self.customer(name, customer_id)
        with self.sessions.begin() as session:
            orders.upsert(session, order_id, body)
        with self.sessions.begin() as session:
            filed = service_requests.file_request(session, self.runtime, fields, actor)
            self.numbers.append(filed.number)
        self.counts["requests"] += 1

    def customer(self, name: str, customer_id: str) -> Actor:
        return self.customers.setdefault(name, Actor(name, "customer", customer_id=customer_id))

    def answer(self, now: datetime) -> None:
        """Customers answer what their requests wait for, each after a while of their own or
        never; the courier reports a pickup 16-30 hours after it was booked (after the slot
        at times: the process books again)."""
        with self.sessions() as session:
            waiting = session.execute(select(
                MessageSubscription.name, MessageSubscription.correlation,
                MessageSubscription.task_id, ServiceRequest.customer_id)
                .join(ServiceRequest, ServiceRequest.number == MessageSubscription.correlation)
                .where(MessageSubscription.name.in_(CUSTOMER_MESSAGES + ("picked_up",)))
                .order_by(MessageSubscription.id)).all()
            owners = dict(session.execute(select(User.customer_id, User.username)
                                          .where(User.role == "customer")).all())
        for name, number, task_id, customer_id in waiting:
            first = self.seen.setdefault((number, name, task_id), now)
            if name == "picked_up":
                self._picked_up(number, first, now)
                continue
            rng = self.rng("answer", number, name, first.isoformat())
            if rng.random() < SILENT_SHARE[name]:
                continue
            low, high = ANSWER_HOURS[name]
            if now < first + timedelta(hours=rng.uniform(low, high)):
                continue
            actor = self.customer(owners[customer_id], customer_id)
            with self.sessions.begin() as session:
                service_requests.answer(session, self.runtime, actor, number, name,
                                        _answer(name, rng), name)
            self.counts["answers"] += 1

    def _picked_up(self, number: str, first: datetime, now: datetime) -> None:
        rng = self.rng("pickup", number, first.isoformat())
        if now < first + timedelta(hours=rng.uniform(16, 30)):
            return
        with self.sessions.begin() as session:
            self.runtime.deliver_message(session, "picked_up", number, {
                "courier": "顺丰", "waybill": f"SF{rng.randrange(10**9, 10**10)}",
                "picked_up_at": now.isoformat()}, Actor("courier", "courier"))
        self.counts["answers"] += 1

    # -- staff -------------------------------------------------------------------------------

    def work(self, now: datetime, opened_before: datetime) -> None:
        """Staff do the tasks that opened before `opened_before` whose time has come: each
        task's time is drawn once, mostly before its due time, some after it."""
        with self.sessions() as session:
            tasks = session.scalars(select(HumanTask).where(
                HumanTask.department.in_(demo.STAFF), HumanTask.created_at < opened_before)
                .order_by(HumanTask.created_at, HumanTask.id)).all()
            required = {dept: department_settings.claim_required(session, dept)
                        for dept in demo.STAFF}
        for task in tasks:
            rng = self.rng("task", task.business_key, task.bpmn_id, task.created_at.isoformat())
            if now < self._done_at(task, rng):
                continue
            self._complete(task, rng, required[task.department])

    def _done_at(self, task: HumanTask, rng: random.Random) -> datetime:
        """When the department gets to `task`: within its SLA's time but for LATE_SHARE."""
        if task.due_at is None:
            return self.runtime.calendar.add(task.created_at,
                                             timedelta(hours=rng.uniform(0.5, NO_SLA_HOURS)))
        span = task.due_at - task.created_at
        late = rng.random() < LATE_SHARE
        if span < timedelta(hours=1) and not late:
            # Opened (almost) overdue, as an inspection when the return came late: done first.
            return self.runtime.calendar.add(task.created_at,
                                             timedelta(hours=rng.uniform(0.2, 1)))
        return task.created_at + max(span, timedelta(hours=1)) * (
            rng.uniform(1.1, 2.5) if late else rng.uniform(0.1, 0.9))

    def _complete(self, task: HumanTask, rng: random.Random, claim: bool) -> None:
        """The task done by one of its department's people (the other one when four eyes
        need someone else than who did the earlier task)."""
        people = [demo.STAFF[task.department]] + ([demo.COLLEAGUES[task.department]]
                                                   if task.department in demo.COLLEAGUES else [])
        rng.shuffle(people)
        with self.sessions() as session:
            request = session.scalars(select(ServiceRequest).where(
                ServiceRequest.number == task.business_key)).first()
            order = session.get(ShopOrder, request.order_id) if request is not None else None
            data = _form(task.bpmn_id, request, order, rng, clock.now())
        for name in people:
            actor = Actor(name, _role(task.department), task.department)
            try:
                with self.sessions.begin() as session:
                    if claim and task.claimed_by is None:
                        self.runtime.claim(session, task.task_id, actor)
                    self.runtime.complete(session, task.task_id, data, actor)
            except Forbidden:
                continue                    # four eyes: the colleague does it
            except NotFound:
                return                      # gone meanwhile (its request resolved)
            self.counts["tasks_done"] += 1
            return

    # -- the scheduler's jobs ----------------------------------------------------------------

    def run_jobs(self, now: datetime) -> None:
        """The jobs PlatformScheduler runs, in the order of their periods: the frequent ones
        every step, the daily ones once a day after their hour."""
        scheduler = self.scheduler
        scheduler.run_timers()
        scheduler.run_outbox()
        scheduler.run_sla()
        scheduler.run_surge()
        scheduler.run_message_expiry()
        local = now.astimezone(self.tz)
        if local.minute == 0:
            scheduler.run_staff_digest()
            scheduler.run_quality_watch()
        for job, hour in ((scheduler.run_reconciliation, RECONCILE_HOUR),
                          (scheduler.run_reports, REPORT_HOUR)):
            if local.hour >= hour and self.last_daily.get(job.__name__) != local.date():
                self.last_daily[job.__name__] = local.date()
                job()


def _answer(name: str, rng: random.Random) -> dict:
    """What a customer sends for message `name`."""
    if name == "return_shipped":
        return {"tracking_no": f"SF{rng.randrange(10**11, 10**12)}",
                "carrier": rng.choice(["SF", "YTO", "ZTO", "JD"])}
    if name == "quote_answered":
        return {"approved": rng.random() < 0.7}
    if name == "complaint_feedback":
        confirmed = rng.random() < 0.75
        return {"confirmed": confirmed, "comment": rng.choice(FEEDBACK_COMMENTS[confirmed])}
    score = rng.choices(list(RATING_WEIGHTS), list(RATING_WEIGHTS.values()))[0]
    return {"score": score, "comment": rng.choice(RATING_COMMENTS[score])}


def _money(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _form(bpmn_id: str, request, order, rng: random.Random, now: datetime) -> dict:
    """The form data a person of the department types for task `bpmn_id`: decisions mostly
    in the customer's favour, amounts from the request. Raises KeyError for a task the
    history does not know (a new task in bpmn/ needs its line here)."""
    amount = request.amount if request is not None else Decimal("0.00")
    yes = rng.random() < 0.9
    in_warranty = order is not None and order.warranty_until is not None and \
        order.warranty_until >= now
    sku = request.items[0]["sku"] if request is not None and request.items else "SKU"
    forms = {
        "approve_refund": lambda: {"refund_approved": yes, "refund_amount": amount if yes else
                                   _money(0), "refund_note": "符合退款条件" if yes else "超出退款范围"},
        "second_approval": lambda: {"second_approved": rng.random() < 0.95, "second_note": "复核无误"},
        "handle_refund_failure": lambda: {"refund_failure_cause": "provider_error",
                                          "refund_failure_note": "已联系支付渠道重试"},
        "prepare_replacement": lambda: {"replacement_sku": sku, "replacement_note": "同款新品"},
        "clawback_review": lambda: {
            "clawback_decision": "claw_back" if yes else "waive",
            "clawback_amount": _money(amount * Decimal("0.3")) if yes else _money(0),
            "clawback_note": "商品有使用痕迹"},
        "explain_rejection": lambda: {"rejection_reason": "商品已超出退货期限",
                                      "customer_contacted": True},
        "follow_up_return": lambda: {"customer_reached": yes, "new_deadline_days": 5,
                                     "follow_up_note": "已电话提醒客户寄回"},
        "inspect_goods": lambda: {
            "inspection_passed": yes,
            "goods_condition": rng.choice(["as_new", "opened"]) if yes else
            rng.choice(["used", "damaged", "missing_parts"]),
            "inspection_note": "包装完好" if yes else "商品有明显使用痕迹"},
        "confirm_pickup_address": lambda: {
            "pickup_address": order.shipping_address if order is not None else ADDRESSES[0],
            "contact_phone": f"138{rng.randrange(10**7, 10**8)}"},
        "pickup_escalation": lambda: {"pickup_resolution": "retry_pickup",
                                      "pickup_escalation_note": "已与快递重新约定"},
        "diagnose": lambda: {"fault_found": yes, "diagnosis": rng.choice(
            ["主板故障", "电池老化", "屏幕排线松动", "压缩机故障"]) if yes else "未检测到故障",
            "estimated_cost": _money(rng.randrange(50, 600)), "in_warranty": in_warranty},
        "prepare_quote": lambda: {"quote_amount": _money(rng.randrange(80, 800)),
                                  "quote_note": "含配件与人工"},
        "repair_item": lambda: {"repair_done": rng.random() < 0.95, "parts_used": "原厂配件"},
        "qa_check": lambda: {"qa_passed": rng.random() < 0.92, "qa_note": "功能测试通过"},
        "respond_to_complaint": lambda: {
            "complaint_response": "非常抱歉给您带来不便，我们正在处理",
            "proposed_resolution": rng.choice(["coupon", "apology", "partial_refund", "other"])},
        "resolve_complaint": lambda: {"complaint_resolution": "已补偿优惠券并改进服务",
                                      "compensation_amount": _money(rng.choice([0, 10, 20, 50]))},
        "handle_reopened_complaint": lambda: {"reopen_action": "主管回电并追加补偿"},
        "callback_customer": lambda: {"callback_done": True, "satisfaction_note": "客户表示满意"},
        "handle_sla_breach": lambda: {"action": rng.choice(
            ["reassigned", "contacted_customer", "deadline_extended"]), "note": "已跟进"},
        "handle_sla_breach_management": lambda: {"action": rng.choice(
            ["reassigned", "contacted_customer", "other"]), "note": "管理层已介入"},
        "investigate_complaint_surge": lambda: {"root_cause": "同一批次商品质量问题",
                                                "action_taken": "下架该批次并通知供应商"},
        "review_supplier_quality": lambda: {"supplier_action": "inspect_stock",
                                            "supplier_finding": "抽检库存中"},
    }
    return forms[bpmn_id]()
