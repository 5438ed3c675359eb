"""Process owners' drafts over HTTP: started from a deployed process, saved with history and a
note, shared with a second owner, downloaded as a zip, validated, tried against last month's
requests (what-if) and deployed; a draft never changes what runs."""
from __future__ import annotations

import io
import zipfile

import pytest

from engine import users
from tests.web.api.test_owner import simple_history
from tests.web.conftest import FAST_HASH, PASSWORD, error_of

STRICT = "approved == True and amount &lt;= 1000"


@pytest.fixture
def simple(platform, auth):
    """simple v1 with one large refund finished (and one waiting), and a second owner."""
    history = simple_history(platform)
    with platform.sessions.begin() as session:
        users.create_user(session, "owner_2", PASSWORD, "process_owner", None, None,
                          method=FAST_HASH)
    return history


def start(owner, **fields):
    response = owner.post("/api/drafts", json={"title": "Stricter refunds",
                                               "process_key": "simple", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stricter(files):
    return {**files, "simple.bpmn": files["simple.bpmn"].replace(
        "approved == True</bpmn:conditionExpression>", f"{STRICT}</bpmn:conditionExpression>")}


def test_a_draft_starts_from_the_deployed_files_and_keeps_every_revision(auth, simple):
    owner = auth.as_("owner")
    draft = start(owner, note="from v1")
    assert draft["revision"] == 1 and draft["base"] == {"simple": 1}
    assert sorted(draft["files"]) == ["forms/confirm.json", "forms/review.json",
                                      "messages/refund_result.json", "simple.bpmn"]
    saved = owner.put(f"/api/drafts/{draft['id']}", json={
        "files": stricter(draft["files"]), "base_revision": 1, "note": "refunds above 1000 stop"})
    assert saved.status_code == 200 and saved.get_json()["revision"] == 2
    shown = owner.get(f"/api/drafts/{draft['id']}").get_json()
    assert STRICT in shown["files"]["simple.bpmn"]
    assert [(h["revision"], h["note"], h["saved_by"]) for h in shown["history"]] == [
        (2, "refunds above 1000 stop", "owner"), (1, "from v1", "owner")]
    first = owner.get(f"/api/drafts/{draft['id']}?revision=1").get_json()
    assert STRICT not in first["files"]["simple.bpmn"] and first["shown_revision"] == 1
    # A save from revision 1 after revision 2 exists would overwrite it: refused, nothing saved.
    stale = owner.put(f"/api/drafts/{draft['id']}", json={"files": draft["files"],
                                                          "base_revision": 1})
    assert stale.status_code == 409 and error_of(stale)["details"]["field"] == "base_revision"
    ahead = owner.put(f"/api/drafts/{draft['id']}", json={"files": draft["files"],
                                                          "base_revision": 99})
    assert ahead.status_code == 422 and error_of(ahead)["details"]["field"] == "base_revision"
    assert "no revision 99" in error_of(ahead)["message"]
    assert owner.get(f"/api/drafts/{draft['id']}").get_json()["revision"] == 2
    # Saving changed nothing deployed.
    versions = owner.get("/api/definitions/simple/versions").get_json()["items"]
    assert [v["version"] for v in versions] == [1]


def test_sharing_lets_a_second_owner_open_and_save_but_not_reshare(auth, simple):
    owner, second = auth.as_("owner"), auth.as_("owner_2")
    draft = start(owner)
    path = f"/api/drafts/{draft['id']}"
    assert second.get(path).status_code == 403
    assert second.get("/api/drafts").get_json()["items"] == []
    assert owner.post(f"{path}/shares", json={"username": "owner_2"}).status_code == 201
    assert [d["id"] for d in second.get("/api/drafts").get_json()["items"]] == [draft["id"]]
    opened = second.get(path).get_json()
    assert opened["owner"] == "owner" and opened["shared_with"][0]["username"] == "owner_2"
    saved = second.put(path, json={"files": stricter(opened["files"]), "base_revision": 1,
                                   "note": "by the second owner"})
    assert saved.status_code == 200 and saved.get_json()["saved_by"] == "owner_2"
    assert second.post(f"{path}/shares", json={"username": "admin"}).status_code == 403
    assert owner.delete(f"{path}/shares/owner_2").status_code == 200
    assert second.get(path).status_code == 403


def test_share_refusals_name_the_field(auth, simple):
    owner = auth.as_("owner")
    draft = start(owner)
    for username in ("nobody", "finance_1", "owner"):
        refused = owner.post(f"/api/drafts/{draft['id']}/shares", json={"username": username})
        assert refused.status_code == 422, username
        assert error_of(refused)["details"]["field"] == "username"
    assert owner.delete(f"/api/drafts/{draft['id']}/shares/owner_2").status_code == 404


def test_bad_files_are_refused_and_nothing_is_stored(auth, simple):
    owner = auth.as_("owner")
    for files in ({}, {"../etc/passwd": "x"}, {"notes.txt": "x"}, {"simple.bpmn": 3},
                  {"forms/review.json": "{}"}):
        refused = owner.post("/api/drafts", json={"title": "x", "files": files})
        assert refused.status_code == 422, files
        assert error_of(refused)["details"]["field"].startswith("files"), files
    neither = owner.post("/api/drafts", json={"title": "x"})
    assert neither.status_code == 422 and error_of(neither)["details"]["field"] == "files"
    unknown = owner.post("/api/drafts", json={"title": "x", "process_key": "nope"})
    assert unknown.status_code == 404
    assert owner.get("/api/drafts").get_json()["items"] == []


def test_the_bundle_is_a_zip_in_the_layout_of_bpmn(auth, simple):
    owner = auth.as_("owner")
    draft = start(owner)
    response = owner.get(f"/api/drafts/{draft['id']}/bundle")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert sorted(archive.namelist()) == sorted(draft["files"])
        assert archive.read("simple.bpmn").decode() == draft["files"]["simple.bpmn"]


def test_validate_whatif_and_deploy_from_the_draft(auth, simple):
    owner = auth.as_("owner")
    draft = start(owner)
    path = f"/api/drafts/{draft['id']}"
    broken = {**draft["files"], "simple.bpmn": draft["files"]["simple.bpmn"].replace(
        'value="PT4H"', 'value="P1W"')}
    owner.put(path, json={"files": broken, "base_revision": 1})
    problems = owner.post(f"{path}/validate").get_json()
    assert problems["ok"] is False
    assert [(p["element_id"], "P1W" in p["message"]) for p in problems["problems"]] == [
        ("review", True)]
    refused = owner.post(f"{path}/deploy", json={"revision": 2})
    assert refused.status_code == 422
    owner.put(path, json={"files": stricter(draft["files"]), "base_revision": 2})
    assert owner.post(f"{path}/validate").get_json() == {
        "ok": True, "problems": [], "would_version": ["simple"], "unchanged": []}

    report = owner.post(f"{path}/whatif", json={"days": 30}).get_json()
    assert (report["examined"], report["diverging"]) == (1, 1)
    [item] = report["items"]
    assert item["business_key"] == "AS-LARGE" and item["divergence"]["element"] == "review"
    assert item["fewer"] == ["confirm"]           # finance would not have confirmed a refund
    assert report["departments"] == [{"department": "finance", "more": 0, "fewer": 1}]
    long_ago = owner.post(f"{path}/whatif", json={"days": 1}).get_json()
    assert long_ago["examined"] == 1                    # the clock is frozen at the run's time
    assert field_of(owner.post(f"{path}/whatif", json={"days": 0})) == "days"

    stale = owner.post(f"{path}/deploy", json={"revision": 2})
    assert stale.status_code == 409
    deployed = owner.post(f"{path}/deploy", json={"revision": 3, "comment": "stricter"})
    assert deployed.status_code == 201, deployed.get_json()
    assert [(d["process_key"], d["version"], d["created"])
            for d in deployed.get_json()["items"]] == [("simple", 2, True)]
    versions = owner.get("/api/definitions/simple/versions").get_json()["items"]
    assert [(v["version"], v["comment"]) for v in versions] == [(1, None), (2, "stricter")]
    assert owner.get(path).get_json()["deployed_revision"] == 3


def test_only_owners_and_admins_use_drafts(auth, simple):
    draft = start(auth.as_("owner"))
    for user in ("auditor", "cs_lead", "customer_service_1", "alice"):
        assert auth.as_(user).get("/api/drafts").status_code == 403
        assert auth.as_(user).get(f"/api/drafts/{draft['id']}").status_code == 403
    assert auth.as_("admin").get(f"/api/drafts/{draft['id']}").status_code == 200
    assert auth.as_("owner").get("/api/drafts/999999").status_code == 404


def field_of(response) -> str:
    assert response.status_code == 422, response.get_json()
    return error_of(response)["details"]["field"]


def test_an_id_too_large_for_the_database_is_404(auth, simple):
    owner = auth.as_("owner")
    huge = "/api/drafts/99999999999999999999999"
    for response in (owner.get(huge), owner.put(huge, json={"files": {"a.bpmn": ""},
                                                            "base_revision": 1}),
                     owner.get(f"{huge}/bundle"), owner.post(f"{huge}/validate"),
                     owner.post(f"{huge}/shares", json={"username": "owner_2"}),
                     owner.delete(f"{huge}/shares/owner_2"), owner.post(f"{huge}/whatif"),
                     owner.post(f"{huge}/deploy", json={"revision": 1})):
        assert response.status_code == 404, response.get_json()
        assert error_of(response)["code"] == "not_found"
