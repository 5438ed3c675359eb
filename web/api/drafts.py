"""Process owners' drafts over the API (engine/definitions/drafts.py): start one from a
deployed process or from files, save revisions with a note, share it with another owner,
download it as a zip, validate it, run it against the requests of the last N days (what-if,
kept as the draft's last for the supervisors: web/api/whatif_results.py) and deploy it. Owners and admins only; the engine decides whose draft is whose (403 for
someone else's draft that is not shared with the caller). Files travel as {path: text}.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from engine import access, clock, whatif_results
from engine.definitions import drafts
from engine.history import whatif_report
from web import query
from web.api.base import actor, allow, body, only_args, runtime, settings, transaction
from web.api.schemas import obj, text

bp = Blueprint("drafts", __name__)

FILES = {"type": "object", "minProperties": 1, "maxProperties": drafts.MAX_FILES,
         "additionalProperties": {"type": "string"}}
NOTE = text(drafts.MAX_NOTE, 0)
DRAFT_NEW = obj({"title": text(drafts.MAX_TITLE), "process_key": text(200), "files": FILES,
                 "note": NOTE}, ["title"])
DRAFT_SAVE = obj({"files": FILES, "base_revision": {"type": "integer", "minimum": 1},
                  "note": NOTE}, ["files", "base_revision"])
DRAFT_SHARE = obj({"username": text(100)}, ["username"])
DRAFT_WHATIF = obj({"days": {"type": "integer", "minimum": 1, "maximum": whatif_report.MAX_DAYS},
                    "limit": {"type": "integer", "minimum": 1,
                              "maximum": whatif_report.MAX_REQUESTS}})
DRAFT_DEPLOY = obj({"revision": {"type": "integer", "minimum": 1}, "comment": NOTE},
                   ["revision"])
REVISION_MAX = 2**31 - 1


@bp.get("/drafts")
@allow(*access.OWNERS)
def listing():
    with transaction() as session:
        return {"items": drafts.listing(session, actor())}


@bp.post("/drafts")
@allow(*access.OWNERS)
def create():
    """From `process_key` (its newest deployed files) or from `files`; 201 with the draft."""
    fields = body(DRAFT_NEW)
    with transaction() as session:
        files, base = drafts.starting_files(session, fields.get("process_key"),
                                            fields.get("files"), settings().max_upload_bytes)
        draft = drafts.create(session, actor(), fields["title"], files, note=fields.get("note"),
                              base=base)
        return drafts.show(session, draft), 201


@bp.get("/drafts/<id:draft_id>")
@allow(*access.OWNERS)
def show(draft_id):
    only_args("revision")
    number = request.args.get("revision")
    number = query.integer(number, "revision", 1, REVISION_MAX) if number else None
    with transaction() as session:
        return drafts.show(session, drafts.get(session, actor(), draft_id), number)


@bp.put("/drafts/<id:draft_id>")
@allow(*access.OWNERS)
def save(draft_id):
    fields = body(DRAFT_SAVE)
    files = drafts.checked_files(fields["files"], settings().max_upload_bytes)
    with transaction() as session:
        saved = drafts.save(session, actor(), draft_id, files,
                            base_revision=fields["base_revision"], note=fields.get("note"))
        return {"draft_id": draft_id, "revision": saved.number, "note": saved.note,
                "saved_by": saved.saved_by, "saved_at": saved.saved_at}


@bp.get("/drafts/<id:draft_id>/bundle")
@allow(*access.OWNERS)
def download(draft_id):
    with transaction() as session:
        draft = drafts.get(session, actor(), draft_id)
        content, head = drafts.zip_of(drafts.head_files(session, draft)), draft.head
    return Response(content, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="draft-{draft_id}-r{head}.zip"'})


@bp.post("/drafts/<id:draft_id>/validate")
@allow(*access.OWNERS)
def validate(draft_id):
    """The newest revision's problems, as deploy would find them; nothing is stored."""
    with transaction() as session:
        draft = drafts.get(session, actor(), draft_id)
        return drafts.validation(session, drafts.head_files(session, draft))


@bp.post("/drafts/<id:draft_id>/shares")
@allow(*access.OWNERS)
def share(draft_id):
    fields = body(DRAFT_SHARE)
    with transaction() as session:
        row = drafts.share(session, actor(), draft_id, fields["username"])
        return {"draft_id": draft_id, "username": row.username, "shared_by": row.shared_by,
                "shared_at": row.shared_at}, 201


@bp.delete("/drafts/<id:draft_id>/shares/<username>")
@allow(*access.OWNERS)
def unshare(draft_id, username):
    with transaction() as session:
        drafts.unshare(session, actor(), draft_id, username)
    return {"draft_id": draft_id, "username": username, "shared": False}


@bp.post("/drafts/<id:draft_id>/whatif")
@allow(*access.OWNERS)
def whatif(draft_id):
    """The newest revision against the requests finished in the last `days` days, kept as the
    draft's last what-if for the supervisors (GET /api/whatif-results)."""
    fields = body(DRAFT_WHATIF, optional=True)
    with transaction() as session:
        return whatif_results.run(session, actor(), draft_id, runtime().script_engine,
                                  days=fields.get("days", 30), limit=fields.get("limit", 50),
                                  now=clock.now())


@bp.post("/drafts/<id:draft_id>/deploy")
@allow(*access.OWNERS)
def deploy(draft_id):
    fields = body(DRAFT_DEPLOY)
    warnings = []
    with transaction() as session:
        deployed = drafts.deploy(session, actor(), draft_id, fields["revision"],
                                 comment=fields.get("comment") or None, warnings=warnings)
    return {"draft_id": draft_id, "revision": fields["revision"],
            "items": [vars(d) for d in deployed], "warnings": [w.as_dict() for w in warnings]}, 201
