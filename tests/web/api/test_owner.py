"""Process owners over HTTP: version diffs with their impact, migrations (dry run first),
what-if runs of a candidate bundle."""
from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from engine.access import SYSTEM, Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.models import HumanTask
from engine.runtime.verbs import Runtime
from tests.conftest import DATA
from tests.web.conftest import PEOPLE, error_of

SIMPLE = DATA / "simple"
V2 = DATA / "versions" / "v2"          # review renamed to assess, stricter condition, new form
V3 = DATA / "versions" / "v3"          # only the stricter condition
CS = Actor("customer_service_1", "staff", "customer_service")
FIN = Actor("finance_1", "staff", "finance")
RENAME = {"review": "assess"}


def deploy_folder(platform, folder) -> None:
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(folder), "owner")


def simple_history(platform) -> SimpleNamespace:
    """simple v1 deployed, with a large refund paid and confirmed (finished) and one waiting
    for review."""
    # The bare engine (no request rows, no payment book): these instances are not requests.
    runtime = Runtime(platform.settings)

    def run(verb, *args):
        with platform.sessions.begin() as session:
            return getattr(runtime, verb)(session, *args)

    def open_task(instance_id):
        with platform.sessions() as session:
            return session.scalars(select(HumanTask.task_id)
                                   .where(HumanTask.instance_id == instance_id)).one()

    deploy_folder(platform, SIMPLE)
    done = run("start", "simple", {"request_no": "AS-LARGE", "amount": 5000.0}, SYSTEM).id
    run("complete", open_task(done), {"approved": True, "note": "ok"}, CS)
    run("deliver_message", "refund_result", "AS-LARGE", {"status": "paid"})
    run("complete", open_task(done), {"confirmed": True}, FIN)
    waiting = run("start", "simple", {"request_no": "AS-OPEN", "amount": 10.0}, SYSTEM).id
    return SimpleNamespace(done=done, waiting=waiting)


@pytest.fixture
def simple(platform, auth):
    """simple_history, then v2 deployed."""
    history = simple_history(platform)
    deploy_folder(platform, V2)
    return history


def upload(caller, path, folder, **fields):
    """POST the bundle in `folder` (and text `fields`) as multipart/form-data."""
    files = [("files", FileStorage(io.BytesIO(p.read_bytes()), filename=p.name))
             for p in sorted(folder.rglob("*")) if p.is_file()]
    boundary, body = encode_multipart(MultiDict(files + list(fields.items())))
    return caller.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def field_of(response, status=422):
    assert response.status_code == status, response.get_json()
    return error_of(response)["details"]["field"]


# --------------------------------------------------------------------- diff

def test_every_role_against_the_owner_routes(auth, simple):
    """Allowed callers get past the role checks; everyone else is 403 (the auditor too, on POST)."""
    migration = {"from": 1, "to": 2, "mapping": RENAME, "dry_run": True}
    diff, migrate = "/api/definitions/simple/diff?from=1&to=2", "/api/definitions/simple/migrations"
    calls = [
        ({"owner", "admin", "auditor"}, lambda c: c.get(diff)),
        ({"owner", "admin"}, lambda c: c.post(migrate, json=migration)),
        ({"owner", "admin"}, lambda c: upload(c, "/api/whatif", SIMPLE)),
    ]
    for allowed, call in calls:
        for user in PEOPLE:
            status = call(auth.as_(user)).status_code
            assert status == (200 if user in allowed else 403), (user, status)


def test_diff_lists_the_renamed_task_and_the_instances_standing_on_it(auth, simple):
    for user in ("owner", "admin", "auditor"):
        response = auth.as_(user).get("/api/definitions/simple/diff?from=1&to=2")
        assert response.status_code == 200, (user, response.get_json())
    result = response.get_json()
    assert (result["process_key"], result["from_version"], result["to_version"]) == (
        "simple", 1, 2)
    assert {"id": "assess", "type": "userTask", "name": "Assess request"} in result["added"]
    assert {"id": "review", "type": "userTask", "name": "Review request"} in result["removed"]
    changed = {e["id"]: e["changes"] for e in result["changed"]}
    assert changed["confirm"]["sla"] == {"from": "P2D", "to": "P1D"}
    [hit] = result["impact"]
    assert hit["instance_id"] == simple.waiting and hit["status"] == "running"
    assert {"element": "review", "state": "READY", "change": "removed",
            "what": []} in hit["elements"]
    back = auth.as_("owner").get("/api/definitions/simple/diff?from=2&to=1").get_json()
    assert {"id": "review", "type": "userTask", "name": "Review request"} in back["added"]
    assert back["impact"] == []                    # nothing runs on v2 yet


def test_diff_refusals(auth, simple, client):
    assert client.get("/api/definitions/simple/diff?from=1&to=2").status_code == 401
    for user in ("customer_service_1", "cs_lead", "alice"):
        assert auth.as_(user).get("/api/definitions/simple/diff?from=1&to=2").status_code == 403
    owner = auth.as_("owner")
    assert owner.get("/api/definitions/ghost/diff?from=1&to=2").status_code == 404
    assert owner.get("/api/definitions/simple/diff?from=1&to=9").status_code == 404
    assert field_of(owner.get("/api/definitions/simple/diff?from=1")) == "to"
    assert field_of(owner.get("/api/definitions/simple/diff?from=one&to=2")) == "from"
    assert field_of(owner.get("/api/definitions/simple/diff?from=0&to=2")) == "from"
    assert field_of(owner.get("/api/definitions/simple/diff?from=1&to=2&v=3")) == "v"


# ---------------------------------------------------------------- migration

def test_migration_dry_run_changes_nothing_then_moves(auth, simple):
    owner = auth.as_("owner")
    url = "/api/definitions/simple/migrations"
    before = owner.get(f"/api/instances/{simple.waiting}").get_json()
    refused = owner.post(url, json={"from": 1, "to": 2, "dry_run": True})
    assert refused.status_code == 200
    [item] = refused.get_json()["items"]          # the finished instance is not taken
    assert item["instance_id"] == simple.waiting and not item["can_move"] and not item["moved"]
    assert "map review=assess" in item["reasons"][0]

    dry = owner.post(url, json={"from": 1, "to": 2, "mapping": RENAME, "dry_run": True}).get_json()
    assert dry["dry_run"] is True and dry["moved"] == 0
    assert dry["items"] == [{"instance_id": simple.waiting, "can_move": True, "reasons": [],
                             "moves": {"review": "assess", "review_timeout": "review_timeout"},
                             "moved": False}]
    assert owner.get(f"/api/instances/{simple.waiting}").get_json() == before

    moved = owner.post(url, json={"from": 1, "to": 2, "mapping": RENAME,
                                  "instance_ids": [simple.waiting]})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["moved"] == 1 and moved.get_json()["items"][0]["moved"] is True
    after = owner.get(f"/api/instances/{simple.waiting}").get_json()
    assert after["definition_version"] == 2 and after["events"] == before["events"] + 1
    assert [t["bpmn_id"] for t in after["tasks"]] == ["assess"]
    assert after["tasks"][0]["task_id"] == before["tasks"][0]["task_id"]
    history = owner.get(f"/api/instances/{simple.waiting}/history").get_json()["items"]
    assert (history[-1]["kind"], history[-1]["actor"]) == ("migrated", "owner")
    again = owner.post(url, json={"from": 1, "to": 2, "mapping": RENAME}).get_json()
    assert again["items"] == []                    # nothing unfinished is left on v1


def test_migration_refusals(auth, simple, client):
    url = "/api/definitions/simple/migrations"
    good = {"from": 1, "to": 2, "mapping": RENAME, "dry_run": True}
    assert client.post(url, json=good).status_code == 401
    for user in ("auditor", "cs_lead", "customer_service_1"):
        assert auth.as_(user).post(url, json=good).status_code == 403
    owner = auth.as_("owner")
    assert owner.post("/api/definitions/ghost/migrations", json=good).status_code == 404
    assert owner.post(url, json={**good, "to": 9}).status_code == 404
    assert owner.post(url, json={**good, "instance_ids": [999999]}).status_code == 404
    assert field_of(owner.post(url, json={"from": 1})) == "to"
    assert field_of(owner.post(url, json={**good, "from": "1"})) == "from"
    assert field_of(owner.post(url, json={**good, "mapping": {"review": 3}})) == "mapping.review"
    assert field_of(owner.post(url, json={**good, "instance_ids": "all"})) == "instance_ids"
    assert field_of(owner.post(url, json={**good, "from": 2, "to": 1,
                                          "instance_ids": [simple.waiting]})) == "instance_ids"
    assert field_of(owner.post(url, json={**good, "dry_run": "yes"})) == "dry_run"
    assert owner.post(url, data="from=1", content_type="text/plain").status_code == 400
    shown = owner.get(f"/api/instances/{simple.waiting}").get_json()
    assert shown["definition_version"] == 1


# ------------------------------------------------------------------ what-if

def test_whatif_reports_the_divergence_of_a_stricter_condition(auth, simple):
    owner = auth.as_("owner")
    response = upload(owner, "/api/whatif", V3)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["diverging"] == 1
    [outcome] = result["items"]                    # only the finished instance is replayed
    assert (outcome["instance_id"], outcome["business_key"]) == (simple.done, "AS-LARGE")
    divergence = outcome["divergence"]
    assert outcome["diverges"] is True
    assert (divergence["seq"], divergence["kind"], divergence["element"]) == (
        2, "task_completed", "review")
    assert divergence["problem"] == "the candidate takes a different path"
    same = upload(auth.as_("admin"), "/api/whatif", SIMPLE,
                  instance_ids=str(simple.done), limit="5").get_json()
    assert same["diverging"] == 0 and same["items"][0]["events"] == 4
    renamed = upload(owner, "/api/whatif", V2).get_json()["items"][0]["divergence"]
    assert (renamed["seq"], renamed["recorded"], renamed["candidate"]) == (
        1, {"ready": ["review"]}, {"ready": ["assess"]})
    mapped = upload(owner, "/api/whatif", V2, mapping='{"review": "assess"}').get_json()
    [outcome] = mapped["items"]          # mapped, the start agrees; the large refund still differs
    assert outcome["events"] == 1 and outcome["divergence"]["seq"] == 2
    assert outcome["divergence"]["candidate"]["completed"] == ["end_rejected"]
    deployed = owner.get("/api/definitions/simple/versions").get_json()["items"]
    assert [v["version"] for v in deployed] == [1, 2]          # nothing was deployed


def test_whatif_refusals(auth, simple, client, tmp_path):
    assert upload(client, "/api/whatif", V3).status_code == 401
    for user in ("auditor", "cs_lead", "customer_service_1"):
        assert upload(auth.as_(user), "/api/whatif", V3).status_code == 403
    owner = auth.as_("owner")
    assert upload(owner, "/api/whatif", V3, instance_ids="999999").status_code == 404
    assert field_of(upload(owner, "/api/whatif", V3, instance_ids="1,x")) == "instance_ids"
    assert field_of(upload(owner, "/api/whatif", V3, limit="0")) == "limit"
    assert field_of(upload(owner, "/api/whatif", V3, mapping="review=assess"), 400) == "mapping"
    assert field_of(upload(owner, "/api/whatif", V3, mapping="[1]")) == "mapping"
    deep = upload(owner, "/api/whatif", V3, mapping="[" * 100_000 + "]" * 100_000)
    assert field_of(deep, 400) == "mapping"             # the parser's RecursionError: a 500
    assert "nested more than" in error_of(deep)["message"]
    assert field_of(owner.post("/api/whatif", json={})) == "files"
    folder = tmp_path / "candidate"
    folder.mkdir()
    (folder / "simple.bpmn").write_bytes((SIMPLE / "simple.bpmn").read_bytes().replace(
        b'targetRef="decide"', b'targetRef="nowhere"'))
    broken = upload(owner, "/api/whatif", folder)
    assert broken.status_code == 422
    assert "nowhere" in str(error_of(broken)["details"]["problems"])
