"""One process file, or one DMN file, deployed over HTTP (issue 16, item 3): what the upload
leaves out comes from the newest deployed versions, and only processes whose own content or
whose decisions changed get a new version. Validate runs the same plan, so what it passes
deploys (item 2)."""
from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.web.api.test_definitions import post
from tests.web.conftest import file_request

PRODUCT = ROOT / "bpmn"
PRODUCT_KEYS = ["aftersales_request", "complaint_escalation", "onsite_pickup", "refund_first",
                "repair", "return_goods", "sla_escalation", "surge_alert"]


def product_upload(**changes) -> list[tuple[str, str, bytes]]:
    """(field, file name, content) of every file of bpmn/, forms and message schemas too."""
    files = {p.name: p.read_bytes() for p in sorted(PRODUCT.glob("*.bpmn"))}
    files |= {p.name: p.read_bytes() for p in sorted(PRODUCT.glob("*.dmn"))}
    files |= {f"forms/{p.name}": p.read_bytes() for p in sorted((PRODUCT / "forms").glob("*.json"))}
    files |= {f"messages/{p.name}": p.read_bytes()
              for p in sorted((PRODUCT / "messages").glob("*.json"))}
    files.update(changes)
    return [("files", name, content) for name, content in files.items()]


def one_process(name: str, text: bytes) -> list[tuple[str, str, bytes]]:
    """The process file `name` (content `text`) with the forms its user tasks name."""
    forms = sorted(set(re.findall(rb'name="form" value="([^"]+)"', text)))
    return [("files", name, text)] + [
        ("files", f"forms/{form.decode()}", (PRODUCT / "forms" / form.decode()).read_bytes())
        for form in forms]


def deploy_product(owner) -> None:
    response = post(owner, "/api/definitions", product_upload())
    assert response.status_code == 201, response.get_json()


def newest(owner) -> dict[str, int]:
    items = owner.get("/api/definitions").get_json()["items"]
    return {d["process_key"]: d["version"] for d in items}


def test_one_process_file_with_its_forms_creates_that_version_only(auth):
    owner = auth.as_("owner")
    deploy_product(owner)
    before = newest(owner)
    running = file_request(auth, "alice")
    running_row = auth.as_("admin").get(f"/api/instances/{running['instance_id']}").get_json()
    edited = (PRODUCT / "refund_first.bpmn").read_bytes().replace(
        b'name="Record refund paid', b'name="Record the refund as paid')
    upload = one_process("refund_first.bpmn", edited)
    assert len(upload) > 1    # its forms came along

    checked = post(owner, "/api/definitions/validate", upload)
    assert checked.get_json() == {"ok": True, "problems": [], "would_version": ["refund_first"],
                                  "unchanged": []}
    response = post(owner, "/api/definitions", upload, comment="one file")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["versioned"], body["unchanged"]) == (["refund_first"], [])
    assert newest(owner) == dict(before, refund_first=before["refund_first"] + 1)

    stored = owner.get(f"/api/definitions/refund_first/versions/{before['refund_first'] + 1}")
    stored = stored.get_json()
    # The called processes came from their deployed versions, the decision from its DMN file;
    # routing.dmn, which nothing in refund_first evaluates, is not in its closure.
    assert sorted(stored["sources"]) == ["onsite_pickup.bpmn", "refund_approval.dmn",
                                         "refund_first.bpmn", "return_goods.bpmn"]
    assert "Record the refund as paid" in stored["sources"]["refund_first.bpmn"]
    assert sorted(stored["messages"]) == ["clawback_result", "picked_up", "pickup_booked",
                                          "refund_result", "return_shipped"]
    # The request already running stays on the version it started with.
    after = auth.as_("admin").get(f"/api/instances/{running['instance_id']}").get_json()
    assert after["definition_id"] == running_row["definition_id"]


def test_editing_only_routing_dmn_versions_exactly_the_processes_that_use_it(auth):
    owner = auth.as_("owner")
    deploy_product(owner)
    before = newest(owner)
    routing = (PRODUCT / "routing.dmn").read_bytes()
    edited = routing.replace(b'name="Route request', b'name="Route a request')
    assert edited != routing
    upload = [("files", "routing.dmn", edited)]

    checked = post(owner, "/api/definitions/validate", upload).get_json()
    assert (checked["ok"], checked["would_version"]) == (True, ["aftersales_request"])
    response = post(owner, "/api/definitions", upload)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["versioned"] == ["aftersales_request"]
    assert newest(owner) == dict(before, aftersales_request=before["aftersales_request"] + 1)
    stored = owner.get("/api/definitions/aftersales_request/versions/"
                       f"{before['aftersales_request'] + 1}").get_json()
    assert stored["sources"]["routing.dmn"] == edited.decode()
    assert stored["sources"]["refund_first.bpmn"] == (PRODUCT / "refund_first.bpmn").read_text()
    # The same DMN again: nothing changed, nothing is versioned.
    again = post(owner, "/api/definitions", upload)
    assert again.status_code == 200
    assert (again.get_json()["versioned"], again.get_json()["unchanged"]) == (
        [], ["aftersales_request"])


def test_a_dmn_file_nothing_uses_deploys_nothing_and_says_so(auth):
    owner = auth.as_("owner")
    deploy_product(owner)
    lonely = (PRODUCT / "routing.dmn").read_bytes().replace(b'id="route_request"',
                                                            b'id="route_nobody"')
    checked = post(owner, "/api/definitions/validate", [("files", "lonely.dmn", lonely)])
    [problem] = checked.get_json()["problems"]
    assert checked.get_json()["ok"] is False and "nothing to deploy" in problem["message"]
    assert post(owner, "/api/definitions", [("files", "lonely.dmn", lonely)]).status_code == 422


def test_a_call_to_a_process_that_is_not_deployed_is_refused_by_both(auth):
    owner = auth.as_("owner")
    upload = one_process("refund_first.bpmn", (PRODUCT / "refund_first.bpmn").read_bytes())
    checked = post(owner, "/api/definitions/validate", upload).get_json()
    refused = post(owner, "/api/definitions", upload)
    assert checked["ok"] is False and refused.status_code == 422
    assert refused.get_json()["error"]["details"]["problems"] == checked["problems"]
    assert any("return_goods" in p["message"] and p["element_id"] == "get_goods_back"
               for p in checked["problems"])


def test_whatif_takes_one_file_as_deploy_does(auth, sessions):
    owner = auth.as_("owner")
    deploy_product(owner)
    edited = (PRODUCT / "routing.dmn").read_bytes().replace(b'name="Route request',
                                                            b'name="Route a request')
    response = post(owner, "/api/whatif", [("files", "routing.dmn", edited)])
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"items": [], "diverging": 0}   # nothing finished yet
    alone = post(owner, "/api/whatif", one_process(
        "refund_first.bpmn", (PRODUCT / "refund_first.bpmn").read_bytes()))
    assert alone.status_code == 200, alone.get_json()
