"""What-if results for the supervisors whose work they are about: the last what-if report of
each draft (engine/history/whatif_report.py), kept when a process owner runs one (`run`), and
read by supervisors cut to the departments they oversee (`listing`, `result`).

A supervisor sees a request of a report when they may read its instance by engine.access's rule
(a task of it, open or done, in a department they oversee, or one they did themselves:
access.may_read_instance), or when the draft would give one of those departments a task on it
(one the candidate opens where the paths part). Of a request's work they see the tasks of their
departments; the report's sums (work by task and department, refunds) are summed again over the
requests they see (whatif_report.summary), so nothing of another department's requests shows in
a figure. Each request's scope is kept with the report as it was at the run, so a request that
is archived afterwards is judged as it was. What the candidate's form data or state looked like
where the paths part is not kept: a supervisor reads where and why, not the data. Supervisors
only read: the draft stays its owners' (engine/definitions/drafts.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import access
from engine.access import Actor
from engine.definitions import catalog, drafts
from engine.errors import Forbidden, NotFound
from engine.history import whatif_report
from engine.models import Draft, DraftWhatif, Instance

MAX_LISTED = 100
# What a kept request says of where the paths part (Outcome.divergence without the data).
DIVERGENCE_KEPT = ("seq", "kind", "element", "problem")


def run(session: Session, actor: Actor, draft_id: int, script_engine, *, days: int, limit: int,
        now: datetime) -> dict:
    """whatif_report.run of the draft's newest revision, kept as the draft's last result
    (replacing the one before). Raises drafts.get's NotFound and Forbidden, and run's
    InvalidInput and InvalidDefinition (then nothing is kept)."""
    draft = drafts.get(session, actor, draft_id)
    report = whatif_report.run(session, drafts.bundle_of(drafts.head_files(session, draft)),
                               script_engine, days=days, limit=limit, now=now)
    kept = session.get(DraftWhatif, draft.id) or DraftWhatif(draft_id=draft.id)
    kept.revision, kept.days, kept.since = draft.head, days, report["since"]
    kept.run_by, kept.run_at = actor.name, now
    kept.report = {"items": [_kept_item(session, item) for item in report["items"]],
                   "lanes": {row["task"]: row["department"] for row in report["tasks"]},
                   "names": {row["task"]: row["name"] for row in report["tasks"]}}
    session.add(kept)
    session.flush()
    return report


def listing(session: Session, actor: Actor) -> list[dict]:
    """The drafts whose last what-if touches a request `actor` sees, newest run first: the
    draft, the run, and its sums over those requests (`result` without the rows). Raises
    Forbidden for anyone but supervisors and admins."""
    _supervisor_only(actor)
    rows = session.execute(select(DraftWhatif, Draft).join(Draft, Draft.id == DraftWhatif.draft_id)
                           .order_by(DraftWhatif.run_at.desc(), Draft.id.desc())
                           .limit(MAX_LISTED))
    found = []
    for kept, draft in rows:
        shown = _cut(actor, kept, draft)
        if shown["examined"]:
            shown.pop("items")
            found.append(shown)
    return found


def result(session: Session, actor: Actor, draft_id: int) -> dict:
    """The last what-if of draft `draft_id` as `actor` may see it: the draft (title, owner,
    its newest and deployed revisions), the run (revision tried, days, since, by whom, when),
    the departments seen (None: all) and whatif_report.summary over the requests seen. Raises
    Forbidden for anyone but supervisors and admins, NotFound when the draft has no what-if or
    none of its requests is one `actor` sees."""
    _supervisor_only(actor)
    found = session.execute(select(DraftWhatif, Draft).join(Draft, Draft.id == DraftWhatif.draft_id)
                            .where(DraftWhatif.draft_id == draft_id)).first()
    shown = _cut(actor, *found) if found is not None else None
    if shown is None or not shown["examined"]:
        raise NotFound(f"draft {draft_id} has no what-if result about requests of your "
                       "departments", field="draft")
    return shown


def _supervisor_only(actor: Actor) -> None:
    if actor.role not in access.SUPERVISORS:
        raise Forbidden(f"{actor.role} users do not read the supervisors' what-if results")


def _cut(actor: Actor, kept: DraftWhatif, draft: Draft) -> dict:
    departments = access.visible_departments(actor)
    lanes = kept.report["lanes"]

    def ours(tasks: list[str]) -> list[str]:
        return [t for t in tasks if departments is None or lanes.get(t) in departments]

    items = []
    for item in kept.report["items"]:
        more = ours(item["more"])
        if more or access.may_read_instance(actor, _scope(item)):
            items.append({**{k: v for k, v in item.items() if k != "scope"},
                          "more": more, "fewer": ours(item["fewer"])})
    return {"draft": {"id": draft.id, "title": draft.title, "owner": draft.owner,
                      "revision": draft.head, "deployed_revision": draft.deployed_revision,
                      "deployed_at": draft.deployed_at},
            "revision": kept.revision, "days": kept.days, "since": kept.since,
            "run_by": kept.run_by, "run_at": kept.run_at,
            "departments_seen": list(departments) if departments is not None else None,
            **whatif_report.summary(items, lanes, kept.report["names"])}


def _kept_item(session: Session, item: dict) -> dict:
    """A request of the report as it is kept: its figures, where the paths part (not the data
    there), and its scope (access.instance_scope) at the time of the run."""
    divergence = item["divergence"]
    definition_id = session.scalar(select(Instance.definition_id)
                                   .where(Instance.id == item["instance_id"]))
    scope = access.instance_scope(session, item["instance_id"],
                                  catalog.compiled(session, definition_id).tasks.values())
    return {**{k: v for k, v in item.items() if k not in ("divergence", "asked")},
            "divergence": {k: divergence[k] for k in DIVERGENCE_KEPT} if divergence else None,
            "scope": {"open": [list(pair) for pair in scope.open],
                      "done": [list(pair) for pair in scope.done],
                      "lanes": sorted(scope.lanes, key=lambda lane: lane or "")}}


def _scope(item: dict) -> access.InstanceScope:
    scope = item["scope"]
    return access.InstanceScope(item["instance_id"], tuple(map(tuple, scope["open"])),
                                tuple(map(tuple, scope["done"])), frozenset(scope["lanes"]))
