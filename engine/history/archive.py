"""Retention: archiving finished instances out of the live tables into JSON files that verify
on their own (the records in them are engine/history/exports.py's).

An archive file holds, for each archived instance, its row and its whole audit chain, and the
sources and forms of every definition those histories ran on. `verify_archive()` rebuilds each
instance from the file alone: it checks each definition's content against its sha256, compiles it
in memory, and replays the chain exactly as `engine/history/replay.py` does for live instances. `archive()`
deletes live rows only after the file it wrote has verified. Next to the file it writes a
manifest (the file's sha256 and what it holds) and appends one line to `archive_log.jsonl`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from engine import clock, config
from engine.definitions import catalog
from engine.errors import Conflict, InvalidInput
from engine.history import audit, checkpoints, exports, global_log, replay
from engine.models import (
    FINISHED,
    AuditEvent,
    AuditLeaf,
    AuditRemoval,
    Definition,
    HumanTask,
    Instance,
    MessageSubscription,
    Outbox,
    Timer,
)
from engine.runtime import determinism

FORMAT = "aftersales-archive/1"
LOG_NAME = "archive_log.jsonl"
ARCHIVABLE = FINISHED
_DATETIMES = ("created_at", "updated_at", "completed_at", "at")
# Live rows that belong to an instance, deleted when it is archived (the instance row last).
_LIVE = (HumanTask, Timer, MessageSubscription, Outbox, AuditEvent)
_CHUNK = 500


# ----------------------------------------------------------------- archive

@dataclass
class ArchiveCheck:
    path: Path
    instances: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def archive(session: Session, older_than: timedelta, archive_dir: Path | str, actor: str, *,
            script_engine=None, limit: int | None = None,
            settings: config.Settings | None = None) -> Path | None:
    """Move finished instances older than the cutoff into a verified archive file.

    Takes completed and cancelled instances that finished (completed_at; for cancelled ones,
    their last update) before now - `older_than` and have no outbox row still pending or in
    incident, at most `limit`. Returns the archive's path, or None when nothing is due.
    Raises Conflict, deleting nothing, if the written archive does not verify or an event
    differs from its leaf in the global log.

    With `settings`, the removed leaves of the global log are listed in a record signed with
    the audit key (checkpoints.record_removal), which verification accepts in their place;
    without, their absence is reported by `aftersales audit verify`. The archive itself is an
    audited action.
    """
    if older_than < timedelta(0):
        raise InvalidInput("older_than must not be negative", field="older_than")
    now = clock.now()
    cutoff = now - older_than
    finished_at = func.coalesce(Instance.completed_at, Instance.updated_at)
    undelivered = exists().where(Outbox.instance_id == Instance.id,
                                 Outbox.status.in_(("pending", "incident")))
    query = (select(Instance).where(Instance.status.in_(ARCHIVABLE), finished_at < cutoff,
                                    ~undelivered).order_by(Instance.id))
    if limit is not None:
        query = query.limit(limit)
    instances = list(session.scalars(query))
    if not instances:
        return None
    document = _archive_document(session, instances, now, cutoff, actor)
    folder = Path(archive_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = _free_path(folder, f"archive-{now:%Y%m%dT%H%M%S%fZ}")
    # Key order is kept as recorded: replaying start data in another order gives another state.
    body = json.dumps(document, ensure_ascii=False, indent=1).encode()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)

    check = verify_archive(path, script_engine or _default_script_engine())
    if not check.ok:
        failed = path.with_suffix(".failed.json")
        os.replace(path, failed)
        raise Conflict(f"the archive does not verify; nothing was deleted ({failed.name}): "
                       + "; ".join(check.problems[:5]), details={"problems": check.problems})

    ids = [i.id for i in instances]
    digest = hashlib.sha256(body).hexdigest()
    removed = _removed_leaves(session, document)
    if settings is not None:
        checkpoints.record_removal(settings, archive=path.name, sha256=digest, instance_ids=ids,
                                   leaves=removed)
    # The database lets the events of these instances, and only these, be deleted.
    session.add_all([AuditRemoval(instance_id=i, archive=path.name, at=now) for i in ids])
    session.flush()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        for model in _LIVE:
            session.execute(delete(model).where(model.instance_id.in_(chunk)))
        session.execute(delete(Instance).where(Instance.id.in_(chunk)))
    session.flush()

    record = {"at": now.isoformat(), "actor": actor, "file": path.name, "sha256": digest,
              "cutoff": cutoff.isoformat(), "instances": len(ids), "events": check.events,
              "instance_ids": ids}
    manifest = dict(record, format=FORMAT,
                    business_keys=[i["instance"]["business_key"] for i in document["instances"]])
    path.with_name(path.stem + ".manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True))
    with open(folder / LOG_NAME, "a", encoding="utf-8") as log:
        log.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    global_log.record(session, "archived", actor=actor, subject=path.name,
                      payload={"sha256": digest, "instances": ids, "events": check.events})
    return path


def _removed_leaves(session: Session, document: dict) -> list[list]:
    """[position, leaf hash, instance id, seq] of every event the archive removes, after
    sequencing what was pending. Raises Conflict when an event's content no longer has the
    hash its leaf was given: the archive must not carry an altered event away."""
    global_log.sequence(session)
    out = []
    for entry in document["instances"]:
        instance_id = entry["instance"]["id"]
        positions = global_log.positions_of(session, instance_id)
        stored = dict(session.execute(select(AuditLeaf.seq, AuditLeaf.leaf_hash)
                                      .where(AuditLeaf.instance_id == instance_id)).all())
        for event in entry["events"]:
            leaf = global_log.hash_of_event(event)
            if stored.get(event["seq"]) != leaf:
                raise Conflict(f"instance {instance_id} event {event['seq']} differs from its leaf "
                               "in the global audit log; nothing was archived: run `aftersales "
                               "audit verify`", instance_id=instance_id)
            out.append([positions[event["seq"]], leaf, instance_id, event["seq"]])
    return out


def verify_archive(path: Path | str, script_engine) -> ArchiveCheck:
    """Verify an archive file from its content alone: the manifest's sha256 (when the manifest
    is there), each definition against its sha256, and the replay of every instance."""
    determinism.install()          # replay needs the deterministic ids and clock
    path = Path(path)
    check = ArchiveCheck(path)
    body = path.read_bytes()
    manifest = path.with_name(path.stem + ".manifest.json")
    if manifest.exists():
        expected = json.loads(manifest.read_text()).get("sha256")
        if expected != hashlib.sha256(body).hexdigest():
            check.problems.append("the file does not match the sha256 in its manifest")
    document = json.loads(body)
    if document.get("format") != FORMAT:
        check.problems.append(f"not an archive of format {FORMAT}")
        return check
    compiled = {}
    for key, d in document["definitions"].items():
        # Archives written before message schemas existed have no "messages".
        if catalog.digest(d["sources"], d["forms"], d.get("messages")) != d["sha256"]:
            check.problems.append(f"definition {d['process_key']} v{d['version']} does not match "
                                  f"its sha256")
            continue
        compiled[int(key)] = catalog.compile_sources(d["process_key"], d["sources"], d["forms"],
                                                      d.get("messages"), definition_id=int(key),
                                                      version=d["version"])

    for entry in document["instances"]:
        instance = Instance(**_restore(entry["instance"]))
        events = [AuditEvent(**_restore(e)) for e in entry["events"]]
        check.instances += 1
        check.events += len(events)
        missing = [i for i in exports.definition_ids(instance, events) if i not in compiled]
        if missing:
            check.problems.append(f"instance {instance.id} ({instance.business_key}) cannot be "
                                  f"replayed: definition(s) {missing} missing or not intact")
            continue
        result = replay.verify(None, instance.id, script_engine, events=events, instance=instance,
                               definition_for=compiled.__getitem__)
        if not result.ok:
            d = result.divergence
            check.problems.append(f"instance {instance.id} ({instance.business_key}) diverges at "
                                  f"event {d['seq']} ({d['kind']}): {d['problem']}")
    return check


# --------------------------------------------------------------- internals

def _archive_document(session, instances, now, cutoff, actor) -> dict:
    entries, used = [], set()
    for instance in instances:
        events = audit.events(session, instance.id)
        used.update(exports.definition_ids(instance, events))
        entries.append({"instance": exports.record(instance, exports.INSTANCE_FIELDS),
                        "events": [exports.record(e, exports.EVENT_FIELDS) for e in events]})
    rows = session.scalars(select(Definition).where(Definition.id.in_(sorted(used))))
    return {"format": FORMAT, "created_at": now.isoformat(), "created_by": actor,
            "cutoff": cutoff.isoformat(),
            "definitions": {str(r.id): dict(exports.definition_ref(r), sources=r.sources,
                                            forms=r.forms, messages=r.messages or {})
                            for r in rows},
            "instances": entries}


def _restore(values: dict) -> dict:
    out = dict(values)
    for name in _DATETIMES:
        if out.get(name) is not None:
            out[name] = clock.parse(out[name])
    return out


def _free_path(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.json"
    return path


def _default_script_engine():
    from engine.runtime.verbs import Runtime
    return Runtime().script_engine
