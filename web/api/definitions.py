"""Process definitions: upload (deploy or just validate) and the deployed versions.

An upload is multipart/form-data: BPMN (*.bpmn, *.bpmn20.xml) and DMN (*.dmn) files in any
field, forms as files named `forms/<name>.json` (or `<name>.json`), or as text fields named
`forms/<name>.json`; message schemas as files named `messages/<name>.json` (or in the field
`messages`); an optional `comment` field. It may be a whole folder, one process file with its
forms, or one DMN file: what it leaves out is taken from the deployed versions, and only the
processes whose closure changed get a new version (engine.definitions.catalog.plan, which
validate runs too, so what validates deploys); both answers list the processes `versioned`
(validate: `would_version`) and `unchanged`. Deploying an invalid bundle stores nothing
and answers 422 with every problem; re-deploying identical content answers 200 with
`created: false`. Warnings (problems of severity "warning": a UNIQUE table whose rows overlap,
a catch nothing in the upload throws) are listed but do not stop a deploy; its answer carries
them as `warnings`.
"""
from __future__ import annotations

from flask import Blueprint

from engine import access
from engine.definitions import catalog
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
                 "versioned": [d.process_key for d in deployed if d.created],
                 "unchanged": [d.process_key for d in deployed if not d.created],
                 "warnings": [w.as_dict() for w in warnings]}, 201 if created else 200)


@bp.post("/definitions/validate")
@allow(*access.OWNERS)
def validate():
    bundle, _ = files.read_bundle()
    with transaction() as session:
        planned = catalog.plan(session, bundle)
    # Warnings are listed with the problems (severity "warning") but do not stop a deploy.
    return {"ok": not planned.errors, "problems": [p.as_dict() for p in planned.problems],
            "would_version": [p.process_key for p in planned.processes if p.changed],
            "unchanged": [p.process_key for p in planned.processes if not p.changed]}


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
