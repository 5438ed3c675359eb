"""Admins mend failed side effects on the incidents page (issue 19, item 5): a call that failed
too often is listed with its error and payload, retried with a corrected payload (the change on
the record) or skipped after a confirmation; supervisors see only their requests in error."""
from __future__ import annotations

from sqlalchemy import select

from engine import clock
from engine.models import AuditAction, Outbox
from tests.web.pages.conftest import select as elements


def html_of(response) -> str:
    return response.get_data(as_text=True)


def failed_call(sessions) -> int:
    with sessions.begin() as session:
        row = Outbox(instance_id=None, business_key="AS-EFFECT", operation="shipping.ship",
                     idempotency_key="effect-1", payload={"address": "上海"}, status="incident",
                     attempts=5, next_attempt_at=clock.now(), created_at=clock.now(),
                     last_error="the courier is down")
        session.add(row)
        session.flush()
        return row.id


def test_an_admin_retries_a_failed_call_with_a_corrected_payload(browser, sessions):
    outbox_id = failed_call(sessions)
    admin = browser("admin")
    page = html_of(admin.get("/incidents"))
    [card] = elements(page, "section", "data-outbox-id", str(outbox_id))
    assert "shipping.ship" in card["text"] and "the courier is down" in card["text"]
    for text in ("{not json", "[" * 100_000 + "]" * 100_000):    # the parser's RecursionError
        refused = admin.post(f"/incidents/outbox/{outbox_id}/retry", {"payload": text})
        assert refused.status_code == 422
    done = admin.post(f"/incidents/outbox/{outbox_id}/retry", {"payload": '{"address": "北京"}'})
    assert done.status_code == 200
    with sessions() as session:
        row = session.get(Outbox, outbox_id)
        assert (row.status, row.payload) == ("pending", {"address": "北京"})
        [action] = session.scalars(select(AuditAction).where(
            AuditAction.kind == "outbox_incident_resolved"))
        assert action.actor == "admin" and action.payload["after"] == {"address": "北京"}


def test_skipping_asks_first_and_supervisors_do_not_see_calls(browser, sessions):
    outbox_id = failed_call(sessions)
    admin = browser("admin")
    asked = html_of(admin.post(f"/incidents/outbox/{outbox_id}/skip", {}))
    assert "Nobody will be called for it again" in asked or "不会再为它调用" in asked
    with sessions() as session:
        assert session.get(Outbox, outbox_id).status == "incident"      # nothing yet
    assert admin.post(f"/incidents/outbox/{outbox_id}/skip", {"confirm": "yes"}).status_code == 200
    with sessions() as session:
        assert session.get(Outbox, outbox_id).status == "skipped"
    lead = browser("cs_lead")
    assert 'data-outbox-id' not in html_of(lead.get("/incidents"))
    assert lead.post(f"/incidents/outbox/{outbox_id}/retry", {}).status_code == 403
