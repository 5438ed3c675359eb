"""The pages' sign-in as an attacker meets it: where a login may send the browser, what the
session cookie allows, and bodies too large to read."""
from __future__ import annotations

import io

import pytest

from tests.web.conftest import PASSWORD
from tests.web.pages.conftest import Browser
from web import create_app


# ------------------------------------------------------------------ redirects after login

@pytest.mark.parametrize("target", [
    "%2F%09%2Fevil.example%2Fx",       # "/\t/evil.example/x": browsers drop the tab
    "%2F%2Fevil.example%2Fx", "//evil.example", "%2F%5Cevil.example", "/%5C/evil.example",
    "%2F%0D%0A%2Fevil.example", "%2F%20%2Fevil.example", "https%3A%2F%2Fevil.example%2F",
    "javascript%3Aalert(1)", "evil.example", "%5C%5Cevil.example",
])
def test_a_login_never_redirects_off_the_site(app, world, target):
    response = Browser(app).login("auditor", next=target)
    assert response.status_code == 302 and response.headers["Location"] == "/", target


def test_a_same_site_path_with_its_query_is_followed(app, world):
    response = Browser(app).login("auditor", next="%2Faudit%3Fq%3DAS%2F2026")
    assert response.status_code == 302 and response.headers["Location"] == "/audit?q=AS/2026"


# ------------------------------------------------------------------ the session cookie

def session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def sign_in_over(app, base_url):
    page = Browser(app)
    page.client.get("/login", base_url=base_url)
    page.get("/login", base_url=base_url)
    return page.post("/login", {"username": "auditor", "password": PASSWORD},
                     base_url=base_url)


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(app, world):
    cookie = session_cookie(sign_in_over(app, "http://localhost"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_over_https_the_session_cookie_is_secure(app, world):
    cookie = session_cookie(sign_in_over(app, "https://localhost"))
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.fixture
def proxied(db_url, tmp_path):
    """The app behind one trusted TLS-terminating proxy (AFTERSALES_TRUSTED_PROXIES=1)."""
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "trusted_proxies": 1, "TESTING": True, "SQL_DURABLE": False})
    yield app
    app.extensions["aftersales"].engine.dispose()


def test_behind_a_trusted_proxy_its_https_and_client_address_count(proxied, world, client):
    page = Browser(proxied)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    page.get("/login", headers=headers)
    response = page.post("/login", {"username": "auditor", "password": PASSWORD},
                         headers=headers)
    assert "; Secure" in session_cookie(response)
    # Failed logins count against the address the proxy saw, not the proxy's own.
    for i in range(20):
        proxied.test_client().post("/api/auth/token", headers=headers,
                                   json={"username": f"guess{i}", "password": "wrong guess"})
    locked = proxied.test_client().post("/api/auth/token", headers=headers,
                                        json={"username": "auditor", "password": PASSWORD})
    assert locked.status_code == 429
    elsewhere = proxied.test_client().post(
        "/api/auth/token", headers={"X-Forwarded-For": "203.0.113.10"},
        json={"username": "auditor", "password": PASSWORD})
    assert elsewhere.status_code == 200


def test_secure_cookies_can_be_forced_for_an_untrusted_http_hop(db_url, tmp_path, world):
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "secure_cookies": True, "TESTING": True, "SQL_DURABLE": False})
    try:
        assert "; Secure" in session_cookie(sign_in_over(app, "http://localhost"))
    finally:
        app.extensions["aftersales"].engine.dispose()


# ------------------------------------------------------------------ body limits

class CountingStream(io.BytesIO):
    """A request body that says how much of it the server read."""

    read_bytes = 0

    def _count(self, data):
        self.read_bytes += len(data)
        return data

    def read(self, size=-1):
        return self._count(super().read(size))

    def read1(self, size=-1):
        return self._count(super().read1(size))

    def readline(self, size=-1):
        return self._count(super().readline(size))

    def readinto(self, buffer):
        n = super().readinto(buffer)
        self.read_bytes += n
        return n


def test_a_1_gib_multipart_to_login_is_413_and_never_read(app, world):
    body = CountingStream(b"--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\n"
                          + b"a" * 65536)
    response = app.test_client().post(
        "/login", input_stream=body, environ_overrides={"CONTENT_LENGTH": str(2**30)},
        content_type="multipart/form-data; boundary=x")
    assert response.status_code == 413
    assert body.read_bytes == 0


def test_an_oversized_form_to_any_page_is_413(browser):
    page = browser("customer_service_1")
    response = page.post("/tasks/some-task/comments", {"body": "x" * (1024 * 1024 + 1)})
    assert response.status_code == 413
    assert page.get("/inbox").status_code == 200             # the session is untouched


def test_a_form_within_the_limit_reaches_the_page(browser):
    page = browser("customer_service_1")
    response = page.post("/tasks/no-such-task/comments", {"body": "hello"})
    assert response.status_code == 404
