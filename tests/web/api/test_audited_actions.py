"""Each kind of action is in the global audit log, with who did it: deployments, logins and
failed ones, account changes by an admin (lockouts lifted and machine secrets too), exports; every instance event (a comment here; timer
moves, incident skips and attachments are instance events too) is a leaf; and the log of all of
it verifies against a signed checkpoint."""
from __future__ import annotations

from sqlalchemy import select

from engine import config
from engine.history import checkpoints, global_log, log_check
from engine.models import AuditAction, AuditEvent, AuditLeaf
from tests.web.conftest import file_request, open_tasks


def actions(sessions, kind) -> list[AuditAction]:
    with sessions() as session:
        return list(session.scalars(select(AuditAction).where(AuditAction.kind == kind)
                                    .order_by(AuditAction.id)))


def test_a_deployment_is_recorded_with_its_digest(sessions, world):
    [deployed, *_] = actions(sessions, "definition_deployed")
    assert deployed.actor == "owner" and " v1" in deployed.subject
    assert len(deployed.payload["sha256"]) == 64


def test_logins_and_failed_logins_are_recorded_with_the_address(client, sessions, world):
    assert client.post("/api/auth/token", json={"username": "auditor",
                                                "password": "wrong password"}).status_code == 401
    assert client.post("/api/auth/token", json={"username": "nobody",
                                                "password": "wrong password"}).status_code == 401
    from tests.web.conftest import PASSWORD
    assert client.post("/api/auth/token", json={"username": "auditor",
                                                "password": PASSWORD}).status_code == 200
    failed = actions(sessions, "login_failed")
    assert [(a.actor, a.subject) for a in failed] == [(None, "auditor"), (None, "nobody")]
    assert failed[0].payload == {"address": "127.0.0.1", "reason": "wrong username or password"}
    [login] = actions(sessions, "login")
    assert (login.actor, login.subject) == ("auditor", "auditor")
    assert all(PASSWORD not in str(a.payload) for a in failed + [login])


def test_account_changes_by_an_admin_are_recorded(auth, sessions):
    admin = auth.as_("admin")
    assert admin.post("/api/users/finance_2/deactivate").status_code == 200
    assert admin.post("/api/users/finance_2/activate").status_code == 200
    assert admin.post("/api/users/finance_2/reset-password",
                      json={"password": "a new password"}).status_code == 200
    assert admin.post("/api/users/finance_2/revoke-tokens").status_code == 200
    for kind in ("user_deactivated", "user_activated", "password_reset", "user_signed_out"):
        [row] = actions(sessions, kind)
        assert (row.actor, row.subject) == ("admin", "finance_2"), kind
    [reset] = actions(sessions, "password_reset")
    assert reset.payload == {}                       # never the password
    created = actions(sessions, "user_created")
    assert {a.subject for a in created} >= {"auditor", "admin", "alice"}


def test_lockout_lifts_and_machine_secrets_are_recorded_never_the_secret(auth, sessions):
    admin = auth.as_("admin")
    assert admin.post("/api/login-locks/lift", json={"address": "10.0.0.9"}).status_code == 200
    issued = admin.post("/api/users/courier/secrets", json={"rotate": True})
    assert issued.status_code == 201
    assert admin.post("/api/users/courier/secrets/retire").status_code == 200
    [lifted] = actions(sessions, "login_lock_lifted")
    assert (lifted.actor, lifted.subject, lifted.payload) == ("admin", "address:10.0.0.9",
                                                              {"lifted": False})
    by_admin = [a for a in actions(sessions, "client_secret_issued") if a.actor == "admin"]
    assert [(a.subject, a.payload) for a in by_admin] == [("courier", {"rotate": True})]
    assert issued.get_json()["secret"] not in str([a.payload for a in by_admin])
    [retired] = actions(sessions, "client_secrets_retired")
    assert (retired.actor, retired.subject) == ("admin", "courier")


def test_exports_are_recorded_with_the_instances_they_held(auth, sessions):
    filed = file_request(auth)
    auditor = auth.as_("auditor")
    assert auditor.get(f"/api/instances/{filed['instance_id']}/export").status_code == 200
    assert auditor.get("/api/audit/events.csv?from=2020-01-01").status_code == 200
    one, ranged = actions(sessions, "export")
    assert (one.actor, one.subject) == ("auditor", f"instance {filed['instance_id']} json")
    assert one.payload == {"instances": [filed["instance_id"]]}
    assert ranged.subject.startswith("events 2020-01-01") and ranged.payload["instances"] == "all"


def test_a_comment_and_every_other_event_are_in_the_log_which_verifies(
        auth, sessions, app, tmp_path):
    filed = file_request(auth)
    [task] = [t for t in open_tasks(auth) if t["instance_id"] == filed["instance_id"]]
    clerk = auth.as_("customer_service_1")
    assert clerk.post(f"/api/tasks/{task['task_id']}/comments",
                      json={"body": "called the customer"}).status_code == 201
    with sessions() as session:
        kinds = set(session.scalars(select(AuditEvent.kind).where(
            AuditEvent.instance_id == filed["instance_id"])))
    assert "comment_added" in kinds

    settings = config.Settings(database_url=str(app.extensions["aftersales"].engine.url),
                               audit_dir=tmp_path / "audit",
                               audit_key_file=tmp_path / "audit_signing_key")
    checkpoints.ensure_key(settings)
    checkpoint = checkpoints.sign_head(sessions, settings)
    with sessions() as session:
        logged = list(session.scalars(select(AuditLeaf)))
        events = {(e.instance_id, e.seq) for e in session.scalars(select(AuditEvent))}
        assert events == {(l.instance_id, l.seq) for l in logged if l.action_id is None}
        assert global_log.unlogged_events(session) == []
        result = log_check.check(session, settings.audit_dir,
                                 checkpoints.load_public_keys([settings.audit_dir / "keys"]))
    assert result.ok, result.problems
    assert result.size == checkpoint.size == len(logged)


def test_an_auditor_reads_an_instances_checkpoint_coverage(auth, app):
    filed = file_request(auth)
    auditor = auth.as_("auditor")
    before = auditor.get(f"/api/instances/{filed['instance_id']}/checkpoint").get_json()
    assert before["state"] == "no_checkpoint" and before["checkpoint"] is None
    platform = app.extensions["aftersales"]
    checkpoints.ensure_key(platform.settings)
    signed = checkpoints.sign_head(platform.sessions, platform.settings)
    after = auditor.get(f"/api/instances/{filed['instance_id']}/checkpoint").get_json()
    assert after == {"state": "verified", "covered": 1, "events": 1, "problem": None,
                     "checkpoint": {"size": signed.size, "root": signed.root, "at": signed.at,
                                    "key_id": signed.key_id}}
    assert auth.as_("customer_service_1").get(
        f"/api/instances/{filed['instance_id']}/checkpoint").status_code == 403


def test_an_outbox_incident_of_no_instance_is_resolved_on_the_record(auth, sessions, world):
    """An intent whose instance is gone (archived) or that never had one is still an operator's
    action with a name: retry and skip go to the global log."""
    from engine import clock
    from engine.models import Outbox
    with sessions.begin() as session:
        row = Outbox(instance_id=None, business_key="AS-NONE", operation="shipping.ship",
                     idempotency_key="orphan-1", payload={"address": "Shanghai"},
                     status="incident", attempts=5, next_attempt_at=clock.now(),
                     created_at=clock.now(), last_error="the courier is down")
        session.add(row)
        session.flush()
        outbox_id = row.id
    retried = auth.as_("admin").post(f"/api/incidents/{outbox_id}", json={
        "action": "retry", "payload": {"address": "Beijing"}})
    assert retried.status_code == 200, retried.get_json()
    [resolved] = actions(sessions, "outbox_incident_resolved")
    assert (resolved.actor, resolved.subject) == ("admin", f"outbox:{outbox_id}")
    assert resolved.payload["before"] == {"address": "Shanghai"}
    assert resolved.payload["after"] == {"address": "Beijing"}
