"""Process owners' tools: the diff between two versions (with the running work it touches),
migrating unfinished instances between versions, and what-if runs of a candidate bundle.

A migration body names the versions by number; without `instance_ids` it takes every
unfinished instance of `from`. Given ids must exist (404) and run on `from` (422). With
`dry_run` nothing is written. What-if takes the same multipart upload as POST
/api/definitions, plus optional form fields `instance_ids` (comma list), `limit` and `mapping`
(a JSON object {old_id: new_id}); nothing is stored.
"""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, db, instances
from engine.definitions import catalog, versions
from engine.errors import InvalidInput
from engine.history import whatif
from engine.runtime import instance_migration
from web import files, query
from web.api.base import actor, allow, body, json_field, only_args, runtime, transaction
from web.api.schemas import obj, text

bp = Blueprint("owner", __name__)

VERSION = {"type": "integer", "minimum": 1}
MIGRATION = obj({"from": VERSION, "to": VERSION,
                 "mapping": {"type": "object", "maxProperties": 500,
                             "additionalProperties": text(200)},
                 "instance_ids": {"type": "array", "maxItems": 1000, "uniqueItems": True,
                                  "items": {"type": "integer", "minimum": 1}},
                 "dry_run": {"type": "boolean"}}, ["from", "to"])
MAX_WHATIF = 200


@bp.get("/definitions/<key>/diff")
@allow(*access.OWNER_READERS)
def diff_versions(key):
    only_args("from", "to")
    v1, v2 = _version_arg("from"), _version_arg("to")
    with transaction() as session:
        result = versions.diff(session, key, v1, v2)
        return {**result.as_dict(), "impact": versions.impact(session, key, v1, v2)}


@bp.post("/definitions/<key>/migrations")
@allow(*access.OWNERS)
def migrate(key):
    fields = body(MIGRATION)
    dry_run = fields.get("dry_run", False)
    with transaction() as session:
        source_id = catalog.version_id(session, key, fields["from"])
        target_id = catalog.version_id(session, key, fields["to"])
        ids = instances.to_migrate(session, source_id, fields.get("instance_ids"))
        results = instance_migration.migrate(session, runtime(), ids, target_id,
                                             fields.get("mapping"), actor(), dry_run=dry_run)
        return {"process_key": key, "from": fields["from"], "to": fields["to"],
                "dry_run": dry_run, "moved": sum(r["moved"] for r in results.values()),
                "items": [{"instance_id": i, **r} for i, r in results.items()]}


@bp.post("/whatif")
@allow(*access.OWNERS)
def run_whatif():
    bundle, _comment = files.read_bundle()
    ids = _id_list(request.form.get("instance_ids", ""))
    limit = query.integer(request.form.get("limit") or "20", "limit", 1, MAX_WHATIF)
    mapping = _mapping_field(request.form.get("mapping", ""))
    with transaction() as session:
        outcomes = whatif.whatif(session, bundle, runtime().script_engine, instance_ids=ids,
                                 limit=limit, mapping=mapping)
        items = [o.as_dict() for o in outcomes]
    return {"items": items, "diverging": sum(o["diverges"] for o in items)}


def _version_arg(name: str) -> int:
    value = request.args.get(name)
    if value is None or not value.strip():
        raise InvalidInput(f"{name} (a version number) is required", field=name)
    return query.integer(value, name, 1, 2**31 - 1)


def _id_list(value: str) -> list[int] | None:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > MAX_WHATIF:
        raise InvalidInput(f"at most {MAX_WHATIF} instance ids", field="instance_ids")
    return [query.integer(p, "instance_ids", 1, db.MAX_ID) for p in parts] or None


def _mapping_field(value: str) -> dict | None:
    if not value.strip():
        return None
    return json_field(value, "mapping")  # the engine checks the shape (tree_move.normalize_mapping)
