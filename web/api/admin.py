"""Operations: incidents, retried or skipped: outbox rows (side effects that failed too often,
`kind` "outbox", acted on here) and instances in error (`kind` "instance", acted on through
/api/instances/{id}/retry, /skip and /cancel); accounts (deactivate, activate, reset a
password, revoke every sign-in), machine clients' signing secrets (issue, rotate, retire) and
login lockouts (list, lift)."""
from __future__ import annotations

from flask import Blueprint

from engine import access, client_secrets, login_throttle, users
from engine.errors import Conflict
from engine.jobs import outbox
from engine.runtime import incidents as instance_incidents
from web.api import schemas
from web.api.base import actor, allow, body, transaction

bp = Blueprint("admin", __name__)


@bp.get("/incidents")
@allow(*access.INCIDENT_READERS)
def incidents():
    with transaction() as session:
        return {"items": outbox.incidents(session) + instance_incidents.open_incidents(session)}


@bp.post("/incidents/<id:incident_id>")
@allow(*access.ADMIN)
def resolve(incident_id):
    fields = body(schemas.INCIDENT_ACTION)
    with transaction() as session:
        row = outbox.resolve_incident(session, incident_id, fields["action"], actor(),
                                      fields.get("payload"))
        return outbox.incident_json(row)


# ------------------------------------------------------------------ accounts and lockouts
# Each change of an account ends the user's sign-ins where it must (engine.users): the admin
# API and `aftersales user ...` call the same functions.

PASSWORD_RESET = schemas.obj({"password": schemas.text(users.MAX_PASSWORD,
                                                       users.MIN_PASSWORD)}, ["password"])
LIFT_LOCK = schemas.obj({"username": schemas.text(100), "address": schemas.text(100)},
                        description="exactly one of username and address")


@bp.post("/users/<username>/deactivate")
@allow(*access.ADMIN)
def deactivate(username):
    body(schemas.EMPTY, optional=True)
    if username == actor().name:
        raise Conflict("you cannot deactivate your own account", field="username")
    with transaction() as session:
        return users.admin_json(users.set_active(session, username, False, by=actor().name))


@bp.post("/users/<username>/activate")
@allow(*access.ADMIN)
def activate(username):
    body(schemas.EMPTY, optional=True)
    with transaction() as session:
        return users.admin_json(users.set_active(session, username, True, by=actor().name))


@bp.post("/users/<username>/reset-password")
@allow(*access.ADMIN)
def reset_password(username):
    fields = body(PASSWORD_RESET)
    with transaction() as session:
        return users.admin_json(users.reset_password(session, username, fields["password"],
                                                     by=actor().name))


@bp.post("/users/<username>/revoke-tokens")
@allow(*access.ADMIN)
def revoke_tokens(username):
    body(schemas.EMPTY, optional=True)
    with transaction() as session:
        user, revoked = users.sign_out_everywhere(session, username, by=actor().name)
        return {**users.admin_json(user), "revoked": revoked}


@bp.get("/login-locks")
@allow(*access.ADMIN)
def login_locks():
    with transaction() as session:
        return {"items": login_throttle.locks(session)}


@bp.post("/login-locks/lift")
@allow(*access.ADMIN)
def lift_login_lock():
    fields = body(LIFT_LOCK)
    with transaction() as session:
        lifted = login_throttle.lift(session, username=fields.get("username"),
                                     address=fields.get("address"), by=actor().name)
    return {**fields, "lifted": lifted}


# ------------------------------------------------------------------ machine clients' secrets
# The secret is in the answer of the call that issues it and nowhere else (engine.client_secrets).

SECRET_ISSUE = schemas.obj({"rotate": {"type": "boolean"}},
                           description="rotate: issue another while the current one works for "
                                       "24 more hours")


@bp.get("/users/<username>/secrets")
@allow(*access.ADMIN)
def list_secrets(username):
    with transaction() as session:
        return {"username": username, "active": client_secrets.listing(session, username)}


@bp.post("/users/<username>/secrets")
@allow(*access.ADMIN)
def issue_secret(username):
    fields = body(SECRET_ISSUE, optional=True)
    with transaction() as session:
        secret, active = client_secrets.issue(session, username,
                                              rotate=fields.get("rotate", False), by=actor().name)
    return {"username": username, "secret": secret, "active": active}, 201


@bp.post("/users/<username>/secrets/retire")
@allow(*access.ADMIN)
def retire_secrets(username):
    body(schemas.EMPTY, optional=True)
    with transaction() as session:
        return {"username": username,
                "active": client_secrets.retire_previous(session, username, by=actor().name)}
