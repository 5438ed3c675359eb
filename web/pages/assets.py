"""Files the pages' scripts load: front-end packages from npm, and the BPMN of a definition.

Packages (web/package.json) are served from web/node_modules, which `.ci/setup` fills with
`npm ci`; only the `dist` folders of the packages named here are reachable, and nothing is
ever fetched from a CDN. A definition row never changes, so its BPMN files are cached too.
"""
from __future__ import annotations

from flask import abort, jsonify, send_from_directory

from engine.definitions import catalog
from web.pages import WEB, bp, context, diagram

NODE_MODULES = WEB / "node_modules"
PACKAGES = {"bpmn-js": NODE_MODULES / "bpmn-js" / "dist",
            "echarts": NODE_MODULES / "echarts" / "dist",
            "echarts-wordcloud": NODE_MODULES / "echarts-wordcloud" / "dist"}
ONE_DAY = 24 * 3600


@bp.get("/assets/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):
    folder = PACKAGES.get(package)
    if folder is None or not folder.is_dir():
        abort(404, description=f"{package} is not installed: run `npm ci` in web/ (.ci/setup)")
    return send_from_directory(folder, filename, max_age=ONE_DAY)


@bp.get("/definitions/<id:definition_id>/bpmn.json")
@context.roles_required()
def definition_files(definition_id: int):
    """{file name: BPMN XML} of one deployed definition (`?sha=` only busts caches)."""
    with context.transaction() as db:
        files = diagram.bpmn_files(catalog.show(db, definition_id)["sources"])
    response = jsonify(files)
    response.cache_control.private = True
    response.cache_control.max_age = ONE_DAY
    return response
