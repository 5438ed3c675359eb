"""Staff notifications (issue 17, item 4): a new P1 task, a task at risk and a breach reach the
department as one digest mail per run of the digest job, sent through a real SMTP server
(aiosmtpd on 127.0.0.1), to the members of staff who have an email address."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock, staff_digest, users
from engine import platform as product
from engine.jobs import outbox, sla
from engine.models import StaffNotice
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from tests.conftest import DATA, ROOT
from tests.mail_server import MailServer


@pytest.fixture
def mail():
    server = MailServer()
    yield server
    server.stop()


@pytest.fixture
def mailing(settings, mail):
    return settings.with_(smtp_host="127.0.0.1", smtp_port=mail.port, smtp_security="none",
                          smtp_from="aftersales@shop.example")


@pytest.fixture
def runtime(mailing, sessions, deploy):
    deploy(DATA / "simple")
    bundle = Bundle.from_folder(ROOT / "bpmn")     # a breach starts the escalation process
    bundle.files = {k: v for k, v in bundle.files.items() if k == "sla_escalation.bpmn"}
    with sessions.begin() as session:
        catalog.deploy(session, bundle, "owner")
    with sessions.begin() as session:
        for name, dept, email in (("cs_1", "customer_service", "cs1@shop.example"),
                                  ("cs_2", "customer_service", "cs2@shop.example"),
                                  ("cs_3", "customer_service", None),
                                  ("fin_1", "finance", None)):
            users.create_user(session, name, "long enough password", "staff", dept,
                              email=email, method="pbkdf2:sha256:1000")
    return product.runtime(mailing)


def start(sessions, runtime, number, priority):
    with sessions.begin() as session:
        return runtime.start(session, "simple", {"request_no": number, "amount": 1.0,
                                                 "priority": priority})


def test_new_p1_work_at_risk_and_breached_is_one_mail_per_department_per_run(
        sessions, runtime, mailing, mail):
    start(sessions, runtime, "AS-1", 1)
    start(sessions, runtime, "AS-2", 3)
    clock.advance(timedelta(hours=3, minutes=20))           # both reviews at risk
    assert sla.check(sessions, runtime, clock.now())["warned"] == 2
    outbox.dispatch_due(sessions, runtime)                   # notify.staff: noted, not mailed
    assert mail.messages == []

    counts = staff_digest.run(sessions, mailing)
    assert counts == {"noted": 1, "departments": 1, "mailed": 1, "notices": 3}
    [message] = mail.messages
    assert mail.envelopes == [("aftersales@shop.example",
                               ["cs1@shop.example", "cs2@shop.example"])]
    assert message["Subject"] == "售后待办提醒（customer_service）：3 条"
    text = message.get_content()
    assert "新的 P1 任务：Review request（AS-1）" in text
    assert "即将超时：Review request（AS-1）" in text and "即将超时：Review request（AS-2）" in text
    assert "New P1 task: Review request (AS-1)" in text

    # The next run has nothing new: no mail. A breach later is the next run's one mail.
    assert staff_digest.run(sessions, mailing)["mailed"] == 0
    clock.advance(timedelta(hours=1))
    sla.check(sessions, runtime, clock.now())
    outbox.dispatch_due(sessions, runtime)
    staff_digest.run(sessions, mailing)
    assert len(mail.messages) == 2
    assert "已超时：Review request（AS-1）" in mail.messages[1].get_content()
    assert "P1" not in mail.messages[1].get_content()        # told once
    with sessions() as session:
        delivery = session.scalars(select(StaffNotice.delivery)).first()
    assert delivery["state"] == "sent" and delivery["provider_id"] == message["Message-ID"]


def test_a_department_without_email_addresses_is_marked_not_sent(sessions, runtime, mailing,
                                                                 mail):
    with sessions.begin() as session:
        for name in ("cs_1", "cs_2"):
            users.set_email(session, name, None)
    start(sessions, runtime, "AS-1", 1)
    assert staff_digest.run(sessions, mailing)["mailed"] == 0
    assert mail.messages == []
    with sessions() as session:
        notice = session.scalars(select(StaffNotice)).one()
    assert notice.sent_at == clock.now()
    assert notice.delivery == {"state": "not_sent",
                               "reason": "no one in customer_service has an email address"}


def test_a_mail_server_that_is_down_keeps_the_notices_for_the_next_run(
        sessions, runtime, mailing, mail):
    start(sessions, runtime, "AS-1", 1)
    mail.stop()
    assert staff_digest.run(sessions, mailing)["mailed"] == 0
    with sessions() as session:
        assert session.scalars(select(StaffNotice.sent_at)).one() is None
    back = MailServer()
    try:
        assert staff_digest.run(sessions, mailing.with_(smtp_port=back.port))["mailed"] == 1
        assert len(back.messages) == 1
    finally:
        back.stop()


def test_staff_emails_are_checked(sessions, runtime):
    from engine.errors import InvalidInput
    with sessions.begin() as session, pytest.raises(InvalidInput) as refused:
        users.set_email(session, "cs_1", "not an address")
    assert refused.value.field == "email"
