"""An instance's state in the database, in its format (engine/runtime/serialization.py).

A FULL state is the instance row's `state` alone. A CHUNKED state is the manifest in `state` and
one `instance_chunk` row (instance id, sha256, body) per chunk it names. Chunks are addressed by
their hash, so a write inserts the chunks the new manifest names that the old one did not and
deletes those it names no more: a step of an old instance writes one or two chunks whatever its
age. The rows are written in the unit of work's transaction, after the instance row's version
check, so a lost race writes none, and a crash leaves the manifest and its chunks as they were
committed together.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from sqlalchemy import Column, ForeignKey, String, Table, Text, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from engine import prebuilt
from engine.errors import Conflict
from engine.models import Base, BigId, Instance
from engine.runtime import serialization
from engine.runtime.serialization import CHUNKED_VERSION

instance_chunk = Table(
    "instance_chunk", Base.metadata,
    Column("instance_id", BigId, ForeignKey("instance.id", ondelete="CASCADE"), primary_key=True),
    Column("hash", String(64), primary_key=True),
    Column("body", Text, nullable=False))

_C = instance_chunk.c
_INSERT = insert(instance_chunk)
_DELETE = delete(instance_chunk).where(_C.instance_id == bindparam("b_instance_id"),
                                       _C.hash.in_(bindparam("b_hashes", expanding=True)))
_BODIES = select(_C.hash, _C.body).where(_C.instance_id == bindparam("b_instance_id"))
_VERSION = select(Instance.version).where(Instance.id == bindparam("b_id"))


@dataclass(frozen=True)
class Stored:
    """A workflow's state as an instance stores it: its format (`serializer_version`), what
    the row's `state` holds, and, for CHUNKED, its chunks."""

    version: str
    state: str
    chunked: serialization.Chunked | None = None


def dump(workflow, version: str, before: Stored | None = None,
         since: float | None = None) -> Stored:
    """`workflow`'s state in the format `version`; a CHUNKED one reuses the unchanged chunks of
    `before` (see serialization.dump_chunked: `since` is the unit of work's pinned time)."""
    if version != CHUNKED_VERSION:
        return Stored(version, serialization.dump(workflow))
    chunked = serialization.dump_chunked(workflow, before.chunked if before else None, since)
    return Stored(version, chunked.manifest, chunked)


def load(session: Session, instance, compiled, script_engine):
    """(the instance's workflow rebuilt from its stored state, that Stored). Raises ValueError
    when a chunk the manifest names is missing or altered, LostRace when it is missing because
    another writer changed the instance since its row was read.

    The row and its chunks are read by two statements without a lock (the verbs' load, compute,
    write: engine/runtime/verbs.py), so on PostgreSQL a writer that commits in between may have
    deleted chunks the manifest read first still names; the command then runs again."""
    if instance.serializer_version != CHUNKED_VERSION:
        workflow = serialization.load(instance.state, compiled.spec, compiled.subprocess_specs,
                                      script_engine)
        return workflow, Stored(instance.serializer_version, instance.state)
    try:
        return rebuild(Stored(CHUNKED_VERSION, instance.state), compiled, script_engine,
                       _bodies(session, instance.id))
    except ValueError:
        if session.scalar(_VERSION, {"b_id": instance.id}) != instance.version:
            raise Conflict.lost_race(instance.id) from None
        raise


def rebuild(stored: Stored, compiled, script_engine, bodies: dict[str, str] | None = None):
    """(the workflow of `stored` on `compiled`'s specs, `stored` as loaded); a CHUNKED state's
    chunk bodies come from `bodies`, else from `stored` itself (one just dumped)."""
    if stored.version != CHUNKED_VERSION:
        return serialization.load(stored.state, compiled.spec, compiled.subprocess_specs,
                                  script_engine), stored
    if bodies is None:
        bodies = {c.hash: c.body for chunks in stored.chunked.chunks.values() for c in chunks}
    workflow, chunked = serialization.load_chunked(stored.state, bodies, compiled.spec,
                                                   compiled.subprocess_specs, script_engine)
    return workflow, Stored(CHUNKED_VERSION, stored.state, chunked)


def write(session: Session, instance_id: int, stored: Stored, before: Stored | None) -> Stored:
    """Write the chunk rows of going from `before` to `stored` (the instance row itself is
    written by engine/runtime/writeback.py); returns `stored` without the chunks' bodies, as
    the next dump needs it."""
    if stored.chunked is None:
        return stored
    fresh = stored.chunked.new_chunks(before.chunked if before else None)
    if fresh:
        prebuilt.write(session, _INSERT, [
            {"instance_id": instance_id, "hash": c.hash, "body": c.body} for c in fresh])
    if before is not None and before.chunked is not None:
        gone = before.chunked.hashes - stored.chunked.hashes
        if gone:
            prebuilt.write(session, _DELETE,
                           {"b_instance_id": instance_id, "b_hashes": sorted(gone)})
    light = {owner: [dataclasses.replace(c, body=None) for c in chunks]
             for owner, chunks in stored.chunked.chunks.items()}
    return dataclasses.replace(stored, chunked=dataclasses.replace(stored.chunked, chunks=light))


def check(session: Session, instance) -> str | None:
    """What is wrong with the chunks of `instance`'s stored state (a chunk its manifest names
    that is missing or altered), or None."""
    if instance.serializer_version != CHUNKED_VERSION:
        return None
    bodies = _bodies(session, instance.id)
    for h in serialization.manifest_hashes(instance.state):
        body = bodies.get(h)
        if body is None or hashlib.sha256(body.encode()).hexdigest() != h:
            return f"state chunk {h} is missing or altered"
    return None


def stored_size(session: Session, instance) -> int:
    """Bytes of `instance`'s stored state: its row's state and its chunks."""
    bodies = _bodies(session, instance.id) if instance.serializer_version == CHUNKED_VERSION \
        else {}
    return len(instance.state.encode()) + sum(len(b.encode()) for b in bodies.values())


def _bodies(session: Session, instance_id: int) -> dict[str, str]:
    return dict(prebuilt.run(session, _BODIES, {"b_instance_id": instance_id}).all())
