"""Audit exports over HTTP: one instance as JSON or CSV, and every event in a time range as CSV."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from engine import clock, users
from tests.conftest import T0
from tests.web.conftest import FAST_HASH, PASSWORD, PEOPLE, error_of, file_request, open_tasks

LATER = T0 + timedelta(hours=2)


@pytest.fixture
def reviewed(auth):
    """A return whose review was done two hours after it was filed (3 events)."""
    filed = file_request(auth, "alice")
    [task] = open_tasks(auth)
    clock.advance(timedelta(hours=2))
    cs = auth.as_("customer_service_1")
    cs.post(f"/api/tasks/{task['task_id']}/claim")
    cs.post(f"/api/tasks/{task['task_id']}/complete", json={"data": {"approved": True}})
    return filed["instance_id"]


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def field_of(response) -> str:
    assert response.status_code == 422, response.get_json()
    return error_of(response)["details"]["field"]


def test_every_role_against_the_exports(auth, reviewed):
    """Supervisors, auditors and admins may export; everyone else is 403."""
    allowed = {"cs_lead", "ops_head", "auditor", "admin"}
    for url in (f"/api/instances/{reviewed}/export", f"/api/instances/{reviewed}/export?format=csv",
                "/api/audit/events.csv?from=2026-11-01"):
        for user in PEOPLE:
            status = auth.as_(user).get(url).status_code
            assert status == (200 if user in allowed else 403), (url, user, status)


def test_instance_export_as_json(auth, reviewed):
    for user in ("auditor", "cs_lead", "admin"):
        response = auth.as_(user).get(f"/api/instances/{reviewed}/export")
        assert response.status_code == 200, (user, response.get_json())
    record = response.get_json()
    assert record["format"] == "aftersales-instance/1"
    assert record["instance"]["id"] == reviewed and record["instance"]["status"] == "waiting"
    assert record["definition"]["process_key"] == "aftersales_request"
    assert [e["kind"] for e in record["events"]] == ["started", "task_claimed", "task_completed"]
    explicit = auth.as_("auditor").get(f"/api/instances/{reviewed}/export?format=json")
    assert explicit.get_json() == record


def test_instance_export_as_csv(auth, reviewed):
    response = auth.as_("auditor").get(f"/api/instances/{reviewed}/export?format=csv")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="instance-{reviewed}-events.csv"')
    events = rows(response)
    assert [e["kind"] for e in events] == ["started", "task_claimed", "task_completed"]
    assert {e["instance_id"] for e in events} == {str(reviewed)}
    assert events[2]["actor"] == "customer_service_1" and '"approved":true' in events[2]["payload"]
    assert events[1]["prev_hash"] == events[0]["hash"]


def test_instance_export_refusals(auth, reviewed, client):
    url = f"/api/instances/{reviewed}/export"
    assert client.get(url).status_code == 401
    for user in ("customer_service_1", "owner", "alice"):
        assert auth.as_(user).get(url).status_code == 403
    auditor = auth.as_("auditor")
    assert auditor.get("/api/instances/999999/export").status_code == 404
    assert auditor.get("/api/instances/999999/export?format=csv").status_code == 404
    assert field_of(auditor.get(f"{url}?format=xml")) == "format"
    assert field_of(auditor.get(f"{url}?fmt=csv")) == "fmt"


def test_audit_events_in_a_time_range(auth, reviewed):
    auditor = auth.as_("auditor")
    everything = auditor.get("/api/audit/events.csv",
                             query_string={"from": T0.isoformat(), "to": LATER.isoformat()})
    assert [e["kind"] for e in rows(everything)] == ["started"]      # `to` is exclusive
    assert everything.headers["Content-Disposition"] == (
        'attachment; filename="audit-events-20261123T020000Z-20261123T040000Z.csv"')
    since = rows(auth.as_("cs_lead").get("/api/audit/events.csv",
                                         query_string={"from": LATER.isoformat()}))
    assert [e["kind"] for e in since] == ["task_claimed", "task_completed"]
    assert {e["business_key"] for e in since} == {rows(everything)[0]["business_key"]}
    until = auth.as_("admin").get("/api/audit/events.csv?to=2026-11-23")
    assert rows(until) == [] and "audit-events-open-20261123T000000Z.csv" in (
        until.headers["Content-Disposition"])


def test_audit_events_refusals(auth, reviewed, client):
    url = "/api/audit/events.csv"
    assert client.get(f"{url}?from=2026-11-01").status_code == 401
    for user in ("customer_service_1", "owner", "alice"):
        assert auth.as_(user).get(f"{url}?from=2026-11-01").status_code == 403
    auditor = auth.as_("auditor")
    assert field_of(auditor.get(f"{url}?from=yesterday")) == "from"
    assert field_of(auditor.get(f"{url}?from=2026-11-01&to=2026-13-01")) == "to"
    assert field_of(auditor.get(f"{url}?from=2026-11-02&to=2026-11-01")) == "to"
    assert field_of(auditor.get(url)) == "from"
    assert field_of(auditor.get(f"{url}?from=2026-11-01&kind=started")) == "kind"


def test_a_supervisor_exports_only_the_events_of_instances_they_may_read(auth, platform,
                                                                        reviewed):
    with platform.sessions.begin() as session:
        users.create_user(session, "finance_lead", PASSWORD, "supervisor", "finance",
                          method=FAST_HASH)
    window = {"from": T0.isoformat()}
    mine = rows(auth.as_("cs_lead").get("/api/audit/events.csv", query_string=window))
    assert {e["instance_id"] for e in mine} == {str(reviewed)} and len(mine) == 3
    assert rows(auth.as_("finance_lead").get("/api/audit/events.csv", query_string=window)) == []
    assert len(rows(auth.as_("auditor").get("/api/audit/events.csv", query_string=window))) == 3
