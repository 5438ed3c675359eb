"""The book of money: every refund and claw-back, checked against what the order paid, written
in the ledger before anything is paid, and settled once by the provider's answer.

Where the money moves, the rules hold whatever a form or a script says:

- a refund never exceeds what was paid for the request's items, less the refunds already paid
  or pending for the request (claw-backs collected give room back), nor what the order paid less
  every refund paid or pending on the order across its requests, nor what its items are still
  worth after the refunds of the order's other requests that had the same items (`items_left`:
  a request filed for an item after another request's refund closed is not refunded for it
  twice);
- a claw-back never exceeds what was refunded (paid) for the request, less the claw-backs
  already asked for;
- an amount is a Decimal above 0 with at most two decimals.

`guard()` is the runtime's payment guard (engine/platform.py wires it): in the unit of work that
asks for a payment (the service task `payment.refund` or `payment.clawback`), before anything is
written, it `reserve()`s each payment: a pending ledger row and the order's balance
(`order_balance`, whose CHECK constraints make the database refuse what the code would let
through). A payment the book refuses raises PaymentRefused, so the step becomes the instance's
incident (engine/runtime/incidents.py) with the reason, and nothing is paid.

Nothing is locked: the book reads what is committed, decides, and queues its writes with the
unit's (engine.prebuilt.write), so on PostgreSQL no transaction is open while it decides. A
balance moves by an amount added to what its row holds when the write is sent, so two payments
of one order at once both count, and one past what was paid breaks a CHECK: the unit lost its
race (LostRace) and, run again, reads the balance again and refuses the payment itself. Two
payments of one request are asked for by units of work of its instance, which the instance's
version check already puts one after the other; a settlement changes a row only while it is
pending.

`settle()` records the provider's answer once: paid or failed (a failed payment gives its amount
back to the balance). The built-in adapter settles at delivery; a real provider settles in its
HTTP answer or later in a callback (`receive_result`). Only then does the instance hear of it,
with the ledger's amount, never the provider's or a form's.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from engine import clock, message_buffer, money, orders, prebuilt, service_requests
from engine.access import Actor
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.models import Ledger, OrderBalance, Outbox, ServiceRequest

KINDS = {"payment.refund": "refund", "payment.clawback": "clawback"}
RESULT_MESSAGES = {"refund": "refund_result", "clawback": "clawback_result"}
SETTLED = ("paid", "failed")
# A form field that is an approved refund (check_refundable), and the field saying it is paid.
REFUNDABLE, REFUNDABLE_WHEN = "x-refundable", "x-refundable-when"
_REPORTED = "reported "     # a held payment's provider_status: "reported 999.00" (`_hold`)
FINANCE = "finance"


class PaymentRefused(Exception):
    """A payment the book will not make. The step that asked for it becomes an incident at
    `element` (the service task) with this message."""

    def __init__(self, message: str, element: str | None = None):
        super().__init__(message)
        self.element = element


@dataclass
class Totals:
    """Sums of a request's (or an order's) ledger rows."""

    refunds_held: Decimal = money.ZERO      # pending + paid
    refunds_paid: Decimal = money.ZERO
    clawbacks_held: Decimal = money.ZERO
    clawbacks_paid: Decimal = money.ZERO

    @property
    def refunded(self) -> Decimal:
        """Refunded and not clawed back, counting pending refunds."""
        return self.refunds_held - self.clawbacks_paid


# The statements of the money path, built once (see engine/runtime/writeback.py).
_LEDGER = prebuilt.rows_of(Ledger).where(Ledger.idempotency_key == bindparam("key"))
_LEDGER_LOCKED = _LEDGER.with_for_update()
_REQUEST = prebuilt.rows_of(ServiceRequest).where(ServiceRequest.number == bindparam("number"))
_BALANCE = prebuilt.rows_of(OrderBalance).where(OrderBalance.order_id == bindparam("order_id"))
# A pending payment settled, if it still is (SET from the parameters' keys).
_SETTLE = update(Ledger.__table__).where(Ledger.id == bindparam("b_id"),
                                         Ledger.status == "pending")
_BALANCE_COLUMNS = ("refunds_held", "refunds_paid", "clawbacks_held", "clawbacks_paid")
# A balance column moved by an amount: added to what the row holds when it is sent, and rounded
# to the cent, since SQLite adds NUMERIC columns as floats (120.10 - 120.00 is 0.0999...).
_MOVES = {column: update(OrderBalance.__table__)
          .where(OrderBalance.order_id == bindparam("b_order_id"))
          .values({column: func.round(getattr(OrderBalance, column) + bindparam("moved"), 2)})
          for column in _BALANCE_COLUMNS}
_OF_REQUEST = select(Ledger).where(Ledger.request_no == bindparam("number")).order_by(Ledger.id)
# The refunds and claw-backs of an order's other requests, and those requests' lines.
_OTHERS = (select(Ledger.request_no, Ledger.kind, Ledger.status, func.sum(Ledger.amount))
           .where(Ledger.order_id == bindparam("order_id"),
                  Ledger.request_no != bindparam("number"), Ledger.status != "failed")
           .group_by(Ledger.request_no, Ledger.kind, Ledger.status))
_LINES_OF = select(ServiceRequest.number, ServiceRequest.items).where(
    ServiceRequest.number.in_(bindparam("numbers", expanding=True)))


def _totals_of(column):
    return (select(Ledger.kind, Ledger.status, func.sum(Ledger.amount))
            .where(column == bindparam("value"), Ledger.status != "failed")
            .group_by(Ledger.kind, Ledger.status))


_REQUEST_TOTALS, _ORDER_TOTALS = _totals_of(Ledger.request_no), _totals_of(Ledger.order_id)


def guard(session: Session, business_key: str, intents, actor: Actor) -> None:
    """The runtime's payment guard: reserve every payment among a unit's outbox `intents`.
    Raises PaymentRefused."""
    for intent in intents:
        kind = KINDS.get(intent.operation)
        if kind is not None:
            reserve(session, business_key, kind, intent, actor)


def reserve(session: Session, request_no: str, kind: str, intent, actor: Actor) -> Ledger:
    """The pending ledger row of `intent` (a refund or claw-back of `request_no`), its amount
    held on the order's balance; the row already written for the same idempotency key (a
    retried step) is returned as it is. The intent's payload amount becomes the checked
    Decimal. Raises PaymentRefused with the reason."""
    existing = by_key(session, intent.idempotency_key)
    if existing is not None:
        return existing
    try:
        value = money.amount(intent.payload.get("amount"), "amount", positive=True)
    except InvalidInput as err:
        raise PaymentRefused(f"{kind} for {request_no} refused: {err.message} "
                             f"(got {intent.payload.get('amount')!r})", intent.element) from None
    request = prebuilt.one(session, ServiceRequest, _REQUEST, {"number": request_no})
    if request is None:
        raise PaymentRefused(f"{kind} for {request_no} refused: it is no after-sales request "
                             "filed from an order, so nothing was paid for it", intent.element)
    # Read before a new balance row is queued: a read after it would begin the transaction.
    mine, items_left = totals(session, request_no=request_no), _items_left(session, request, kind)
    balance = _balance(session, request.order_id)
    left = room(request, mine, balance, kind, items_left)
    if value > left:
        raise PaymentRefused(_too_much(kind, value, left, request, balance), intent.element)
    _move(session, balance, "refunds_held" if kind == "refund" else "clawbacks_held", value)
    row = Ledger(idempotency_key=intent.idempotency_key, request_no=request_no,
                 order_id=request.order_id, kind=kind, amount=value, status="pending",
                 actor=actor.name, created_at=clock.now())
    prebuilt.add_queued(session, row, lost=Conflict.lost_race)      # a retried step's twin, at once
    intent.payload["amount"] = value
    return row


def check_refundable(session: Session, request_no: str, schema: dict | None, data: dict) -> None:
    """The runtime's form guard: a form field marked `"x-refundable": true` in its JSON Schema
    (a refund amount a person approves) is above 0 and at most what request `request_no` may
    still be refunded (`room`), so that an approval of more is refused at the form, naming the
    field, rather than becoming the payment step's incident; with `"x-refundable-when":
    "refund_approved"` only when that field of the form is true (a refusal's amount is not
    paid). The payment guard still has the last word when the payment is asked for. Raises
    InvalidInput."""
    marked = [name for name, spec in ((schema or {}).get("properties") or {}).items()
              if isinstance(spec, dict) and spec.get(REFUNDABLE) is True
              and isinstance(data.get(name), Decimal)
              and data.get(spec.get(REFUNDABLE_WHEN), True) is True]
    for name in marked:
        if data[name] <= 0:
            raise InvalidInput(f"{name} must be above 0 for a refund", field=name)
    request = prebuilt.one(session, ServiceRequest, _REQUEST, {"number": request_no}) \
        if marked else None
    left = refundable(session, request) if request is not None else None
    if left is None:
        return                      # nothing known to be paid: the payment guard refuses it
    for name in marked:
        if data[name] > left:
            try:
                balance = _balance(session, request.order_id, keep=False)
            except PaymentRefused:
                return
            raise InvalidInput(_too_much("refund", data[name], left, request, balance),
                               field=name, details={"field": name,
                                                    "refundable": money.text(left)})


def refundable(session: Session, request: ServiceRequest) -> Decimal | None:
    """How much more `request` may be refunded now (`room`); None for a request of no order.
    Until a payment of its order was ever asked for (the order has no balance row yet), that
    is what its items cost, read without a statement more."""
    if not request.order_id:
        return None
    balance = prebuilt.one(session, OrderBalance, _BALANCE, {"order_id": request.order_id})
    if balance is None:
        return request.amount
    return room(request, totals(session, request_no=request.number), balance, "refund",
                _items_left(session, request, "refund"))


def room(request: ServiceRequest, mine: Totals, balance: OrderBalance, kind: str,
         items_left: Decimal | None = None) -> Decimal:
    """How much more `kind` the request may still get, given the totals of its ledger rows and
    what its items are still worth (`items_left`, default: what they cost)."""
    if kind == "refund":
        order_left = balance.paid - (balance.refunds_held - balance.clawbacks_paid)
        worth = request.amount if items_left is None else min(request.amount, items_left)
        return max(money.ZERO, min(worth - mine.refunded, order_left))
    return max(money.ZERO, mine.refunds_paid - mine.clawbacks_held)


def _items_left(session: Session, request: ServiceRequest, kind: str) -> Decimal | None:
    """What a refund of `request`'s items may still come to after the refunds (net of the
    claw-backs paid) of the order's other requests: per line, what the order paid for its sku
    less what the other requests that had the sku were refunded, at most the line's cost. A
    refund is not told per item, so each other request's refund counts against every sku it had
    (up to its own line's cost): no item is refunded twice, at the price of sometimes refusing
    a refund an operator then checks. None when no other request of the order had a refund, or
    the request's lines have no prices (filed before they had: its amount is the only cap)."""
    mine = _priced(request.items)
    if kind != "refund" or not request.order_id or not mine:
        return None
    refunded: dict[str, Decimal] = defaultdict(Decimal)
    for number, row_kind, status, amount in prebuilt.read(
            session, _OTHERS, {"order_id": request.order_id, "number": request.number}):
        if row_kind == "refund":
            refunded[number] += Decimal(amount)
        elif status == "paid":
            refunded[number] -= Decimal(amount)
    refunded = {number: net for number, net in refunded.items() if net > 0}
    order = orders.find(session, request.order_id) if refunded else None
    if order is None:
        return None
    taken: dict[str, Decimal] = defaultdict(Decimal)
    for number, lines in session.execute(_LINES_OF, {"numbers": sorted(refunded)}):
        for line in _priced(lines):
            taken[line["sku"]] += min(refunded[number], orders.line_total(line))
    paid_for = {line["sku"]: orders.line_total(line) for line in _priced(order.items)}
    return sum((min(orders.line_total(line),
                    max(money.ZERO, paid_for.get(line["sku"], money.ZERO) - taken[line["sku"]]))
                for line in mine), money.ZERO)


def _priced(lines) -> list[dict]:
    """The lines of an order or request that name an sku, a quantity and a unit price (a
    request filed before items had prices has none)."""
    return [line for line in lines or [] if isinstance(line, dict)
            and {"sku", "quantity", "unit_price"} <= set(line)]


def settle(session: Session, idempotency_key: str, status: str, *, reference: str | None = None,
           provider_status: str | None = None) -> Ledger:
    """Record the provider's final answer for a payment; returns its ledger row. The same
    answer again returns the row unchanged. Raises NotFound (no such payment), Conflict (it was
    settled otherwise already), InvalidInput (a status other than paid or failed)."""
    _check_settled(status)
    row = by_key(session, idempotency_key)
    if row is None:
        raise NotFound(f"no payment has the idempotency key {idempotency_key}",
                       field="idempotency_key")
    if row.status != "pending":
        if row.status == status:
            return row
        raise Conflict(f"payment {idempotency_key} is already {row.status}", field="status")
    held, paid = ("refunds_held", "refunds_paid") if row.kind == "refund" else \
        ("clawbacks_held", "clawbacks_paid")
    column, moved = (paid, row.amount) if status == "paid" else (held, -row.amount)
    _move(session, _balance(session, row.order_id), column, moved)
    values = {"status": status, "settled_at": clock.now(), "reference": reference or row.reference,
              "provider_status": (provider_status or status)[:40]}     # the column's width
    # Settled once: the answer settled by another writer meanwhile changes no row (lost, and
    # run again it finds the payment settled).
    prebuilt.write(session, _SETTLE, dict(values, b_id=row.id), rows=1, lost=Conflict.lost_race)
    prebuilt.changed(session, row, values)
    return row


def _move(session: Session, balance: OrderBalance, column: str, amount: Decimal) -> None:
    """Queue the move of the balance's `column` by `amount`, added to what the row holds when
    it is sent: of two payments of one order at once the second adds to the first's, and the
    CHECK constraints refuse a sum past what the order paid (lost: run again, the room left is
    read again, and the book refuses the payment itself). The object reads the column again
    when next asked."""
    prebuilt.write(session, _MOVES[column], {"b_order_id": balance.order_id, "moved": amount},
                   rows=1, lost=Conflict.lost_race)
    session.expire(balance, [column])


def _check_settled(status) -> None:
    if status not in SETTLED:
        raise InvalidInput("status must be paid or failed", field="status")


def note_provider(session: Session, idempotency_key: str, *, reference: str | None,
                  provider_status: str | None) -> None:
    """Keep what the provider said of a payment it has not settled yet (accepted, processing)."""
    row = prebuilt.one(session, Ledger, _LEDGER_LOCKED, {"key": idempotency_key})
    if row is None:
        raise NotFound(f"no payment has the idempotency key {idempotency_key}",
                       field="idempotency_key")
    if row.status == "pending":
        row.reference = reference or row.reference
        row.provider_status = (provider_status or "")[:40] or None
        session.flush()


def result_of(row: Ledger) -> dict:
    """The message payload the instance gets for a settled payment: the ledger's facts."""
    return {"status": row.status, "amount": row.amount, "reference": row.reference,
            "idempotency_key": row.idempotency_key}


def reply_id(idempotency_key: str) -> str:
    """The message id of a payment's result, the same on every path (adapter answer,
    provider callback), so that the instance hears it once."""
    return f"payment:{idempotency_key}"


def receive_result(session: Session, runtime, name: str, correlation: str, payload: dict,
                   actor: Actor) -> list:
    """A payment provider's callback (message `refund_result` / `clawback_result` for request
    `correlation`): settle the payment it names by `idempotency_key` and tell the instance with
    the ledger's facts; returns the instances it went to (or, when the process does not wait
    for it yet, the kept message: engine.message_buffer). A repeated callback changes nothing.
    A callback naming another `amount` than the approved one settles nothing and returns
    `Held` (see `_hold`). Raises InvalidInput naming the field, NotFound, Conflict."""
    key = payload.get("idempotency_key")
    if not isinstance(key, str) or not key:
        raise InvalidInput("a payment result must name the payment's idempotency_key",
                           field="payload.idempotency_key")
    reference = payload.get("reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 100):
        raise InvalidInput("reference must be text of at most 100 characters",
                           field="payload.reference")
    row = by_key(session, key)
    if row is None or row.request_no != correlation:
        raise NotFound(f"request {correlation} has no payment {key}",
                       field="payload.idempotency_key")
    if RESULT_MESSAGES[row.kind] != name:
        raise InvalidInput(f"payment {key} is a {row.kind}: its result is "
                           f"{RESULT_MESSAGES[row.kind]}", field="name")
    status = payload.get("status")
    _check_settled(status)
    held = hold_other_amount(session, row, payload.get("amount"), status, "payload.amount")
    if held is not None:
        return held
    _refuse_while_held(row, status, payload.get("amount"))
    settled = []

    def settle_once(session: Session) -> None:
        if not settled:
            settled.append(settle(session, key, status, reference=reference,
                                  provider_status=str(payload.get("provider_status") or status)))

    # The process hears the ledger's facts as `settle` leaves them; the row is settled once
    # the process has run, before its guards and writes, so these see the payment settled as
    # before. A message kept or heard before runs no unit of work: then it is settled here.
    facts = result_of(row) if row.status != "pending" else \
        dict(result_of(row), status=status, reference=reference or row.reference)
    delivered = message_buffer.deliver(session, runtime, name, row.request_no, facts, actor,
                                       message_id=reply_id(key), before_write=settle_once)
    settle_once(session)
    return delivered


@dataclass(frozen=True)
class Held:
    """What `receive_result` answers for a result it did not take: the provider reported
    another amount than the ledger's. `outbox_id` is the payment's outbox row, now an
    incident."""

    message: str
    outbox_id: int | None


def by_key(session: Session, idempotency_key: str) -> Ledger | None:
    """The ledger row of the payment with `idempotency_key`."""
    return prebuilt.one(session, Ledger, _LEDGER, {"key": idempotency_key})


def hold_other_amount(session: Session, row: Ledger, amount, status, field: str) -> Held | None:
    """When a provider's result names an `amount` other than the ledger's, hold it (`_hold`:
    nothing settled, the payment's outbox row an incident) and return `Held`; None when it names
    none or the ledger's. Raises InvalidInput naming `field` for an amount that is no amount,
    Conflict for another amount of a payment settled already (nothing changes: it was settled
    with the ledger's). Callbacks (`receive_result`) and the http adapter's own answer are held
    alike."""
    if amount is None:
        return None
    reported = money.amount(amount, field)
    if reported == row.amount:
        return None
    if row.status != "pending":
        raise Conflict(f"payment {row.idempotency_key} is already {row.status} with "
                       f"{money.text(row.amount)}; the provider now reports "
                       f"{money.text(reported)}: nothing was changed", field=field)
    return _hold(session, row, reported, status)


def is_held(row: Ledger) -> bool:
    """Whether a pending payment is held: its provider reported another amount (`_hold`) and no
    operator has had it asked again since (a new answer of the provider replaces the mark)."""
    return row.status == "pending" and (row.provider_status or "").startswith(_REPORTED)


def _refuse_while_held(row: Ledger, status: str, amount) -> None:
    """A held payment settles by callback only as paid with the approved amount (the provider
    correcting itself). Failed, or a result naming no amount, would give the amount back for
    another refund while money may have moved: that waits for an operator (retry or skip the
    incident). Raises Conflict."""
    if is_held(row) and (status != "paid" or amount is None):
        raise Conflict(f"payment {row.idempotency_key} is held: its provider reported "
                       f"{row.provider_status.removeprefix(_REPORTED)} where "
                       f"{money.text(row.amount)} was approved, so only a result of paid "
                       "naming the approved amount settles it here; an operator resolves its "
                       "incident otherwise", field="payload.status")


def _hold(session: Session, row: Ledger, reported: Decimal, status) -> Held:
    """A provider's result whose amount is not the approved one: nothing is settled and the
    instance hears nothing (only the ledger's facts ever reach it), and the payment's outbox row
    becomes an incident with the reason, so an operator sees it in the incidents and no
    dispatch calls the provider again until they retry (the same idempotency key) or skip it.
    Money may have moved differently from what was approved: that is for a person to check
    with the provider, never for the platform to pay again."""
    message = (f"the payment provider reports {row.kind} {row.idempotency_key} of request "
               f"{row.request_no} as {status} with {money.text(reported)}, but "
               f"{money.text(row.amount)} was approved: nothing was settled; check it with the "
               "provider, then retry or skip this incident")
    entry = session.scalars(select(Outbox).where(
        Outbox.idempotency_key == row.idempotency_key).with_for_update()).first()
    if entry is not None and entry.status != "skipped":
        entry.status, entry.last_error = "incident", message[:2000]
    row.provider_status = f"{_REPORTED}{money.text(reported)}"[:40]
    session.flush()
    return Held(message, entry.id if entry is not None else None)


def totals(session: Session, *, request_no: str | None = None,
           order_id: str | None = None) -> Totals:
    """The sums of the ledger rows of one request or one order."""
    query, value = (_REQUEST_TOTALS, request_no) if request_no is not None else \
        (_ORDER_TOTALS, order_id)
    result = Totals()
    for kind, status, amount in prebuilt.read(session, query, {"value": value}):
        amount = Decimal(amount)
        if kind == "refund":
            result.refunds_held += amount
            result.refunds_paid += amount if status == "paid" else 0
        else:
            result.clawbacks_held += amount
            result.clawbacks_paid += amount if status == "paid" else 0
    return result


def of_request(session: Session, actor: Actor, ref) -> dict:
    """A request's refunds and claw-backs, oldest first, with their totals and what it may
    still be refunded (`refundable`), for finance, the auditors, admins and the request's own
    customer. Raises NotFound (no such request, or
    another customer's), Forbidden (staff outside finance)."""
    if actor.role in ("staff", "supervisor"):
        if not actor.works_in(FINANCE):
            raise Forbidden("payments are shown to finance, auditors and the customer")
        request = service_requests.named(session, actor, ref)   # finance: every request's money
    else:
        request = service_requests.visible(session, actor, ref)
    done = totals(session, request_no=request.number)
    left = refundable(session, request)
    return {"number": request.number, "order_id": request.order_id,
            "items_amount": money.text(request.amount),
            "refundable": None if left is None else money.text(left),
            "refunded": money.text(done.refunds_paid - done.clawbacks_paid),
            "pending": money.text(done.refunds_held - done.refunds_paid),
            "clawed_back": money.text(done.clawbacks_paid),
            "items": [payment_json(row) for row in session.scalars(
                _OF_REQUEST, {"number": request.number})]}


def payment_json(row: Ledger) -> dict:
    return {"id": row.id, "kind": row.kind, "amount": money.text(row.amount),
            "status": row.status, "reference": row.reference,
            "provider_status": row.provider_status, "approved_by": row.actor,
            "created_at": row.created_at, "settled_at": row.settled_at,
            "idempotency_key": row.idempotency_key}


def _balance(session: Session, order_id: str | None, *, keep: bool = True) -> OrderBalance:
    """The order's balance row as committed (`_move` changes it); made from its ledger rows the
    first time (and queued for the unit's writes when `keep`)."""
    balance = prebuilt.one(session, OrderBalance, _BALANCE, {"order_id": order_id}) \
        if order_id else None
    if balance is not None:
        return balance
    order = orders.find(session, order_id) if order_id else None
    if order is None:
        raise PaymentRefused(f"order {order_id} is not in the order store, so nothing is known "
                             "to have been paid")
    done = totals(session, order_id=order_id)
    balance = OrderBalance(
        order_id=order_id, paid=order.paid_amount, refunds_held=done.refunds_held,
        refunds_paid=done.refunds_paid, clawbacks_held=done.clawbacks_held,
        clawbacks_paid=done.clawbacks_paid)
    if keep:        # lost when another payment of the order made it at once
        prebuilt.add_queued(session, balance, lost=Conflict.lost_race)
    return balance


def _too_much(kind: str, value: Decimal, left: Decimal, request: ServiceRequest,
              balance: OrderBalance) -> str:
    if kind == "refund":
        return (f"refund of {money.text(value)} for {request.number} refused: at most "
                f"{money.text(left)} is still refundable (its items cost "
                f"{money.text(request.amount)}; order {request.order_id} paid "
                f"{money.text(balance.paid)}, of which "
                f"{money.text(balance.refunds_held - balance.clawbacks_paid)} is refunded or "
                "pending)")
    return (f"claw-back of {money.text(value)} for {request.number} refused: at most "
            f"{money.text(left)} of what was refunded is left to claw back")
