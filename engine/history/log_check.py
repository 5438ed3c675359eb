"""Verification of the global audit log against its signed checkpoints, trusting nothing in the
database: only the public keys and the checkpoint folder (engine/history/checkpoints.py).

`check()` proves, in order:
1. the checkpoints: each signed by a known key, each chained to the one before, sizes never
   shrinking (a checkpoint replaced, removed or forged breaks this);
2. the folder's leaf hashes: the tree of the first `size` of them has each checkpoint's root;
3. the database: every position 0 .. n-1 is there, each row's present content hashes to the
   leaf the checkpoints signed (an altered event, even with its chain recomputed, an inserted,
   reordered or deleted event or a whole deleted instance all move or change a leaf), a row that
   is gone is accepted only where a signed removal record lists that very leaf, the log is not
   shorter than the newest checkpoint (a cut tail), each checkpoint's root is the root of the
   database's first `size` leaves, and no event sits outside the log.

The first position that is wrong is named (`first_bad`); without the folder's leaf hashes only
the span between the last checkpoint that holds and the first that fails can be named.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from engine.history import checkpoints, global_log, merkle


@dataclass
class LogCheck:
    size: int = 0                  # leaves in the database
    checkpoints: int = 0           # valid signed checkpoints
    checkpointed: int = 0          # leaves the newest valid checkpoint covers
    pending: int = 0               # events and actions not sequenced yet
    removed: int = 0               # leaves accepted as removed by a signed archive record
    first_bad: int | None = None   # the first position that is wrong
    problems: list[str] = field(default_factory=list)
    latest: checkpoints.Checkpoint | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad(self, position: int | None, problem: str) -> None:
        self.problems.append(problem)
        if position is not None and (self.first_bad is None or position < self.first_bad):
            self.first_bad = position


def check(session: Session, folder_path, keys: dict) -> LogCheck:
    """Verify the log in the database against the checkpoint folder with the public `keys`
    (key id -> Ed25519 public key); the LogCheck lists every problem found."""
    result = LogCheck()
    folder = checkpoints.Folder(folder_path)
    trusted = _checkpoints(folder, keys, result)
    file_hashes = folder.leaf_hashes()
    trusted_len = _file_prefix(file_hashes, trusted, result)
    removed = _removals(folder, keys, result)

    recomputed: list[bytes] = []
    for leaf in global_log.leaves(session):
        p = len(recomputed)
        if leaf.position != p:
            result.bad(p, f"position {p}: missing from the database (the log jumps to "
                          f"{leaf.position})")
            break
        content = leaf.content
        if content is None:
            record = removed.get(p)
            if record is not None and record[1:] == [leaf.instance_id, leaf.seq]:
                content = record[0]
                result.removed += 1
            else:
                result.bad(p, f"position {p}: {leaf.what} was deleted")
                content = leaf.stored
        elif p < trusted_len and content != file_hashes[p].hex():
            result.bad(p, f"position {p}: {leaf.what} differs from what was checkpointed")
        elif content != leaf.stored:
            result.bad(p, f"position {p}: {leaf.what} was altered after it was logged")
        recomputed.append(bytes.fromhex(content))
    result.size = len(recomputed)

    if result.latest is not None and result.size < result.latest.size:
        result.bad(result.size, f"the log ends at position {result.size} but the checkpoint of "
                                f"{result.latest.at} covers {result.latest.size} leaves: the "
                                "tail was cut")
    _roots(recomputed, trusted, result)
    unlogged = global_log.unlogged_events(session)
    if unlogged:
        result.bad(None, "events outside the global log (inserted behind its back): "
                   + ", ".join(f"instance {i} event {s}" for i, s in unlogged))
    result.pending = global_log.pending_count(session)
    return result


def _checkpoints(folder, keys, result) -> list[checkpoints.Checkpoint]:
    """The checkpoints that are signed, chained and growing; a problem for each other one."""
    try:
        listed = folder.checkpoints()
    except ValueError as err:
        result.bad(None, str(err))
        return []
    trusted, prev = [], checkpoints.GENESIS
    for n, cp in enumerate(listed, 1):
        problem = cp.problem(keys)
        if problem is None and cp.prev != prev:
            problem = "it does not follow the checkpoint before it (one was replaced or removed)"
        if problem is None and trusted and cp.size < trusted[-1].size:
            problem = f"its size {cp.size} is smaller than the one before ({trusted[-1].size})"
        if problem is not None:
            result.bad(None, f"checkpoint {n} ({cp.at}, size {cp.size}): {problem}")
        else:
            trusted.append(cp)
        prev = cp.digest()
    result.checkpoints = len(trusted)
    result.latest = trusted[-1] if trusted else None
    result.checkpointed = result.latest.size if result.latest else 0
    return trusted


def _file_prefix(hashes: list[bytes], trusted, result) -> int:
    """How many of the folder's leaf hashes the signed roots vouch for."""
    good, frontier, done = 0, [], 0
    for cp in trusted:
        if cp.size > len(hashes):
            result.bad(None, f"{checkpoints.LEAVES} holds {len(hashes)} leaves, fewer than the "
                             f"{cp.size} of the checkpoint of {cp.at}")
            break
        frontier = merkle.extend_frontier(frontier, done, hashes[done:cp.size])
        done = cp.size
        if merkle.frontier_root(frontier).hex() != cp.root:
            result.bad(None, f"{checkpoints.LEAVES} does not have the root of the checkpoint of "
                             f"{cp.at} (size {cp.size}): the folder was altered")
            break
        good = cp.size
    return good


def _removals(folder, keys, result) -> dict[int, list]:
    """position -> [leaf hash, instance id, seq] of every leaf a valid signed record removed."""
    out = {}
    for n, record in enumerate(folder.removals(), 1):
        problem = (checkpoints.signature_problem(checkpoints.removal_body(record),
                                                 record.get("key_id"), record.get("signature", ""),
                                                 keys)
                   if isinstance(record, dict) else "not a record")
        if problem is not None:
            result.bad(None, f"removal record {n}: {problem}")
            continue
        for position, leaf, instance_id, seq in record["leaves"]:
            out[position] = [leaf, instance_id, seq]
    return out


def _roots(recomputed: list[bytes], trusted, result) -> None:
    """Each checkpoint's root against the database's leaves; a span for the first that fails."""
    frontier, done, last_good = [], 0, 0
    for cp in trusted:
        if cp.size > len(recomputed):
            return
        frontier = merkle.extend_frontier(frontier, done, recomputed[done:cp.size])
        done = cp.size
        if merkle.frontier_root(frontier).hex() != cp.root:
            # The span is all the roots can tell; a position found exactly above stands.
            span_start = last_good if result.first_bad is None else None
            result.bad(span_start, f"the database's first {cp.size} leaves do not have the root "
                                  f"signed at {cp.at}: a position from {last_good} to "
                                  f"{cp.size - 1} was changed")
            return
        last_good = cp.size
