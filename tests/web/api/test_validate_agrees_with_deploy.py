"""What validates deploys, and what deploys validated (issue 16, item 2): for a corpus of
uploads (every bundle folder of the test data, each of their files alone, each product file
alone), POST /api/definitions/validate says ok exactly when POST /api/definitions succeeds,
both list the same problems, and neither answers 500. Validate and deploy run one plan
(engine.definitions.catalog.plan), resolved against what is deployed at that moment."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import DATA, ROOT
from tests.web.api.test_definitions import post
from tests.web.api.test_partial_deploys import product_upload
from tests.web.conftest import WEB_DATA

PRODUCT = ROOT / "bpmn"


def _sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".bpmn", ".dmn"))


def _extras(folder: Path) -> list[tuple[str, str, bytes]]:
    return [("files", f"{sub}/{p.name}", p.read_bytes())
            for sub in ("forms", "messages") if (folder / sub).is_dir()
            for p in sorted((folder / sub).glob("*.json"))]


def corpus() -> list[tuple[str, list]]:
    """(what, upload) pairs: each bundle folder whole, then each of its files alone."""
    folders = sorted({p.parent for root in (DATA, WEB_DATA)
                      for p in [*root.rglob("*.bpmn"), *root.rglob("*.dmn")]})
    uploads = []
    for folder in [*folders, PRODUCT]:
        files = _sources(folder)
        extras = _extras(folder)
        uploads.append((f"{folder.name}/", [("files", p.name, p.read_bytes()) for p in files]
                        + extras))
        if len(files) > 1:
            uploads += [(f"{folder.name}/{p.name}", [("files", p.name, p.read_bytes())] + extras)
                        for p in files]
    return uploads


def test_validate_says_ok_exactly_when_deploy_succeeds_and_never_500(auth):
    owner = auth.as_("owner")
    assert post(owner, "/api/definitions", product_upload()).status_code == 201
    uploads = corpus()
    assert len(uploads) > 40
    outcomes = []
    for what, upload in uploads:
        checked = post(owner, "/api/definitions/validate", upload)
        deployed = post(owner, "/api/definitions", upload)
        assert checked.status_code == 200, (what, checked.get_json())
        assert deployed.status_code in (200, 201, 422), (what, deployed.get_json())
        ok = checked.get_json()["ok"]
        assert (deployed.status_code != 422) == ok, (what, checked.get_json(), deployed.get_json())
        if not ok:
            assert deployed.get_json()["error"]["details"]["problems"] == \
                checked.get_json()["problems"], what
        else:
            assert sorted(deployed.get_json()["versioned"]) == \
                sorted(checked.get_json()["would_version"]), what
        outcomes.append(ok)
    # The corpus has both kinds, or it proves nothing.
    assert any(outcomes) and not all(outcomes)
