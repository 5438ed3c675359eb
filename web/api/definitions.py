"""Process definitions: upload (deploy or just validate) and the deployed versions.

An upload is multipart/form-data: BPMN (*.bpmn, *.bpmn20.xml) and DMN (*.dmn) files in any
field, forms as files named `forms/<name>.json` (or `<name>.json`), or as text fields named
`forms/<name>.json`; an optional `comment` field. Deploying an invalid bundle stores nothing
and answers 422 with every problem; re-deploying identical content answers 200 with
`created: false`.
"""
from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import select

from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.errors import InvalidInput, NotFound
from engine.models import Definition
from web.api.base import INSTANCE_READERS, OWNERS, actor, allow, transaction

bp = Blueprint("definitions", __name__)


@bp.post("/definitions")
@allow(*OWNERS)
def deploy():
    bundle, comment = _bundle()
    with transaction() as session:
        deployed = catalog.deploy(session, bundle, actor().name, comment)
        created = any(d.created for d in deployed)
        return ({"created": created,
                 "deployed": [{"process_key": d.process_key, "version": d.version,
                               "definition_id": d.definition_id, "created": d.created}
                              for d in deployed]}, 201 if created else 200)


@bp.post("/definitions/validate")
@allow(*OWNERS)
def validate():
    bundle, _ = _bundle()
    with transaction() as session:
        problems = catalog.validate_against_deployed(session, bundle)
    return {"ok": not problems, "problems": [p.as_dict() for p in problems]}


@bp.get("/definitions")
@allow(*INSTANCE_READERS)
def latest():
    with transaction() as session:
        return {"items": [definition_json(d) for d in catalog.all_latest(session)]}


@bp.get("/definitions/<key>/versions")
@allow(*INSTANCE_READERS)
def versions(key):
    with transaction() as session:
        rows = catalog.versions(session, key)
        if not rows:
            raise NotFound(f"process '{key}' is not deployed", field="key")
        return {"items": [definition_json(d) for d in rows]}


@bp.get("/definitions/<key>/versions/<id:version>")
@allow(*INSTANCE_READERS)
def source(key, version):
    with transaction() as session:
        row = session.scalars(select(Definition).where(Definition.process_key == key,
                                                       Definition.version == version)).first()
        if row is None:
            raise NotFound(f"process '{key}' has no version {version}", field="version")
        return {**definition_json(row), "sources": row.sources, "forms": row.forms}


def definition_json(d: Definition) -> dict:
    return {"id": d.id, "process_key": d.process_key, "version": d.version, "name": d.name,
            "sha256": d.sha256, "deployed_at": d.deployed_at, "deployed_by": d.deployed_by,
            "comment": d.comment}


def _bundle() -> tuple[Bundle, str | None]:
    """The uploaded files as a Bundle (engine.definitions.bundle decides what is taken), and
    the deployment comment. Forms may also come as text fields named `forms/<name>.json`."""
    if request.mimetype != "multipart/form-data":
        raise InvalidInput("send the files as multipart/form-data", field="files")
    named = [(upload.filename or "(no file name)", upload.read())
             for _field, upload in request.files.items(multi=True)]
    named += [(field, value.encode()) for field, value in request.form.items(multi=True)
              if field.startswith("forms/") and field.endswith(".json")]
    comment = request.form.get("comment")
    if comment is not None and len(comment) > 2000:
        raise InvalidInput("comment must be at most 2000 characters", field="comment")
    return Bundle.from_files(named), comment
