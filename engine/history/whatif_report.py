"""A what-if run (engine/history/whatif.py) of a candidate bundle against the requests that
finished in the last N days, summed up for the process owner who would deploy it.

Per request: whether the candidate would have taken another path, and where. Over all of them:
which tasks, and so which departments, would have work the recorded run did not have (`more`:
the tasks the candidate opens where the paths part) or would not have work the recorded run
had (`fewer`: the tasks people completed in the recorded run after the paths parted), and the
money the recorded run paid on the requests that would have gone another way (from the
ledger), and, on the requests that would have gone the same way, the refunds the candidate
asks for beside the ones the real run asked for (a changed amount rule pays differently on the
same path). What the candidate would have done after the paths part, or paid, cannot be known:
the recorded inputs stop applying there.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import money, payments
from engine.definitions.bundle import Bundle
from engine.errors import InvalidInput
from engine.history import audit, whatif
from engine.models import Outbox

MAX_DAYS = 366
MAX_REQUESTS = 200


def run(session: Session, bundle: Bundle, script_engine, *, days: int, limit: int,
        now: datetime) -> dict:
    """The report of the candidate against the at most `limit` requests of its processes that
    finished in the `days` days before `now`. Raises InvalidInput for days or limit out of
    range and whatif's InvalidDefinition for a bundle that does not validate."""
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}", field="days")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_REQUESTS:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_REQUESTS}",
                           field="limit")
    since = now - timedelta(days=days)
    candidates = whatif.compile_bundle(session, bundle)
    outcomes = whatif.whatif(session, bundle, script_engine, limit=limit, finished_since=since,
                             candidates=candidates)
    lanes, names = _lanes(candidates)
    items = []
    for outcome in outcomes:
        item = dict(outcome.as_dict(), more=[], fewer=[],
                    refunds_paid=payments.totals(session,
                                                 request_no=outcome.business_key).refunds_paid,
                    refund_asked=outcome.asked.get("payment.refund", Decimal("0.00")),
                    refund_asked_recorded=_refunds_asked(session, outcome.instance_id))
        if outcome.diverges:
            recorded, candidate = _ready_at(outcome.divergence)
            item["more"] = sorted((Counter(candidate) - Counter(recorded)).elements())
            done = _done_after(session, outcome.instance_id, outcome.divergence["seq"])
            item["fewer"] = [element for element, _ in done]
            # A task the candidate no longer has is the recorded run's department's work.
            for element, department in done:
                lanes.setdefault(element, department)
        items.append(item)
    return {"days": days, "since": since, **summary(items, lanes, names)}


def summary(items: list[dict], lanes: dict[str, str | None], names: dict[str, str | None]
            ) -> dict:
    """The report's sums over `items` (run's items, or some of them): how many were examined
    and would diverge, the tasks with more or fewer work (with their departments and names
    from `lanes` and `names`, by task BPMN id) and the same by department, the refunds paid on the diverging requests
    and on all, and how many requests on the same path would be refunded otherwise and by how
    much in all."""
    more, fewer = Counter(), Counter()
    paid_diverging, paid_all = Decimal("0.00"), Decimal("0.00")
    paid_otherwise, refund_difference = 0, Decimal("0.00")
    for item in items:
        paid_all += item["refunds_paid"]
        if item["diverges"]:
            paid_diverging += item["refunds_paid"]
            more.update(item["more"])
            fewer.update(item["fewer"])
        elif item["refund_asked"] != item["refund_asked_recorded"]:
            paid_otherwise += 1
            refund_difference += item["refund_asked"] - item["refund_asked_recorded"]
    tasks = [{"task": t, "name": names.get(t), "department": lanes.get(t), "more": more[t],
              "fewer": fewer[t]} for t in sorted(more.keys() | fewer.keys())]
    departments = Counter(), Counter()
    for row in tasks:
        departments[0][row["department"]] += row["more"]
        departments[1][row["department"]] += row["fewer"]
    return {"examined": len(items), "diverging": sum(1 for i in items if i["diverges"]),
            "items": items, "tasks": tasks,
            "departments": [{"department": d, "more": departments[0][d], "fewer": departments[1][d]}
                            for d in sorted(departments[0].keys() | departments[1].keys(),
                                            key=lambda d: d or "")],
            "refunds_paid_diverging": paid_diverging, "refunds_paid_all": paid_all,
            "paid_otherwise": paid_otherwise, "refund_difference": refund_difference}


def _refunds_asked(session: Session, instance_id: int) -> Decimal:
    """What the real run asked to refund: the amounts of its payment.refund intents, every
    attempt counted as the candidate's are (engine.history.whatif.Outcome.asked)."""
    return sum((money.amount(payload.get("amount"), "amount") for payload in session.scalars(
        select(Outbox.payload).where(Outbox.instance_id == instance_id,
                                     Outbox.operation == "payment.refund"))), Decimal("0.00"))


def _lanes(compiled: dict) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """User task BPMN id -> the department (lane) of the candidate that holds it, and -> its
    name."""
    lanes, names = {}, {}
    for candidate in compiled.values():
        lanes.update({task_id: meta.lane for task_id, meta in candidate.tasks.items()})
        names.update({task_id: meta.name for task_id, meta in candidate.tasks.items()})
    return lanes, names


def _done_after(session: Session, instance_id: int, seq: int | None) -> list[tuple[str, str]]:
    """(element, department) of the tasks people completed in the recorded run after event
    `seq` (all of them when the candidate parts before the first event), by element."""
    return sorted((e.element, (e.payload or {}).get("department"))
                  for e in audit.events(session, instance_id)
                  if e.kind == "task_completed" and e.element and (seq is None or e.seq > seq))


def _ready_at(divergence: dict) -> tuple[list[str], list[str]]:
    """The READY tasks of the recorded run and of the candidate where they part: a different
    position carries both positions; a recorded task not ready in the candidate carries the
    two lists of READY tasks; other divergences (data, a failure) carry no position."""
    recorded, candidate = divergence.get("recorded"), divergence.get("candidate")
    if isinstance(recorded, dict) and isinstance(candidate, dict):
        return list(recorded.get("ready", [])), list(candidate.get("ready", []))
    if isinstance(recorded, list) and isinstance(candidate, list) \
            and all(isinstance(x, str) for x in recorded + candidate):
        return recorded, candidate
    return [], []
