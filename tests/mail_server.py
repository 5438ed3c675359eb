"""A real SMTP server on 127.0.0.1 for tests of the platform's email (aiosmtpd, in a thread):
every message it accepts is kept, parsed; `refuse` makes it answer 550 for those recipients.
With `tls` (a certificate and key, `certificate()` makes them) it offers STARTTLS and then
requires AUTH with `login` (user, password), as a real submission server does."""
from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class MailServer:
    def __init__(self, login: tuple[str, str] | None = None,
                 tls: tuple[Path, Path] | None = None):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()
        self.logins: list[str] = []
        self.port = _free_port()
        server = self

        class Handler:
            async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
                if address in server.refuse:
                    return "550 5.1.1 no such mailbox"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp, session, envelope):
                server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                server.messages.append(message_from_bytes(envelope.content,
                                                          policy=policy.default))
                return "250 OK queued"

        def authenticate(smtp, session, envelope, mechanism, auth_data):
            user = auth_data.login.decode()
            ok = (user, auth_data.password.decode()) == login
            if ok:
                server.logins.append(user)
            return AuthResult(success=ok)

        extra: dict = {}
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            extra.update(tls_context=context, require_starttls=True)
        if login:
            extra.update(authenticator=authenticate, auth_required=True)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **extra)
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        """Stop serving (again: nothing)."""
        if self.running:
            self.running = False
            self.controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with openssl; the certificate
    is its own CA (give it to the client as AFTERSALES_SMTP_CAFILE)."""
    cert, key = folder / "smtp.crt", folder / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key
