"""Signals sent from outside (issue 16, item 4): POST /api/signals goes to every request
waiting for the signal (an intermediate catch, a boundary event, an event subprocess's start),
each its own unit of work audited with the sender and the payload; supervisors and admins
send, a supervisor only to instances whose work they supervise; replay repeats it."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import DATA
from tests.web.api.test_supported_constructs import (
    assert_verifies,
    deploy,
    start,
    task_of,
    upload,
)
from tests.web.conftest import error_of
from web.cli import main

SENDER = "ops_head"          # a supervisor of management, who oversees every department


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, db_url):
    """Each case on SQLite and on PostgreSQL (row locks and savepoints per instance)."""
    return db_url if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def holds(auth, platform):
    """Two stock holds waiting for stock_released."""
    deploy(auth, DATA / "signals")
    return [start(platform, "stock_hold", {}, f"SH-{n}") for n in (1, 2)]


def signal(auth, name, payload=None, user=SENDER):
    body = {"name": name} if payload is None else {"name": name, "payload": payload}
    return auth.as_(user).post("/api/signals", json=body)


def history(auth, instance_id):
    answer = auth.as_("admin").get(f"/api/instances/{instance_id}/history?per_page=100")
    return answer.get_json()["items"]


def test_a_signal_reaches_every_waiting_instance_audited_with_its_payload(auth, holds):
    answer = signal(auth, "stock_released", {"by": "warehouse ops"})
    assert answer.status_code == 200, answer.get_json()
    caught = answer.get_json()["caught_by"]
    assert [(c["instance_id"], c["business_key"], c["status"]) for c in caught] == [
        (holds[0], "SH-1", "running"), (holds[1], "SH-2", "running")]
    for instance_id in holds:
        last = history(auth, instance_id)[-1]
        assert (last["kind"], last["actor"]) == ("signal_received", SENDER)
        assert last["payload"] == {"name": "stock_released", "payload": {"by": "warehouse ops"}}
        task = task_of(auth, instance_id)
        assert task["bpmn_id"] == "pack_goods"
        pane = auth.as_("warehouse_1").get(f"/api/tasks/{task['task_id']}").get_json()
        assert pane["data"]["release"] == {"by": "warehouse ops"}   # the signal's variableName
        assert_verifies(auth, instance_id)
    # Nobody waits for it any more.
    again = signal(auth, "stock_released")
    assert again.status_code == 404
    assert "stock_released" in error_of(again)["message"]


def test_a_boundary_signal_interrupts_and_an_event_subprocess_starts(auth, holds):
    first, second = holds
    assert signal(auth, "stock_released").status_code == 200
    # The event subprocess (non-interrupting) waits all along: both take the price change.
    # Starting it must not change the version's shared spec (SpiffWorkflow's trigger_wf
    # would, engine/runtime/event_subprocesses.py): the replays below would then diverge.
    priced = signal(auth, "price_changed", {"amount": 12})
    assert [c["instance_id"] for c in priced.get_json()["caught_by"]] == holds
    assert task_of(auth, first)["bpmn_id"] == "pack_goods"          # not interrupted
    recalled = signal(auth, "recall_issued")
    assert recalled.status_code == 200
    for instance_id in holds:
        shown = auth.as_("admin").get(f"/api/instances/{instance_id}").get_json()
        assert shown["status"] == "completed"
        assert [e["kind"] for e in history(auth, instance_id)][-3:] == [
            "signal_received", "signal_received", "signal_received"]
        assert_verifies(auth, instance_id)
    assert signal(auth, "price_changed", {"amount": 1}).status_code == 404   # finished


def test_a_signal_nobody_waits_for_is_404_naming_it(auth, holds):
    answer = signal(auth, "warehouse_flooded")
    assert answer.status_code == 404
    error = error_of(answer)
    assert "warehouse_flooded" in error["message"] and error["details"]["field"] == "name"


@pytest.mark.parametrize("user", ["warehouse_1", "customer_service_1", "courier", "shop",
                                  "owner", "alice"])
def test_staff_machines_owners_and_customers_may_not_send_signals(auth, holds, user):
    assert signal(auth, "stock_released", user=user).status_code == 403
    assert [e["kind"] for e in history(auth, holds[0])] == ["started"]


def test_a_supervisor_sends_only_to_work_they_supervise(auth, holds):
    # cs_lead supervises customer service; the holds' work is in the warehouse.
    refused = signal(auth, "stock_released", user="cs_lead")
    assert refused.status_code == 403
    assert str(holds[0]) in error_of(refused)["message"]
    assert [e["kind"] for e in history(auth, holds[0])] == ["started"]   # nothing sent
    assert signal(auth, "stock_released", user="admin").status_code == 200


@pytest.mark.parametrize("body, field", [({}, "name"), ({"name": ""}, "name"),
                                         ({"name": "x", "payload": [1]}, "payload"),
                                         ({"name": "x" * 191}, "name")])
def test_a_malformed_signal_is_422_naming_the_field(auth, holds, body, field):
    answer = auth.as_(SENDER).post("/api/signals", json=body)
    assert answer.status_code == 422
    assert field in str(error_of(answer))


def test_a_signal_whose_steps_fail_is_that_instance_s_incident(auth, holds):
    assert signal(auth, "stock_released").status_code == 200
    # note_price reads new_price["amount"]: a price change without one fails in the steps.
    failed = signal(auth, "price_changed", {"currency": "CNY"})
    assert failed.status_code == 200
    caught = failed.get_json()["caught_by"]
    assert {c["status"] for c in caught} == {"error"}
    assert all("note_price" in c["error"] for c in caught)
    first = holds[0]
    last = history(auth, first)[-1]
    assert last["kind"] == "incident" and last["payload"]["kind"] == "signal_received"
    assert last["actor"] == SENDER
    retried = auth.as_("admin").post(f"/api/instances/{first}/retry",
                                     json={"data": {"amount": 15}})
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["status"] == "running"
    assert history(auth, first)[-1]["kind"] == "signal_received"
    assert_verifies(auth, first)


# The CLI's own engine is not disposed when the command returns: SQLite only.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_cli_sends_a_signal(app, auth, holds):
    env = {"AFTERSALES_DATABASE_URL": app.extensions["aftersales"].settings.database_url,
           "AFTERSALES_SECRET_KEY": "x" * 40}
    runner = CliRunner()
    sent = runner.invoke(main, ["signals", "send", "stock_released", "--payload",
                                '{"by": "night shift"}', "--by", "ops"], env=env)
    assert sent.exit_code == 0, sent.output
    assert "caught by 2 instance(s)" in sent.output and "SH-1" in sent.output
    last = history(auth, holds[0])[-1]
    assert (last["kind"], last["actor"], last["payload"]["payload"]) == (
        "signal_received", "ops", {"by": "night shift"})
    nobody = runner.invoke(main, ["signals", "send", "stock_released"], env=env)
    assert nobody.exit_code != 0 and "stock_released" in nobody.output
    bad = runner.invoke(main, ["signals", "send", "x", "--payload", "{nope"], env=env)
    assert bad.exit_code != 0 and "payload" in bad.output


# --- validation: catches nothing throws -------------------------------------------------------

RECALL_DESK = """  <bpmn:process id="recall_desk" name="Recall desk" isExecutable="true">
    <bpmn:startEvent id="desk_start"/>
    <bpmn:sequenceFlow id="desk_f1" sourceRef="desk_start" targetRef="announce_recall"/>
    <bpmn:intermediateThrowEvent id="announce_recall" name="Announce the recall">
      <bpmn:signalEventDefinition id="announce_recall_def" signalRef="recall_issued_signal"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="desk_f2" sourceRef="announce_recall" targetRef="desk_end"/>
    <bpmn:endEvent id="desk_end"/>
  </bpmn:process>
</bpmn:definitions>"""


def stock_hold_upload(edit=lambda text: text):
    text = (DATA / "signals" / "stock_hold.bpmn").read_text()
    return [("stock_hold.bpmn", edit(text).encode()),
            ("forms/pack_goods.json", (DATA / "signals" / "forms" / "pack_goods.json").read_bytes())]


def test_catches_nothing_throws_are_warnings_and_deploy(auth):
    answer = upload(auth.as_("owner"), "/api/definitions", stock_hold_upload())
    assert answer.status_code == 201
    warnings = {w["element_id"]: w for w in answer.get_json()["warnings"]}
    assert set(warnings) == {"wait_release", "recalled", "price_changed"}
    assert warnings["wait_release"]["message"] == (
        "signal catch 'wait_release' waits for 'stock_released' that no process throws; it can "
        "only be sent with POST /api/signals")
    assert {w["severity"] for w in warnings.values()} == {"warning"}
    assert warnings["recalled"]["line"] == 47


def test_a_signal_thrown_in_the_upload_is_no_warning(auth):
    files = stock_hold_upload(lambda t: t.replace("</bpmn:definitions>", RECALL_DESK))
    answer = upload(auth.as_("owner"), "/api/definitions/validate", files).get_json()
    assert answer["ok"] is True
    assert {p["element_id"] for p in answer["problems"]} == {"wait_release", "price_changed"}


def test_a_signal_ref_to_nothing_is_an_error_with_its_line(auth):
    files = stock_hold_upload(lambda t: t.replace('signalRef="recall_issued_signal"',
                                                  'signalRef="no_such_signal"'))
    answer = upload(auth.as_("owner"), "/api/definitions/validate", files).get_json()
    assert answer["ok"] is False
    [problem] = [p for p in answer["problems"] if p["severity"] == "error"]
    assert (problem["element_id"], problem["line"]) == ("recalled", 48)
    assert "signalRef 'no_such_signal' names no signal" in problem["message"]
