"""The money audit: the invariants of the book (engine/payments.py) checked over the whole
database, after the fact, by reading every ledger row, balance, order, request and payment
outbox row.

The payment guard enforces these rules where the money moves, and the `order_balance` CHECKs
hold them in the database; this audit is the third line, for what neither can see: a row edited
by hand, a migration that went wrong, a balance that drifted from its ledger rows, an outbox row
delivered without its ledger row. Sums are Decimals added here from the rows, not SQL SUMs
(SQLite adds NUMERIC columns as floats).

The invariants (refunds and claw-backs count their pending and paid rows unless said; failed
rows count for nothing):
- per order: refunds - claw-backs paid <= what the order paid; claw-backs <= refunds paid;
- per request: refunds - claw-backs paid <= the request's items amount; claw-backs <= its
  refunds paid; every ledger row belongs to a request filed from the order it names;
- every `order_balance` row equals the sums of its order's ledger rows, and its `paid` what
  the order paid (an order without a balance row has had no money moved since 0006: the
  balance is made at the first payment);
- every payment outbox row that is done has its ledger row, settled, of the same kind and
  amount; every ledger row has its outbox row, and a pending outbox row asks for the ledger's
  amount (the HTTP adapter sends the outbox payload's amount to the provider).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import money
from engine.models import Ledger, OrderBalance, Outbox, ServiceRequest, ShopOrder
from engine.payments import KINDS, SETTLED


@dataclass(frozen=True)
class Problem:
    """One broken invariant, naming the order (and the request and payment when it is theirs)."""

    order_id: str | None
    message: str
    request_no: str | None = None
    payment: str | None = None     # the ledger row's (or outbox row's) idempotency key

    def line(self) -> str:
        """The problem as one line: `order O-1 [request AS-1] [payment KEY]: message`."""
        where = [f"order {self.order_id or '?'}"]
        if self.request_no:
            where.append(f"request {self.request_no}")
        if self.payment:
            where.append(f"payment {self.payment}")
        return f"{' '.join(where)}: {self.message}"


@dataclass
class Sums:
    """Sums of ledger rows: what `order_balance` keeps, per order or per request."""

    refunds_held: Decimal = money.ZERO
    refunds_paid: Decimal = money.ZERO
    clawbacks_held: Decimal = money.ZERO
    clawbacks_paid: Decimal = money.ZERO

    def add(self, row: Ledger) -> None:
        if row.status == "failed":
            return
        amount = Decimal(row.amount)
        paid = amount if row.status == "paid" else money.ZERO
        if row.kind == "refund":
            self.refunds_held += amount
            self.refunds_paid += paid
        else:
            self.clawbacks_held += amount
            self.clawbacks_paid += paid


@dataclass
class Report:
    """What the audit found: its problems (none when the book holds) and what it read."""

    problems: list[Problem] = field(default_factory=list)
    orders: int = 0          # orders in the store, and any the book names without them
    payments: int = 0        # ledger rows

    @property
    def ok(self) -> bool:
        return not self.problems


def check(session: Session) -> Report:
    """Check every invariant of the book over the whole database; returns the Report (its
    problems ordered by order, then as found). Raises nothing for bad data: bad data is what
    it reports."""
    ledger = list(session.scalars(select(Ledger).order_by(Ledger.id)))
    outbox = {o.idempotency_key: o for o in session.scalars(
        select(Outbox).where(Outbox.operation.in_(tuple(KINDS))))}
    balances = {b.order_id: b for b in session.scalars(select(OrderBalance))}
    # Only the requests and orders money moved on: the others cannot break a rule of the book.
    requests = _by(session, ServiceRequest.number, {row.request_no for row in ledger} |
                   {o.business_key for o in outbox.values() if o.business_key})
    by_order, by_request = _sums(ledger, requests)
    orders = _by(session, ShopOrder.order_id, set(by_order) | set(balances))
    problems: list[Problem] = []
    problems += _rows_and_requests(ledger, requests)
    problems += _orders(by_order, orders)
    problems += _requests(by_request, requests)
    problems += _balances(balances, by_order, orders)
    problems += _outbox(outbox, ledger, requests)
    problems.sort(key=lambda p: p.order_id or "")
    stored = session.scalar(select(func.count()).select_from(ShopOrder))
    return Report(problems, orders=stored + len((set(by_order) | set(balances)) - set(orders)),
                  payments=len(ledger))


def _by(session: Session, column, values: set) -> dict:
    """The rows whose `column` is one of `values`, by that value (a few hundred per query:
    SQLite allows only so many parameters)."""
    values, rows = sorted(values), {}
    for at in range(0, len(values), 500):
        for row in session.scalars(select(column.class_).where(
                column.in_(values[at:at + 500]))):
            rows[getattr(row, column.key)] = row
    return rows


def _order_of(row: Ledger, requests: dict) -> str | None:
    """The order a ledger row pays against: its own, else (rows older than 0006) its request's."""
    request = requests.get(row.request_no)
    return row.order_id or (request.order_id if request is not None else None)


def _sums(ledger: list[Ledger], requests: dict) -> tuple[dict, dict]:
    by_order: dict[str, Sums] = defaultdict(Sums)
    by_request: dict[str, Sums] = defaultdict(Sums)
    for row in ledger:
        order_id = _order_of(row, requests)
        if order_id is not None:
            by_order[order_id].add(row)
        by_request[row.request_no].add(row)
    return by_order, by_request


def _rows_and_requests(ledger: list[Ledger], requests: dict) -> list[Problem]:
    problems = []
    for row in ledger:
        request = requests.get(row.request_no)
        where = dict(order_id=_order_of(row, requests), request_no=row.request_no,
                     payment=row.idempotency_key)
        if request is None:
            problems.append(Problem(message=f"{_row(row)} belongs to no after-sales request",
                                    **where))
        elif row.order_id is not None and row.order_id != request.order_id:
            problems.append(Problem(message=f"{_row(row)} names order {row.order_id}, but the "
                                    f"request was filed from order {request.order_id}", **where))
    return problems


def _orders(by_order: dict, orders: dict) -> list[Problem]:
    problems = []
    for order_id, sums in sorted(by_order.items()):
        order = orders.get(order_id)
        if order is None:
            problems.append(Problem(order_id, "has payments but is not in the order store"))
            continue
        refunded = sums.refunds_held - sums.clawbacks_paid
        if refunded > order.paid_amount:
            problems.append(Problem(order_id, f"refunds paid or pending less claw-backs paid "
                                    f"come to {money.text(refunded)}, above the "
                                    f"{money.text(order.paid_amount)} the order paid"))
        if sums.clawbacks_held > sums.refunds_paid:
            problems.append(Problem(order_id, f"claw-backs of {money.text(sums.clawbacks_held)}"
                                    f" exceed the {money.text(sums.refunds_paid)} refunded"))
    return problems


def _requests(by_request: dict, requests: dict) -> list[Problem]:
    problems = []
    for number, sums in sorted(by_request.items()):
        request = requests.get(number)
        if request is None:
            continue                  # reported per row by _rows_and_requests
        refunded = sums.refunds_held - sums.clawbacks_paid
        if refunded > request.amount:
            problems.append(Problem(request.order_id, f"refunds paid or pending less claw-backs "
                                    f"paid come to {money.text(refunded)}, above the "
                                    f"{money.text(request.amount)} its items cost",
                                    request_no=number))
        if sums.clawbacks_held > sums.refunds_paid:
            problems.append(Problem(request.order_id, f"claw-backs of "
                                    f"{money.text(sums.clawbacks_held)} exceed the "
                                    f"{money.text(sums.refunds_paid)} refunded",
                                    request_no=number))
    return problems


def _balances(balances: dict, by_order: dict, orders: dict) -> list[Problem]:
    problems = []
    for order_id, balance in sorted(balances.items()):
        sums = by_order.get(order_id, Sums())
        for name in ("refunds_held", "refunds_paid", "clawbacks_held", "clawbacks_paid"):
            kept, counted = Decimal(getattr(balance, name)), getattr(sums, name)
            if kept != counted:
                problems.append(Problem(order_id, f"order_balance.{name} is {money.text(kept)}"
                                        f" but its ledger rows sum to {money.text(counted)}"))
        order = orders.get(order_id)
        if order is not None and Decimal(balance.paid) != order.paid_amount:
            problems.append(Problem(order_id, f"order_balance.paid is "
                                    f"{money.text(balance.paid)} but the order paid "
                                    f"{money.text(order.paid_amount)}"))
    return problems


def _outbox(outbox: dict, ledger: list[Ledger], requests: dict) -> list[Problem]:
    problems = []
    rows = {row.idempotency_key: row for row in ledger}
    for key, item in sorted(outbox.items(), key=lambda kv: kv[1].id):
        row = rows.get(key)
        request = requests.get(item.business_key or "")
        if row is None:
            if item.status == "done":
                problems.append(Problem(
                    request.order_id if request is not None else None,
                    f"outbox row {item.id} ({item.operation}) is done but has no ledger row",
                    request_no=item.business_key, payment=key))
            continue
        problems += _outbox_against_row(item, row, _order_of(row, requests))
    for row in ledger:
        if row.idempotency_key not in outbox:
            problems.append(Problem(_order_of(row, requests),
                                    f"{_row(row)} has no payment outbox row",
                                    request_no=row.request_no, payment=row.idempotency_key))
    return problems


def _outbox_against_row(item: Outbox, row: Ledger, order_id: str | None) -> list[Problem]:
    where = dict(order_id=order_id, request_no=row.request_no, payment=row.idempotency_key)
    problems = []
    if KINDS[item.operation] != row.kind:
        problems.append(Problem(message=f"outbox row {item.id} is a {item.operation} but "
                                f"{_row(row)} is a {row.kind}", **where))
    # Done and pending is right while the provider, having answered (accepted, processing:
    # its provider_status), settles later by its callback.
    if item.status == "done" and row.status not in SETTLED and row.provider_status is None:
        problems.append(Problem(message=f"outbox row {item.id} is done but {_row(row)} is "
                                "not settled", **where))
    asked = _decimal((item.payload or {}).get("amount"))
    if item.status in ("pending", "incident") and asked != Decimal(row.amount):
        shown = money.text(asked) if asked is not None else repr((item.payload or {}).get("amount"))
        problems.append(Problem(message=f"outbox row {item.id} asks the provider for {shown} "
                                f"but {_row(row)} holds {money.text(row.amount)}", **where))
    return problems


def _decimal(value) -> Decimal | None:
    """An outbox payload's amount as a Decimal; None when it is no number at all."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _row(row: Ledger) -> str:
    return f"ledger row {row.id} ({row.status} {row.kind} of {money.text(row.amount)})"
