"""Inclusion proofs of an instance's history: a file that shows, to anyone with the public key
and without the database, that each of the instance's events is in the global audit log under
a signed checkpoint (`aftersales audit proof REF`, `aftersales audit check-proof FILE`).

The file holds the instance's events as recorded, the signed checkpoint, for each event its
position and RFC 6962 audit path, and the first checkpoint that held them all with the
consistency proof that the newest one extends it. `check()` verifies the signatures, rebuilds
each event's leaf from its fields and follows its path to the signed root, checks the
consistency proof, and checks the instance's own chain (each event's hash, each prev_hash,
seqs 1..n without a gap).
"""
from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, db
from engine.errors import Conflict, NotFound
from engine.history import audit, checkpoints, exports, global_log, merkle
from engine.models import Instance

FORMAT = "aftersales-proof/1"


def audit_paths(indices: list[int], hashes: list[bytes]) -> dict[int, list[bytes]]:
    """index -> PATH(index, D[n]) for each of `indices`, building the tree's levels once (the
    same paths as merkle.inclusion_proof, without recomputing subtrees per index)."""
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        paired = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])      # carried up unchanged: no sibling at this level
        levels.append(paired)
    out = {}
    for index in indices:
        path, j = [], index
        for level in levels[:-1]:
            sibling = j ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            j //= 2
        out[index] = path
    return out


def find_instance(session: Session, ref: str) -> Instance:
    """The instance `ref` names: its id or its business key (the request number)."""
    as_id = db.row_id(ref)
    instance = session.get(Instance, as_id) if as_id is not None else None
    instance = instance or session.scalars(select(Instance).where(
        Instance.business_key == ref)).first()
    if instance is None:
        raise NotFound(f"no instance '{ref}'", field="instance")
    return instance


def export(session: Session, folder_path, ref: str) -> dict:
    """The proof file of instance `ref` against the newest checkpoint of the folder.

    Raises Conflict when an event is not yet under a checkpoint (run `aftersales audit
    checkpoint`) or differs from the leaf that was checkpointed for it.
    """
    instance = find_instance(session, ref)
    folder = checkpoints.Folder(folder_path)
    listed = folder.checkpoints()
    if not listed:
        raise Conflict("no checkpoint has been signed yet: run `aftersales audit checkpoint`")
    checkpoint = listed[-1]
    events = audit.events(session, instance.id)
    positions = global_log.positions_of(session, instance.id)
    uncovered = [e.seq for e in events if positions.get(e.seq, checkpoint.size) >= checkpoint.size]
    if uncovered:
        raise Conflict(f"events {uncovered} of instance {instance.id} are not under a checkpoint "
                       "yet: run `aftersales audit checkpoint`", instance_id=instance.id)
    hashes = folder.leaf_hashes(0, checkpoint.size)
    paths = audit_paths([positions[e.seq] for e in events], hashes)
    out = []
    for event in events:
        position = positions[event.seq]
        if global_log.hash_of_event(event) != hashes[position].hex():
            raise Conflict(f"instance {instance.id} event {event.seq} differs from the leaf "
                           f"checkpointed at position {position}: run `aftersales audit verify`",
                           instance_id=instance.id)
        out.append(dict(exports.record(event, exports.EVENT_FIELDS), position=position,
                        proof=[h.hex() for h in paths[position]]))
    # The first checkpoint that held all these events, and the proof that the newest extends
    # it: whoever kept that older one (a witness) sees the log only grew since.
    last = max(positions[e.seq] for e in events) if events else -1
    older = next(c for c in listed if c.size > last)
    return {"format": FORMAT, "instance": {"id": instance.id,
                                           "business_key": instance.business_key},
            "checkpoint": dataclasses.asdict(checkpoint), "events": out,
            "since": {"checkpoint": dataclasses.asdict(older),
                      "consistency": [h.hex() for h in merkle.consistency_proof(
                          older.size, hashes)]}}


def check(document: dict, keys: dict) -> list[str]:
    """The problems of a proof file (none: every event is proven under the signed checkpoint)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return [f"not a proof file of format {FORMAT}"]
    try:
        checkpoint = checkpoints.Checkpoint(**document["checkpoint"])
    except (KeyError, TypeError):
        return ["the file has no checkpoint"]
    problem = checkpoint.problem(keys)
    if problem is not None:
        return [f"the checkpoint (size {checkpoint.size}, {checkpoint.at}): {problem}"]
    problems, prev = _since(document.get("since"), checkpoint, keys), audit.GENESIS
    root = bytes.fromhex(checkpoint.root)
    for n, event in enumerate(document.get("events") or [], 1):
        seq = event.get("seq")
        try:
            leaf = merkle.leaf_hash(global_log.leaf_of_event(event))
            merkle.verify_inclusion(event["position"], checkpoint.size, leaf,
                                    [bytes.fromhex(h) for h in event["proof"]], root)
        except (KeyError, TypeError, ValueError, merkle.ProofError) as err:
            problems.append(f"event {seq}: not in the log under the signed checkpoint ({err})")
        if seq != n:
            problems.append(f"event {seq}: expected event {n} (an event is missing or moved)")
        if event.get("prev_hash") != prev:
            problems.append(f"event {seq}: does not follow the event before it")
        try:
            fields = {k: event[k] for k in exports.EVENT_FIELDS if k != "hash"}
            recomputed = audit.event_hash(**dict(fields, at=clock.parse(fields["at"])))
        except (KeyError, TypeError, ValueError):
            recomputed = None
        if recomputed != event.get("hash"):
            problems.append(f"event {seq}: its hash does not match its fields")
        prev = event.get("hash")
    return problems


def _since(since, checkpoint: checkpoints.Checkpoint, keys: dict) -> list[str]:
    """The problems of the file's older checkpoint and of its consistency proof to the newest."""
    if since is None:
        return []
    try:
        older = checkpoints.Checkpoint(**since["checkpoint"])
        problem = older.problem(keys)
        if problem is None:
            merkle.verify_consistency(older.size, checkpoint.size, bytes.fromhex(older.root),
                                      bytes.fromhex(checkpoint.root),
                                      [bytes.fromhex(h) for h in since["consistency"]])
    except (KeyError, TypeError, ValueError, merkle.ProofError) as err:
        return [f"the older checkpoint: the newest one does not extend it ({err})"]
    return [] if problem is None else [f"the older checkpoint (size {older.size}): {problem}"]
