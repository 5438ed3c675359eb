"""Customer notifications (issue 17, item 4) against real servers started here: email through
an SMTP server (aiosmtpd) and SMS / WeChat template messages through an HTTP gateway on
127.0.0.1. The customer's channel and language come with the order; what happened (sent with
the provider's id, failed, not sent) is on the request's timeline for the customer and staff."""
from __future__ import annotations

import pytest

from engine import signatures
from engine.jobs import outbox
from tests.http_server import LocalServer
from tests.mail_server import MailServer, certificate
from tests.web.conftest import Auth, error_of, file_request, order_body, populate
from web import create_app

SECRET = "outgoing-secret-the-gateway-knows"


class Gateway:
    """An SMS/WeChat gateway: answers `status` and {id}; checks the platform's signature."""

    def __init__(self):
        self.status, self.bad_signatures = 200, []
        self.server = LocalServer(self.answer)

    def answer(self, got):
        try:
            signatures.verify([SECRET], got.raw, _header(got.headers, signatures.HEADER))
        except signatures.BadSignature as err:
            self.bad_signatures.append(str(err))
            return 401, {"error": "unsigned"}
        if self.status != 200:
            return self.status, {"error": "gateway says no"}
        return 200, {"id": f"MSG-{len(self.server.received)}"}

    @property
    def received(self):
        return self.server.received


def _header(headers: dict, name: str):
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    return certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def mail(tls):
    server = MailServer(login=("mailer", "mail-password"), tls=tls)
    yield server
    server.stop()


@pytest.fixture
def gateway():
    running = Gateway()
    yield running
    running.server.stop()


@pytest.fixture
def app(db_url, tmp_path, mail, gateway, tls):
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False,
                      "smtp_host": "127.0.0.1", "smtp_port": mail.port, "smtp_security": "starttls",
                      "smtp_cafile": tls[0],
                      "smtp_user": "mailer", "smtp_password": "mail-password",
                      "smtp_from": "service@shop.example",
                      "sms_http_url": gateway.server.url + "/sms",
                      "wechat_http_url": gateway.server.url + "/wechat",
                      "outgoing_secret": SECRET})
    populate(app.extensions["aftersales"])
    yield app
    app.extensions["aftersales"].engine.dispose()


@pytest.fixture
def app_auth(app):
    return Auth(app.test_client())


def filed_with(auth, platform, contact, order_id="O-8001"):
    """The shop sends an order carrying `contact`; alice files from it; the outbox runs."""
    sent = auth.as_("shop").put(f"/api/orders/{order_id}",
                                json=order_body("C001", "3c", contact=contact))
    assert sent.status_code == 201, sent.get_json()
    filed = file_request(auth, "alice", order_id=order_id)
    outbox.dispatch_due(platform.sessions, platform.runtime)
    return filed["number"]


def notice(auth, number, user="alice") -> dict:
    [entry] = [e for e in auth.as_(user).get(f"/api/requests/{number}").get_json()["timeline"]
               if e["event"] == "request_accepted"]
    return entry


def test_an_email_in_chinese_by_default(app_auth, platform, mail):
    number = filed_with(app_auth, platform, {"email": "li.lei@example.com"})
    [message] = mail.messages
    assert message["To"] == "li.lei@example.com" and message["From"] == "service@shop.example"
    assert message["Subject"] == f"售后单 {number} 已通过审核"
    assert number in message.get_content()
    assert mail.logins == ["mailer"]   # over STARTTLS, with the credentials from the settings
    entry = notice(app_auth, number)
    assert entry["delivery"] == {"state": "sent", "channel": "email"}
    staff = notice(app_auth, number, "customer_service_1")["delivery"]
    assert staff["provider_id"] == message["Message-ID"] and staff["to"] == "l***@example.com"


def test_an_email_in_english_when_the_customer_reads_english(app_auth, platform, mail):
    number = filed_with(app_auth, platform, {"email": "amy@example.com", "language": "en"})
    [message] = mail.messages
    assert message["Subject"] == f"Request {number} accepted"
    assert "has been accepted" in message.get_content()


@pytest.mark.parametrize("channel, contact, to", [
    ("sms", {"phone": "+8613800001234", "channel": "sms"}, "+8613800001234"),
    ("wechat", {"wechat_openid": "oWx-1234567", "channel": "wechat", "email": "x@example.com"},
     "oWx-1234567"),
])
def test_sms_and_wechat_go_through_the_gateway_signed(app_auth, platform, gateway, mail,
                                                      channel, contact, to):
    number = filed_with(app_auth, platform, contact)
    [call] = gateway.received
    assert call.path == f"/{channel}" and gateway.bad_signatures == []
    assert call.json["to"] == to and call.json["template"] == "request_accepted"
    assert call.json["language"] == "zh-CN" and number in call.json["text"]
    assert _header(call.headers, "Idempotency-Key") == call.json["idempotency_key"]
    assert mail.messages == []                  # the customer chose this channel, not email
    assert notice(app_auth, number)["delivery"] == {"state": "sent", "channel": channel}
    assert notice(app_auth, number, "admin")["delivery"]["provider_id"] == "MSG-1"


def test_a_gateway_that_refuses_for_good_is_a_failed_notification(app_auth, platform, gateway):
    gateway.status = 400
    number = filed_with(app_auth, platform, {"phone": "+8613800001234"})
    assert notice(app_auth, number)["delivery"] == {"state": "failed", "channel": "sms"}
    staff = notice(app_auth, number, "admin")["delivery"]
    assert "answered 400" in staff["error"]
    outbox.dispatch_due(platform.sessions, platform.runtime)
    assert len(gateway.received) == 1           # not sent again


def test_a_gateway_that_is_down_is_retried(app_auth, platform, gateway):
    gateway.status = 503
    number = filed_with(app_auth, platform, {"phone": "+8613800001234"})
    assert notice(app_auth, number)["delivery"] == {"state": "pending", "channel": None}
    assert "503" in notice(app_auth, number, "admin")["delivery"]["error"]


def test_a_mailbox_the_server_refuses_is_a_failed_notification(app_auth, platform, mail):
    mail.refuse.add("gone@example.com")
    number = filed_with(app_auth, platform, {"email": "gone@example.com"})
    assert mail.messages == []
    assert notice(app_auth, number)["delivery"] == {"state": "failed", "channel": "email"}
    assert "550" in notice(app_auth, number, "admin")["delivery"]["error"]


@pytest.mark.parametrize("contact, reason", [
    (None, "no contact"), ({"email": "a@example.com", "channel": "none"}, "chose no")])
def test_no_contact_or_no_wish_is_not_sent(app_auth, platform, mail, contact, reason):
    number = filed_with(app_auth, platform, contact)
    assert mail.messages == []
    assert notice(app_auth, number)["delivery"] == {"state": "not_sent", "channel": None}
    assert reason in notice(app_auth, number, "admin")["delivery"]["error"]


@pytest.mark.parametrize("contact, field", [
    ({"email": "not-an-address"}, "contact.email"),
    ({"channel": "sms"}, "contact.phone"),
    ({"language": "fr"}, "contact.language"),
    ({"fax": "123"}, "fax"),
])
def test_the_shop_is_told_which_contact_field_is_wrong(app_auth, contact, field):
    sent = app_auth.as_("shop").put("/api/orders/O-8002",
                                    json=order_body("C001", contact=contact))
    assert sent.status_code == 422 and error_of(sent)["details"]["field"] == field
