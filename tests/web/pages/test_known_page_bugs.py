"""Page behaviour found wrong while writing these tests, each as a strict xfail: the test says
what a user should get; when the page is fixed the test passes, pytest reports XPASS as a
failure, and the mark is to be removed. (The CSV formula guard is in test_audit_pages.py.)"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.web.pages.conftest import Browser


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="login's _safe_next lets /<tab>/host through; werkzeug drops the tab")
def test_next_with_a_tab_does_not_leave_the_site(app, world):
    """`next=/%09/evil.example` passes the "starts with / but not //" check; the Location
    header comes out as //evil.example, which a browser follows to another site."""
    response = Browser(app).login("auditor", next="/%09/evil.example")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).netloc == ""


@pytest.mark.xfail(strict=True, raises=ValueError,
                   reason="a newline in next reaches the Location header: 500")
def test_next_with_a_newline_is_dropped(app, world):
    response = Browser(app).login("auditor", next="/%0A/evil.example")
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.xfail(strict=True, raises=OverflowError,
                   reason="audit search turns any run of digits into an instance id: 500")
def test_audit_search_with_a_long_number_finds_nothing(browser, world):
    response = browser("auditor").get("/audit?q=99999999999999999999")
    assert response.status_code == 200


@pytest.mark.xfail(strict=True, raises=ValueError,
                   reason="str.isdigit() accepts '²', int() does not: 500")
def test_audit_search_with_a_superscript_digit_finds_nothing(browser, world):
    response = browser("auditor").get("/audit?q=²")
    assert response.status_code == 200


@pytest.mark.xfail(strict=True, raises=ValueError,
                   reason="_version_arg uses str.isdigit() before int(): 500")
def test_diff_with_a_superscript_version_is_422(browser, world):
    response = browser("owner").get("/processes/aftersales_request/diff?a=1&b=²")
    assert response.status_code == 422
