"""Message payloads are held to the JSON Schema of their message (issue 16, item 2): a bundle
whose process catches a message without a schema is refused by validate and deploy alike, and
POST /api/messages answers 422 naming the payload's field, before anything is applied."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from engine import clock
from tests.conftest import ROOT
from tests.web.api.test_definitions import post
from tests.web.conftest import WEB_DATA, error_of, file_request

COURIER_SLOT = WEB_DATA / "courier_slot" / "aftersales_request.bpmn"
SCHEMAS = ROOT / "bpmn" / "messages"


def courier_upload(*schemas: str) -> list[tuple[str, str, bytes]]:
    """The courier-slot process with the product's schemas of `schemas` (message names)."""
    return [("files", "aftersales_request.bpmn", COURIER_SLOT.read_bytes())] + [
        ("files", f"messages/{name}.json", (SCHEMAS / f"{name}.json").read_bytes())
        for name in schemas]


@pytest.fixture
def booking(auth):
    """A request whose process waits for the courier's pickup_booked."""
    response = post(auth.as_("owner"), "/api/definitions",
                    courier_upload("pickup_booked", "picked_up"))
    assert response.status_code == 201, response.get_json()
    return file_request(auth, "alice")


def history_of(auth, instance_id) -> list:
    return auth.as_("admin").get(f"/api/instances/{instance_id}/history").get_json()["items"]


def state_of(auth, instance_id) -> tuple:
    row = auth.as_("admin").get(f"/api/instances/{instance_id}").get_json()
    return row["status"], row["version"]


def slot(hours_from_now: int = 24, length: int = 3) -> dict:
    start = clock.now() + timedelta(hours=hours_from_now)
    return {"slot_start": start.isoformat(),
            "slot_end": (start + timedelta(hours=length)).isoformat(), "booking": "PK-1"}


@pytest.mark.parametrize("bad, field", [
    ({"slot_start": "tomorrow 9:00", "slot_end": "2026-13-40T10:00:00+08:00"}, "payload.slot_end"),
    (dict(slot(), slot_end="2030-01-31T17:00:00"), "payload.slot_end"),      # no UTC offset
    (dict(slot(), slot_start=20301231), "payload.slot_start"),
    ({"slot_start": slot()["slot_start"]}, "payload.slot_end"),               # missing
])
def test_pickup_booked_with_bad_slot_times_is_422_and_changes_nothing(auth, booking, bad, field):
    instance_id = booking["instance_id"]
    before, events = state_of(auth, instance_id), history_of(auth, instance_id)
    response = auth.as_("courier").post("/api/messages", json={
        "name": "pickup_booked", "correlation": booking["number"], "payload": bad})
    assert response.status_code == 422, response.get_json()
    error = error_of(response)
    assert error["details"]["field"] == field and field in error["message"]
    assert error["details"]["errors"][0]["field"] == field
    assert "pickup_booked" in error["message"]
    assert state_of(auth, instance_id) == before == ("waiting", before[1])
    assert history_of(auth, instance_id) == events     # no audit event, no incident

    good = auth.as_("courier").post("/api/messages", json={
        "name": "pickup_booked", "correlation": booking["number"], "payload": slot()})
    assert good.status_code == 200, good.get_json()
    assert [d["instance_id"] for d in good.get_json()["delivered_to"]] == [instance_id]
    assert history_of(auth, instance_id)[-1]["kind"] == "message_delivered"


def test_the_builtin_couriers_booking_satisfies_the_product_schema(auth, booking):
    # What engine/jobs/outbox.py's built-in courier answers: next morning, three hours.
    start = (clock.now() + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    payload = {"slot_start": start.isoformat(),
               "slot_end": (start + timedelta(hours=3)).isoformat(), "booking": "PK-00000001"}
    response = auth.as_("courier").post("/api/messages", json={
        "name": "pickup_booked", "correlation": booking["number"], "payload": payload})
    assert response.status_code == 200, response.get_json()


def test_a_caught_message_without_a_schema_is_refused_by_validate_and_deploy_alike(auth):
    owner = auth.as_("owner")
    upload = courier_upload("picked_up")        # pickup_booked's schema left out
    checked = post(owner, "/api/definitions/validate", upload).get_json()
    refused = post(owner, "/api/definitions", upload)
    assert checked["ok"] is False and refused.status_code == 422
    assert error_of(refused)["details"]["problems"] == checked["problems"]
    [problem] = checked["problems"]
    assert (problem["file"], problem["element_id"]) == ("aftersales_request.bpmn", "slot_booked")
    assert "'pickup_booked'" in problem["message"]
    assert "messages/pickup_booked.json" in problem["message"]


def test_a_schema_that_is_no_json_schema_is_refused(auth):
    owner = auth.as_("owner")
    upload = courier_upload("picked_up") + [
        ("files", "messages/pickup_booked.json", b'{"type": "objekt"}')]
    checked = post(owner, "/api/definitions/validate", upload).get_json()
    [problem] = checked["problems"]
    assert problem["element_id"] == "slot_booked"
    assert "not a valid JSON Schema" in problem["message"]
    assert post(owner, "/api/definitions", upload).status_code == 422


def test_a_time_to_live_that_is_no_duration_is_refused(auth):
    owner = auth.as_("owner")
    schema = {"type": "object", "x-buffer-ttl": "three days"}
    upload = courier_upload("picked_up") + [
        ("files", "messages/pickup_booked.json", json.dumps(schema).encode())]
    [problem] = post(owner, "/api/definitions/validate", upload).get_json()["problems"]
    assert problem["element_id"] == "slot_booked"
    assert "x-buffer-ttl" in problem["message"] and "'three days'" in problem["message"]
    assert post(owner, "/api/definitions", upload).status_code == 422


def test_schemas_may_come_in_the_messages_field(auth):
    owner = auth.as_("owner")
    upload = [("files", "aftersales_request.bpmn", COURIER_SLOT.read_bytes())] + [
        ("messages", f"{name}.json", (SCHEMAS / f"{name}.json").read_bytes())
        for name in ("pickup_booked", "picked_up")]
    response = post(owner, "/api/definitions", upload)
    assert response.status_code == 201, response.get_json()
    stored = owner.get("/api/definitions/aftersales_request/versions/2").get_json()
    assert sorted(stored["messages"]) == ["picked_up", "pickup_booked"]
