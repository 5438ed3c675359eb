"""What the signed checkpoints vouch for, as the auditor pages show it: the newest checkpoint
of the folder (its signature checked with the folder's public keys), which instances it covers,
and whether an instance's events are, today, the leaves that were checkpointed for them.

This is the quick check a page can afford (the instance's own positions in `leaves.txt`, read
by offset); `aftersales audit verify` is the whole one (every root, every position).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import config
from engine.history import audit, checkpoints, global_log
from engine.models import AuditLeaf

# The states of an instance's coverage, for the pages.
VERIFIED, PARTLY, WAITING, DIFFERS, NO_CHECKPOINT, BAD_CHECKPOINT = (
    "verified", "partly", "waiting", "differs", "no_checkpoint", "bad_checkpoint")


@dataclass
class Head:
    """The newest checkpoint of the folder and whether it holds (problem None)."""
    checkpoint: checkpoints.Checkpoint | None
    problem: str | None = None

    def json(self) -> dict | None:
        c = self.checkpoint
        return c and {"size": c.size, "root": c.root, "at": c.at, "key_id": c.key_id}


def head(settings: config.Settings) -> Head:
    """The folder's newest checkpoint, its signature checked with the folder's public keys."""
    folder = checkpoints.Folder(config.audit_folder(settings))
    try:
        latest = folder.last_checkpoint()
    except ValueError as err:
        return Head(None, str(err))
    if latest is None:
        return Head(None)
    keys_dir = folder.path / checkpoints.KEYS
    keys = checkpoints.load_public_keys([keys_dir] if keys_dir.is_dir() else [])
    return Head(latest, latest.problem(keys))


def instance(session: Session, settings: config.Settings, instance_id: int) -> dict:
    """{state, checkpoint, covered, events, problem} of one instance: VERIFIED when the newest
    checkpoint covers all its events and each is the leaf checkpointed for it, PARTLY when
    later events wait for the next checkpoint, WAITING when none is covered yet, DIFFERS naming
    the first event that is not what was checkpointed, NO_CHECKPOINT / BAD_CHECKPOINT when the
    folder has none or its newest does not verify."""
    top = head(settings)
    events = audit.events(session, instance_id)
    out = {"checkpoint": top.json(), "covered": 0, "events": len(events), "problem": top.problem}
    if top.problem is not None:
        return dict(out, state=BAD_CHECKPOINT)
    if top.checkpoint is None:
        return dict(out, state=NO_CHECKPOINT)
    folder = checkpoints.Folder(config.audit_folder(settings))
    positions = global_log.positions_of(session, instance_id)
    for event in events:
        position = positions.get(event.seq)
        if position is None or position >= top.checkpoint.size:
            continue
        [leaf] = folder.leaf_hashes(position, position + 1) or [None]
        if leaf is None or global_log.hash_of_event(event) != leaf.hex():
            return dict(out, state=DIFFERS,
                        problem=f"event {event.seq} ({event.kind}) is not the leaf "
                                f"checkpointed at position {position}")
        out["covered"] += 1
    state = (VERIFIED if out["covered"] == len(events) else PARTLY if out["covered"]
             else WAITING)
    return dict(out, state=state)


def covered(session: Session, size: int, instance_ids: list[int]) -> dict[int, bool]:
    """instance id -> whether all its logged events lie under a checkpoint of `size` leaves
    (and it has no event still waiting for a position)."""
    if not instance_ids:
        return {}
    last = dict(session.execute(select(AuditLeaf.instance_id, func.max(AuditLeaf.position))
                                .where(AuditLeaf.instance_id.in_(instance_ids))
                                .group_by(AuditLeaf.instance_id)).all())
    waiting = set(global_log.waiting_instances(session, instance_ids))
    return {i: i in last and last[i] < size and i not in waiting for i in instance_ids}
