"""Signed HTTP bodies, in both directions: what a machine client signs when it calls us, and
what we sign when we call a provider.

The header is `X-Aftersales-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw
body>">`, keyed with a shared secret (the client's, engine/client_secrets.py; or the
platform's outgoing secret, engine.config.outgoing_secret). The timestamp is part of what is
signed, so a captured request cannot be replayed more than `TOLERANCE` later (nor signed ahead
of time). Several `v1=` parts may be sent (a client that holds two secrets while one is rotated
may sign with both); one that matches any active secret is enough. The HMAC and the
constant-time comparison are the standard library's (hmac); nothing here is home-made crypto.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

from engine import clock, config

HEADER = "X-Aftersales-Signature"
TOLERANCE = 300                  # seconds a signature's timestamp may lie behind or ahead
FORMAT = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">"
_HEX = re.compile(r"[0-9a-f]{64}")
MAX_HEADER = 1000


class BadSignature(Exception):
    """A request whose signature is missing, malformed, stale or wrong; the message names the
    header and says what to send."""


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under `secret`."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, at: datetime | None = None) -> str:
    """The header value that signs `body` with `secret` at `at` (default: now)."""
    timestamp = int((at or clock.now()).timestamp())
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


class NoOutgoingSecret(Exception):
    """The platform has no outgoing secret, so it does not call providers (unsigned calls
    would teach them to accept anyone's)."""


def outgoing_headers(settings: config.Settings, body: bytes) -> dict[str, str]:
    """The header that signs an outgoing call carrying `body` (b"" for a GET) with the
    platform's outgoing secret. Raises NoOutgoingSecret saying how to set one."""
    secret = config.outgoing_secret(settings)
    if secret is None:
        raise NoOutgoingSecret("calls to providers are signed, and no outgoing secret is set: "
                               "run `aftersales init` or set AFTERSALES_OUTGOING_SECRET")
    return {HEADER: sign(secret, body)}


def parse(value: str | None) -> tuple[int, list[str]]:
    """The timestamp and the v1 signatures of a header value. Raises BadSignature."""
    if not value:
        raise BadSignature(f"send {HEADER}: {FORMAT}, signed with your client secret")
    timestamp, signatures = None, []
    for part in value[:MAX_HEADER].split(","):
        name, _, text = part.strip().partition("=")
        if name == "t" and text.isascii() and text.isdigit() and len(text) <= 12:
            timestamp = int(text)
        elif name == "v1" and _HEX.fullmatch(text.lower()):
            signatures.append(text.lower())
    if timestamp is None or not signatures or len(value) > MAX_HEADER:
        raise BadSignature(f"{HEADER} must be {FORMAT}")
    return timestamp, signatures


def verify(secrets: list[str], body: bytes, value: str | None,
           now: datetime | None = None) -> None:
    """Accept `value` as the signature of `body` under one of `secrets`, made within
    TOLERANCE of `now`. Raises BadSignature saying which check failed."""
    timestamp, signatures = parse(value)
    now_seconds = int((now or clock.now()).timestamp())
    if abs(now_seconds - timestamp) > TOLERANCE:
        raise BadSignature(f"{HEADER} is timestamped t={timestamp}, more than "
                           f"{TOLERANCE // 60} minutes from the platform's clock "
                           f"(t={now_seconds}): sign each request as you send it")
    # Every pair is compared (no early exit on the first match) so the time taken does not
    # tell which secret or which signature came closest.
    matched = False
    for secret in secrets:
        expected = digest(secret, timestamp, body)
        for signature in signatures:
            matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise BadSignature(f"{HEADER} does not match the body under any active secret")
