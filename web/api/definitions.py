"""Process definitions: upload (deploy or just validate) and the deployed versions.

An upload is multipart/form-data: BPMN (*.bpmn, *.bpmn20.xml) and DMN (*.dmn) files in any
field, forms as files named `forms/<name>.json` (or `<name>.json`), or as text fields named
`forms/<name>.json`; an optional `comment` field. Deploying an invalid bundle stores nothing
and answers 422 with every problem; re-deploying identical content answers 200 with
`created: false`. Warnings (problems of severity "warning": a UNIQUE table whose rows overlap,
a catch nothing in the upload throws) are listed but do not stop a deploy; its answer carries
them as `warnings`.
"""
from __future__ import annotations

from flask import Blueprint

from engine import access
from engine.definitions import catalog, validation
from engine.errors import NotFound
from web import files
from web.api.base import actor, allow, transaction

bp = Blueprint("definitions", __name__)


@bp.post("/definitions")
@allow(*access.OWNERS)
def deploy():
    bundle, comment = files.read_bundle()
    warnings = []
    with transaction() as session:
        deployed = catalog.deploy(session, bundle, actor().name, comment, warnings=warnings)
        created = any(d.created for d in deployed)
        return ({"created": created,
                 "deployed": [{"process_key": d.process_key, "version": d.version,
                               "definition_id": d.definition_id, "created": d.created}
                              for d in deployed],
                 "warnings": [w.as_dict() for w in warnings]}, 201 if created else 200)


@bp.post("/definitions/validate")
@allow(*access.OWNERS)
def validate():
    bundle, _ = files.read_bundle()
    with transaction() as session:
        problems = catalog.validate_against_deployed(session, bundle)
    # Warnings are listed with the problems (severity "warning") but do not stop a deploy.
    return {"ok": not validation.errors(problems), "problems": [p.as_dict() for p in problems]}


@bp.get("/definitions")
@allow(*access.INSTANCE_READERS)
def latest():
    with transaction() as session:
        return {"items": catalog.latest_all_json(session)}


@bp.get("/definitions/<key>/versions")
@allow(*access.INSTANCE_READERS)
def versions(key):
    with transaction() as session:
        rows = catalog.versions_json(session, key)
        if not rows:
            raise NotFound(f"process '{key}' is not deployed", field="key")
        return {"items": rows}


@bp.get("/definitions/<key>/versions/<id:version>")
@allow(*access.INSTANCE_READERS)
def source(key, version):
    with transaction() as session:
        return catalog.show_version(session, key, version)
