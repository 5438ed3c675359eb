"""Reads about process instances for the people who look at them: one instance as the API
and the pages show it, its history page by page, searches, and which instances stand on a
version of a process.

Nothing here changes an instance (the verbs in engine/runtime do); workflows are rebuilt
read-only.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import UNFINISHED, Instance


def unfinished_ids(session: Session, definition_id: int) -> list[int]:
    """Ids of the instances of one deployed version that may still move on, oldest first."""
    return list(session.scalars(select(Instance.id).where(
        Instance.definition_id == definition_id, Instance.status.in_(UNFINISHED))
        .order_by(Instance.id)))
