"""What SpiffWorkflow runs, the platform takes (issue 16, item 4): transactions with cancel
events and DMN 1.2 tables validate, deploy over HTTP and run; UNIQUE tables whose rows overlap
deploy with a warning naming the rows; what SpiffWorkflow cannot run (compensation) is still
refused as 'unsupported: ...'."""
from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from engine.access import SYSTEM
from engine.runtime import incidents
from tests.conftest import DATA
from tests.web.conftest import error_of, open_tasks
from web.cli import main

STAFF = "customer_service_1"


def bundle_files(folder) -> list[tuple[str, bytes]]:
    """(upload name, content) of every file of a fixture folder, forms as forms/<name>."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            name = f"forms/{path.name}" if path.parent.name == "forms" else path.name
            found.append((name, path.read_bytes()))
    return found


def upload(caller, path, files):
    values = MultiDict([("files", FileStorage(io.BytesIO(content), filename=name))
                        for name, content in files])
    boundary, body = encode_multipart(values)
    return caller.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def deploy(auth, folder) -> dict:
    owner = auth.as_("owner")
    checked = upload(owner, "/api/definitions/validate", bundle_files(folder))
    assert checked.status_code == 200 and checked.get_json()["ok"] is True, checked.get_json()
    deployed = upload(owner, "/api/definitions", bundle_files(folder))
    assert deployed.status_code == 201, deployed.get_json()
    return deployed.get_json()


def start(platform, process, data, key) -> int:
    with incidents.transaction(platform.sessions) as session:
        return platform.runtime.start(session, process, data, SYSTEM, business_key=key).id


def task_of(auth, instance_id):
    [task] = [t for t in open_tasks(auth) if t["instance_id"] == instance_id]
    return task


def complete(auth, task, data):
    answer = auth.as_(STAFF).post(f"/api/tasks/{task['task_id']}/complete", json={"data": data})
    assert answer.status_code == 200, answer.get_json()


def assert_verifies(auth, instance_id):
    result = auth.as_("auditor").get(f"/api/instances/{instance_id}/replay").get_json()
    assert result["ok"] is True, result["divergence"]


# --- transactions -------------------------------------------------------------------------

def test_a_transaction_cancelled_goes_on_along_its_cancel_boundary(auth, platform):
    deploy(auth, DATA / "supported")
    instance_id = start(platform, "goodwill_credit", {}, "GC-1")
    review = task_of(auth, instance_id)
    assert review["bpmn_id"] == "review_credit"
    complete(auth, review, {"approved": False})          # withdrawn: the cancel end event
    told = task_of(auth, instance_id)
    assert told["bpmn_id"] == "tell_customer"            # the cancel boundary's flow
    complete(auth, told, {"told": True})
    shown = auth.as_("cs_lead").get(f"/api/instances/{instance_id}").get_json()
    assert shown["status"] == "completed"
    assert_verifies(auth, instance_id)


def test_a_transaction_that_ends_normally_leaves_by_its_outgoing_flow(auth, platform):
    deploy(auth, DATA / "supported")
    instance_id = start(platform, "goodwill_credit", {}, "GC-2")
    complete(auth, task_of(auth, instance_id), {"approved": True})
    shown = auth.as_("cs_lead").get(f"/api/instances/{instance_id}").get_json()
    assert shown["status"] == "completed"
    assert [t for t in open_tasks(auth) if t["instance_id"] == instance_id] == []
    assert_verifies(auth, instance_id)


def _goodwill(edit):
    files = dict(bundle_files(DATA / "supported"))
    text = files["goodwill_credit.bpmn"].decode()
    files["goodwill_credit.bpmn"] = edit(text).encode()
    return list(files.items())


@pytest.mark.parametrize("edit, element_id, expected", [
    # the boundary attached elsewhere: nothing continues from the cancel
    (lambda t: t.replace('<bpmn:cancelEventDefinition id="credit_withdrawn_def"/>',
                         '<bpmn:messageEventDefinition id="credit_withdrawn_def"/>'),
     "withdraw_credit", "has no cancel boundary event to continue from"),
    (lambda t: t.replace('<bpmn:transaction id="grant_credit" name="Grant the credit">',
                         '<bpmn:subProcess id="grant_credit" name="Grant the credit">')
                .replace("</bpmn:transaction>", "</bpmn:subProcess>"),
     "withdraw_credit", "a cancel end event may only end a transaction"),
    (lambda t: t.replace('<bpmn:scriptTask id="note_credit" name="Note the credit">',
                         '<bpmn:scriptTask id="note_credit" name="Note the credit" '
                         'isForCompensation="true">'),
     "note_credit", "unsupported: compensation handler"),
])
def test_what_a_transaction_cannot_do_is_refused_with_its_element(auth, edit, element_id,
                                                                   expected):
    answer = upload(auth.as_("owner"), "/api/definitions/validate", _goodwill(edit))
    problems = [p for p in answer.get_json()["problems"] if expected in p["message"]]
    assert answer.get_json()["ok"] is False
    assert [(p["element_id"], p["severity"]) for p in problems] == [(element_id, "error")]
    assert problems[0]["line"] is not None
    refused = upload(auth.as_("owner"), "/api/definitions", _goodwill(edit))
    assert refused.status_code == 422
    assert any(expected in p["message"] for p in error_of(refused)["details"]["problems"])


# --- DMN 1.2 and UNIQUE tables --------------------------------------------------------------

def test_a_dmn_1_2_table_deploys_with_a_warning_and_evaluates_first_match(auth, platform):
    answer = deploy(auth, DATA / "dmn12")
    ranged, catch_all = answer["warnings"]
    assert {ranged["severity"], catch_all["severity"]} == {"warning"}
    assert (ranged["file"], ranged["line"], ranged["element_id"]) == (
        "age_band.dmn", 29, "row-484867957-3")
    assert ranged["message"].startswith("rule 3 (row-484867957-3) overlaps rule 1 "
                                        "(row-484867957-5): some input matches both")
    assert (catch_all["line"], catch_all["element_id"]) == (34, "row-484867957-7")
    assert "overlaps rule 1 (row-484867957-5), rule 2 (row-484867957-1)" in catch_all["message"]
    bands = {}
    for age in (30, 10, 40):
        instance_id = start(platform, "age_band", {"age": age}, f"AGE-{age}")
        task = auth.as_(STAFF).get(f"/api/tasks/{task_of(auth, instance_id)['task_id']}").get_json()
        bands[age] = task["data"]["band"]
        assert_verifies(auth, instance_id)
    # UNIQUE evaluated as first match: 30 matches rule 1 and rule 3, rule 1 wins.
    assert bands == {30: "30", 10: "low", 40: "high"}


def test_a_dmn_1_2_file_from_spiffworkflow_is_read_and_its_problems_have_lines(auth):
    # SpiffWorkflow's own tests/SpiffWorkflow/dmn/data/dmn_version_test/v1_2_supported file:
    # its schema used to fail to build ("internal error", no line).
    name = "diagram-interchange-shape-with-label-text.dmn"
    files = [(name, (DATA / "dmn12_spiff" / name).read_bytes())]
    problems = upload(auth.as_("owner"), "/api/definitions/validate", files).get_json()["problems"]
    assert [(p["line"], p["element_id"]) for p in problems] == [(11, "Decision_1")]
    assert "decision without a decision table" in problems[0]["message"]
    broken = (DATA / "dmn12" / "age_band.dmn").read_bytes().replace(
        b'<decisionTable id="decisionTable">', b'<decisionTable id="decisionTable" oops="1">')
    problems = upload(auth.as_("owner"), "/api/definitions/validate",
                      [("age_band.dmn", broken)]).get_json()["problems"]
    schema = [p for p in problems if "does not match the DMN schema" in p["message"]]
    assert [(p["line"], p["severity"]) for p in schema] == [(12, "error")]
    assert "oops" in schema[0]["message"]


def test_warnings_show_in_the_cli_and_do_not_fail_it():
    result = CliRunner().invoke(main, ["validate", str(DATA / "dmn12")])
    assert result.exit_code == 0, result.output
    assert "age_band.dmn:34: [row-484867957-7] warning: rule 4" in result.output
    assert "age_band.dmn:29: [row-484867957-3] warning: rule 3" in result.output
    assert "2 warning(s)" in result.output
