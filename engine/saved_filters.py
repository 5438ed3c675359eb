"""Saved task-list filters, kept on the server: a person names the inbox's filter (its query
string) and may share it with their department, whose members then see it beside their own
("P1 refunds over 2,000", "pickups due today"). Only the owner deletes one.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.access import Actor
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.models import SavedFilter

MAX_NAME = 100
MAX_QUERY = 1000
MAX_PER_PERSON = 50
# The inbox's filter fields (web/pages/inbox.py LIST_ARGS, engine.tasklist.Filters): a saved
# query keeps these only.
FIELDS = ("department", "assignee", "overdue", "at_risk", "priority", "process", "sort",
          "per_page")


def visible(session: Session, actor: Actor) -> list[dict]:
    """The actor's own filters and those shared with their department, by name:
    [{"id", "name", "query", "owner", "shared", "mine"}]."""
    shared = [SavedFilter.department == actor.department] if actor.department else []
    rows = session.scalars(select(SavedFilter).where(or_(SavedFilter.owner == actor.name, *shared))
                           .order_by(SavedFilter.name, SavedFilter.id))
    return [_json(row, actor) for row in rows]


def save(session: Session, actor: Actor, name, query, *, share: bool, now: datetime) -> dict:
    """Keep the filter `query` (a task-list query string: unknown fields are dropped) under
    `name`, shared with the actor's department when `share`. Raises InvalidInput naming the
    field (name, query, share without a department, too many filters)."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise InvalidInput(f"a filter's name is 1 to {MAX_NAME} characters", field="name")
    if not isinstance(query, str) or len(query) > MAX_QUERY:
        raise InvalidInput(f"a filter is at most {MAX_QUERY} characters", field="query")
    kept = urlencode([(k, v) for k, v in parse_qsl(query) if k in FIELDS and v])
    if share and not actor.department:
        raise InvalidInput("only members of a department share filters with it", field="share")
    mine = session.scalar(select(SavedFilter.id).where(SavedFilter.owner == actor.name)
                          .offset(MAX_PER_PERSON - 1).limit(1))
    if mine is not None:
        raise InvalidInput(f"at most {MAX_PER_PERSON} saved filters each", field="name")
    row = SavedFilter(owner=actor.name, name=name.strip(), query=kept,
                      department=actor.department if share else None, created_at=now)
    session.add(row)
    session.flush()
    return _json(row, actor)


def delete(session: Session, actor: Actor, filter_id: int) -> None:
    """Delete one of the actor's own filters. Raises NotFound (also for a filter the actor
    cannot see), Forbidden for a colleague's shared filter."""
    row = session.get(SavedFilter, filter_id)
    seen = row is not None and (row.owner == actor.name or (
        row.department is not None and row.department == actor.department))
    if not seen:
        raise NotFound(f"saved filter {filter_id} does not exist", field="id")
    if row.owner != actor.name:
        raise Forbidden(f"only {row.owner} may delete the filter {row.name!r}")
    session.delete(row)
    session.flush()


def _json(row: SavedFilter, actor: Actor) -> dict:
    return {"id": row.id, "name": row.name, "query": row.query, "owner": row.owner,
            "shared": row.department is not None, "mine": row.owner == actor.name}
