"""One-time sign-in codes for customers, sent by SMS: the customer app's sign-in without a
password, offered when an SMS gateway is configured (Settings.sms_http_url).

A code goes to the phone the shop gave with the customer's newest order (engine.orders contact),
through the same signed gateway as the notifications (engine.notifications.send_sms). The
platform keeps no code: it hands the caller a `Challenge` (the account, when it ends, and an
HMAC of both with the code under the app's secret key) that the page keeps in its signed
session, so the code is known only to the phone and nothing can be guessed offline from the
challenge. A challenge is made for any name, so the answer never tells whether an account or a
phone exists. Wrong codes count as failed sign-ins of the account and the address
(engine.login_throttle): five lock the account out as five wrong passwords do.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, login_throttle, notifications, users
from engine.config import Settings
from engine.models import ShopOrder, User

CODE_MINUTES = 5
DIGITS = 6
TEXTS = {"zh-CN": "您的售后服务登录验证码是 {code}，{minutes} 分钟内有效。请勿告诉他人。",
         "en": "Your after-sales sign-in code is {code}. It is valid for {minutes} minutes. "
               "Do not share it."}


@dataclass(frozen=True)
class Challenge:
    """What the caller keeps until the code comes back: whose, until when, and the proof."""

    username: str
    expires_at: datetime
    proof: str

    def as_dict(self) -> dict:
        return {"username": self.username, "expires_at": self.expires_at.isoformat(),
                "proof": self.proof}

    @classmethod
    def from_dict(cls, kept) -> "Challenge | None":
        try:
            return cls(str(kept["username"]), datetime.fromisoformat(kept["expires_at"]),
                       str(kept["proof"]))
        except (KeyError, TypeError, ValueError):
            return None


def send(session: Session, settings: Settings, key: str, username: str,
         language: str = "zh-CN") -> Challenge:
    """Send a new code to the phone of customer `username` (when there is one) and return its
    Challenge. Raises notifications.Refused when the gateway refuses the message, and what a
    passing failure raises (no connection): the caller says the code could not be sent."""
    expires_at = clock.now() + timedelta(minutes=CODE_MINUTES)
    code = f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"
    user = _customer(session, username)
    phone = _phone(session, user.customer_id) if user is not None else None
    if phone is None:
        # Nothing is sent, and the proof matches no code: the answer looks the same.
        return Challenge(username, expires_at, secrets.token_hex(32))
    text = TEXTS.get(language, TEXTS["zh-CN"]).format(code=code, minutes=CODE_MINUTES)
    notifications.send_sms(settings, phone, text, f"sign-in:{user.id}:{expires_at.isoformat()}")
    return Challenge(username, expires_at, _proof(key, username, expires_at, code))


def verify(session: Session, settings: Settings, key: str, challenge: Challenge | None,
           code: str, address: str | None) -> users.SignIn:
    """The sign-in of the customer the challenge was made for when `code` is its code and it
    has not expired; otherwise a failed sign-in (counted, with the lockout it caused). The
    caller commits the session either way, or the count is lost."""
    if challenge is None:
        return users.SignIn(None)
    locked = login_throttle.locked_until(session, challenge.username, address)
    if locked is not None:
        return users.SignIn(None, locked)
    user = _customer(session, challenge.username)
    good = (user is not None and isinstance(code, str) and challenge.expires_at > clock.now()
            and hmac.compare_digest(challenge.proof, _proof(key, challenge.username,
                                                            challenge.expires_at, code.strip())))
    if not good:
        return users.SignIn(None, login_throttle.record_failure(session, settings,
                                                                challenge.username, address))
    login_throttle.record_success(session, user.username)
    return users.SignIn(user)


def _proof(key: str, username: str, expires_at: datetime, code: str) -> str:
    message = f"{username}\n{expires_at.isoformat()}\n{code}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _customer(session: Session, username) -> User | None:
    user = users.find(session, username) if isinstance(username, str) else None
    return user if user is not None and user.active and user.role == "customer" else None


def _phone(session: Session, customer_id: str) -> str | None:
    """The phone of the customer's newest order that names one."""
    for contact in session.scalars(select(ShopOrder.contact).where(
            ShopOrder.customer_id == customer_id).order_by(ShopOrder.paid_at.desc())):
        if isinstance(contact, dict) and isinstance(contact.get("phone"), str):
            return contact["phone"]
    return None
