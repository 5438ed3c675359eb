"""Customer notifications as they leave the platform: the notify.customer adapter of the
outbox, email over SMTP, and SMS and WeChat-style template messages through HTTP gateways.

For each milestone a process announces (a notify.customer service task) the adapter
(engine/jobs/adapters.py) `prepare`s the letter in a read of the database: it finds the request's
order, takes the customer's contact, channel and language from it (the shop sends them with the
order: engine.orders.CONTACT_FIELDS) and writes the words (engine/notification_templates.py).
Then it `send`s it, with no database at hand (the outbox sends many at once, outside any
transaction):

- email: SMTP to AFTERSALES_SMTP_HOST:PORT, with STARTTLS (default), implicit TLS (ssl) or none,
  logging in when AFTERSALES_SMTP_USER is set; the provider id is the Message-ID;
- sms, wechat: POST JSON {channel, to, template, language, subject, text, params, request_no,
  idempotency_key} to AFTERSALES_SMS_HTTP_URL / AFTERSALES_WECHAT_HTTP_URL with the
  Idempotency-Key header, signed with the outgoing secret (engine/signatures.py); the gateway
  answers {id} (the provider id).

What happened is the outbox row's result, which the request's timeline shows
(engine.service_requests.timeline): `state` sent (with `provider_id`), failed (the other side
refused for good: a 5xx SMTP reply, a 4xx from the gateway; retrying would not help) or not_sent
(no contact, the customer chose none, or the channel is not configured here). A failure that
may pass (no connection, a 4xx SMTP reply, a 5xx from the gateway) raises, so the outbox retries
it with backoff and, after its attempts, makes it an incident.
"""
from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, money, notification_templates, signatures
from engine.config import Settings
from engine.models import Outbox, ServiceRequest, ShopOrder

# Which contact field each channel sends to.
ADDRESS = {"email": "email", "sms": "phone", "wechat": "wechat_openid"}
MAX_ANSWER = 64 * 1024


class Refused(Exception):
    """The other side refused the message for good (retrying would not help)."""


@dataclass
class Letter:
    """A customer message ready to leave: the delivery `record` so far and, when it can be
    sent, the channel, address, words and the gateway or SMTP host (`configured`)."""

    record: dict
    channel: str | None = None
    address: str | None = None
    subject: str | None = None
    text: str | None = None
    values: dict | None = None
    number: str | None = None
    configured: str | None = None


def prepare(session: Session, row: Outbox, settings: Settings) -> Letter:
    """The message for outbox `row`, read from the request's order (the customer's contact,
    channel and language); its record is final (not_sent) when it cannot be sent."""
    number = row.payload.get("request_no") or row.business_key
    contact = _contact(session, number)
    channel, language = choose(contact)
    template = row.payload.get("template") or "update"
    values = {k: _text(v) for k, v in row.payload.items()}
    subject, text = notification_templates.customer_message(template, language, values)
    record = {"channel": channel, "language": language, "template": template}
    if channel is None:
        return Letter({**record, "state": "not_sent",
                       "reason": "the customer chose no notifications" if contact.get("channel")
                       == "none" else "the order carries no contact for the customer"})
    address = contact[ADDRESS[channel]]
    record["to"] = mask(address)
    configured = {"email": settings.smtp_host, "sms": settings.sms_http_url,
                  "wechat": settings.wechat_http_url}[channel]
    if not configured:
        return Letter({**record, "state": "not_sent",
                       "reason": f"no {channel} service is configured here"})
    return Letter(record, channel=channel, address=address, subject=subject, text=text,
                  values=values, number=number, configured=configured)


def send(letter: Letter, row: Outbox, settings: Settings) -> dict:
    """Send a prepared letter (no database needed: the outbox runs this outside any
    transaction); returns the delivery record: sent with the provider id, or failed when the
    other side refused it for good. Raises when the failure may pass."""
    if letter.configured is None:
        return letter.record
    try:
        if letter.channel == "email":
            provider_id = send_email(settings, [letter.address], letter.subject, letter.text)
        else:
            provider_id = _post_gateway(settings, letter.configured, row.idempotency_key, {
                "channel": letter.channel, "to": letter.address,
                "template": letter.record["template"], "language": letter.record["language"],
                "subject": letter.subject, "text": letter.text, "params": letter.values,
                "request_no": letter.number, "idempotency_key": row.idempotency_key})
    except Refused as err:
        return {**letter.record, "state": "failed", "error": str(err)[:500]}
    return {**letter.record, "state": "sent", "provider_id": provider_id}


def choose(contact: dict) -> tuple[str | None, str]:
    """The channel (None: none) and language to reach a customer with `contact`: their own
    choice, else the first of email, sms, wechat they can be reached on; zh-CN by default."""
    language = contact.get("language") or notification_templates.DEFAULT_LANGUAGE
    chosen = contact.get("channel")
    if chosen == "none":
        return None, language
    if chosen in ADDRESS and contact.get(ADDRESS[chosen]):
        return chosen, language
    return next((c for c, field in ADDRESS.items() if contact.get(field)), None), language


def send_email(settings: Settings, to: list[str], subject: str, text: str) -> str:
    """Send a plain-text email through the configured SMTP server; returns its Message-ID.
    Raises Refused when the server refuses it for good (5xx), any other error when it may
    pass (no connection, 4xx, a failed login: the caller retries)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message.set_content(text)
    if settings.smtp_security == "ssl":
        server = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                  timeout=settings.notify_timeout,
                                  context=_tls(settings))
    else:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                              timeout=settings.notify_timeout)
    with server:
        if settings.smtp_security == "starttls":
            server.starttls(context=_tls(settings))
        if settings.smtp_user:
            server.login(settings.smtp_user, settings.smtp_password or "")
        try:
            server.send_message(message)
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            if all(code >= 500 for code in codes):
                code, reply = next(iter(err.recipients.values()))
                raise Refused(f"the mail server refused {', '.join(map(mask, err.recipients))}: "
                              f"{code} {_reply(reply)}") from None
            raise
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as err:
            if err.smtp_code >= 500:
                raise Refused(f"the mail server refused the message: {err.smtp_code} "
                              f"{_reply(err.smtp_error)}") from None
            raise
    return message["Message-ID"]


def _tls(settings: Settings) -> ssl.SSLContext:
    # Certificates are checked (host name too); a private CA is given by AFTERSALES_SMTP_CAFILE.
    return ssl.create_default_context(cafile=settings.smtp_cafile)


def send_sms(settings: Settings, phone: str, text: str, idempotency_key: str) -> str | None:
    """Send `text` to `phone` through the SMS gateway at once, outside any request's outbox (a
    customer's one-time sign-in code, engine.sign_in_codes); returns the provider id. Raises
    Refused, or what a passing failure raises."""
    return _post_gateway(settings, settings.sms_http_url, idempotency_key, {
        "channel": "sms", "to": phone, "template": "sign_in_code", "language": None,
        "subject": None, "text": text, "params": {}, "request_no": None,
        "idempotency_key": idempotency_key})


def _post_gateway(settings: Settings, url: str, idempotency_key: str, body: dict) -> str | None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=raw, method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": idempotency_key,
        **signatures.outgoing_headers(settings, raw)})
    try:
        with urllib.request.urlopen(request, timeout=settings.notify_timeout) as response:
            answer = response.read(MAX_ANSWER)
    except urllib.error.HTTPError as err:
        with err:           # its answer's socket, held as long as the error lives otherwise
            if 400 <= err.code < 500:
                raise Refused(f"the {body['channel']} gateway answered {err.code}: "
                              f"{_reply(err.read(500))}") from None
            raise
    try:
        parsed = json.loads(answer) if answer else {}
    except ValueError:
        parsed = {}
    provider_id = parsed.get("id") if isinstance(parsed, dict) else None
    return str(provider_id)[:200] if provider_id is not None else None


def _contact(session: Session, number) -> dict:
    if not isinstance(number, str):
        return {}
    order = session.scalar(select(ShopOrder).join(
        ServiceRequest, ServiceRequest.order_id == ShopOrder.order_id)
        .where(ServiceRequest.number == number))
    return dict(order.contact or {}) if order is not None else {}


def mask(address: str) -> str:
    """An address as the timeline shows it: enough to recognise, not to harvest
    (a***@example.com, +86******0000)."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return address[:3] + "*" * max(len(address) - 7, 0) + address[-4:]


def _text(value) -> str:
    if isinstance(value, Decimal):
        return money.text(value)
    return "" if value is None else str(value)


def _reply(text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).strip()[:300]
