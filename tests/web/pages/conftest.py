"""Black-box fixtures for the HTML pages (web/pages/*.py), driven through Flask test clients.

Everything is set up as a user would: customers file requests over the JSON API
(`POST /api/requests`), people sign in to the pages with the login form, and every page POST
carries the CSRF token read from the page the browser last rendered. Nothing here imports the
engine or the pages' modules, so the tests keep pinning what a user sees while those modules
are reorganised.

A `Browser` is one person's browser: its own cookie jar (so several people can be signed in at
once), English pages (the app's default is Chinese: `Browser(app, lang=None)`), and the CSRF
token of the page it last rendered.
"""
from __future__ import annotations

import functools
import io
import re
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import EnvironBuilder, encode_multipart

# `clock` is the engine's clock as tests/web/conftest.py imports it; it is used in one place,
# `advance` below, the only thing the pages' behaviour needs that HTTP cannot do (time passing,
# for SLAs). If the engine's clock moves, tests/web/conftest.py moves with it.
from tests.web.conftest import FIXTURE_BUNDLE, PASSWORD, PEOPLE, clock, file_request, open_tasks

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def advance(**delta) -> None:
    """Let time pass for everyone (the app's clock is frozen by tests/conftest.py)."""
    clock.advance(timedelta(**delta))


# ------------------------------------------------------------------ the app, faster

class _SharedBytecode(jinja2.BytecodeCache):
    """Compiled templates kept across the tests' apps (each test builds a new app, whose
    Jinja environment would otherwise compile every template again: a quarter of the time).
    A template whose source changed is compiled again (jinja checks the checksum)."""

    def __init__(self):
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        code = self.store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket):
        self.store[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _SharedBytecode()


@pytest.fixture
def app(app):
    """tests/web/conftest.py's app, with compiled templates shared between tests."""
    app.jinja_env.bytecode_cache = _BYTECODE
    return app


# `world` (tests/web/conftest.py) adds the people and orders and deploys the fixture bundle, the
# other big share of a test's time: its populate() copies what the first test populated.


# ------------------------------------------------------------------ reading HTML

class _Collector(HTMLParser):
    """Elements matching a (tag, attribute, value) filter, with their text."""

    VOID = {"input", "meta", "link", "br", "img", "hr", "source"}
    # Elements whose edges separate words (as a browser shows them).
    BLOCKS = {"td", "th", "tr", "li", "div", "p", "dt", "dd", "br", "h1", "h2", "h3", "ul",
              "ol", "table", "section", "article", "option", "pre", "label"}

    def __init__(self, tag=None, attr=None, value=None):
        super().__init__(convert_charrefs=True)
        self.want = (tag, attr, value)
        self.found: list[dict] = []
        self.stack: list[dict] = []

    def _matches(self, tag, attrs):
        want_tag, want_attr, want_value = self.want
        if want_tag and tag != want_tag:
            return False
        if want_attr is None:
            return True
        if want_attr not in attrs:
            return False
        if want_value is None:
            return True
        if want_attr == "class":
            return want_value in (attrs[want_attr] or "").split()
        return attrs[want_attr] == want_value

    def _gap(self, tag):
        if tag in self.BLOCKS:
            self.handle_data(" ")

    def handle_starttag(self, tag, attrs):
        self._gap(tag)
        attrs = dict(attrs)
        if self._matches(tag, attrs):
            element = {"tag": tag, "attrs": attrs, "text": []}
            self.found.append(element)
            if tag not in self.VOID:
                self.stack.append(element)
        elif tag not in self.VOID:
            self.stack.append(None)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if self.stack:
            self.stack.pop()
        self._gap(tag)

    def handle_data(self, data):
        for element in self.stack:
            if element is not None:
                element["text"].append(data)


def select(html: str, tag=None, attr=None, value=None) -> list[dict]:
    """Elements of `html` by tag and one attribute (class matches one of the classes):
    [{tag, attrs, text}] with the text of the element and its children, whitespace folded."""
    parser = _Collector(tag, attr, value)
    parser.feed(html)
    for element in parser.found:
        element["text"] = " ".join("".join(element["text"]).split())
    return parser.found


def texts(html: str, tag=None, attr=None, value=None) -> list[str]:
    return [e["text"] for e in select(html, tag, attr, value)]


def table_rows(html: str, after: str = "<table") -> list[list[str]]:
    """The body rows of the first table after the text `after`, as lists of cell texts."""
    start = html.index("<tbody>", html.index(after))
    body = html[start:html.index("</tbody>", start)]
    return [texts(row, "td") for row in re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)]


def text_of(html: str) -> str:
    """The visible text of a page, whitespace folded (scripts' JSON included, as is)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# ------------------------------------------------------------------ a browser

class Browser:
    """One person's browser on the pages: cookies, language, the CSRF token of the last page."""

    def __init__(self, app, lang: str | None = "en"):
        self.client = app.test_client()
        # Served as `aftersales serve` (gunicorn's threaded worker) or werkzeug's threaded
        # server: werkzeug's test client would say it is a server of one thread.
        self.threaded = True
        self.client.open = functools.partial(self._open, self.client.open)
        if lang:
            self.client.set_cookie("lang", lang)
        self.token: str | None = None

    def _open(self, open_, *args, **kwargs):
        if not (args and isinstance(args[0], EnvironBuilder)):
            kwargs.setdefault("multithread", self.threaded)
        return open_(*args, **kwargs)

    # -- plain requests
    def get(self, path, *, fetch=False, **kwargs):
        headers = self._headers(fetch, kwargs)
        response = self.client.get(path, headers=headers, **kwargs)
        self._remember(response)
        return response

    def post(self, path, data=None, *, fetch=False, csrf=True, **kwargs):
        """A form post; adds the page's CSRF token (csrf=False: none; a string: that one)."""
        if isinstance(data, MultiDict):
            data = MultiDict(data)
        else:
            data = MultiDict(list((data or {}).items()))
        if csrf is True:
            data.setlist("csrf_token", [self.token or ""])
        elif csrf:
            data.setlist("csrf_token", [csrf])
        headers = self._headers(fetch, kwargs)
        response = self.client.post(path, data=data, headers=headers, **kwargs)
        self._remember(response)
        return response

    def upload(self, path, files, *, fields=None, fetch=False, field="files"):
        """A multipart post of `files` ([(name, bytes)]) plus form fields and the CSRF token."""
        values = [(field, FileStorage(io.BytesIO(content), filename=name))
                  for name, content in files]
        values += list((fields or {}).items()) + [("csrf_token", self.token or "")]
        boundary, body = encode_multipart(MultiDict(values))
        response = self.client.post(path, data=body, headers=self._headers(fetch, {}),
                                    content_type=f"multipart/form-data; boundary={boundary}")
        self._remember(response)
        return response

    # -- signing in and out
    def login(self, username, password=PASSWORD, *, next=None):
        """Open the login page (which hands out the CSRF token) and post the form; `next` goes
        into the URL as given (percent-encode it yourself)."""
        path = "/login" if next is None else f"/login?next={next}"
        self.get(path)
        return self.post(path, {"username": username, "password": password})

    def logout(self):
        return self.post("/logout")

    def _headers(self, fetch, kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if fetch:
            headers["X-Requested-With"] = "fetch"
        return headers

    def _remember(self, response):
        response.get_data()             # buffered: a file sent from disk is closed at once
        response.close()
        if response.mimetype == "text/html":
            found = CSRF_META.search(response.get_data(as_text=True))
            if found:
                self.token = found.group(1)


@pytest.fixture
def browser(app, world):
    """browser('customer_service_1') -> a Browser signed in as that user; browser() -> an
    anonymous one."""
    def _open(username=None, *, lang="en"):
        page = Browser(app, lang)
        if username is not None:
            response = page.login(username)
            assert response.status_code == 302, response.get_data(as_text=True)
            assert response.headers["Location"] == "/"
            # Signing in changed the CSRF token: read it from a page, the cheapest one (the
            # start pages themselves are pinned in test_auth_pages.py).
            assert page.get("/login").status_code == 200
        return page
    return _open


# ------------------------------------------------------------------ data, over the JSON API

class Desk:
    """The outside world over the JSON API: customers file requests; the task list, a request's
    progress and an instance's history are read back to check what the pages did."""

    def __init__(self, auth):
        self.auth = auth

    def file(self, customer="alice", **fields) -> dict:
        """File a request (default: alice's return of O-1001, a review task for
        customer_service); returns the API's answer (number, instance_id, ...)."""
        return file_request(self.auth, customer, **fields)

    def tasks(self, user="admin", **params) -> list[dict]:
        return open_tasks(self.auth, user, **params)

    def task_of(self, number, user="admin") -> dict:
        [task] = [t for t in self.tasks(user) if t["request_number"] == number]
        return task

    def request(self, number, user="admin") -> dict:
        response = self.auth.as_(user).get(f"/api/requests/{number}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def history(self, instance_id) -> list[dict]:
        response = self.auth.as_("auditor").get(f"/api/instances/{instance_id}/history")
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"]


@pytest.fixture
def desk(auth):
    return Desk(auth)


def bundle_files(folder: Path = FIXTURE_BUNDLE, replace=()) -> list[tuple[str, bytes]]:
    """The files of a bundle folder as an upload sends them: [(name, bytes)], with text
    replaced in the BPMN files ([(old, new)], each must occur)."""
    files = []
    for path in sorted(folder.glob("*.bpmn")):
        text = path.read_text("utf-8")
        for old, new in replace:
            assert old in text, old
            text = text.replace(old, new)
        files.append((path.name, text.encode("utf-8")))
    files += [(p.name, p.read_bytes()) for p in sorted((folder / "forms").glob("*.json"))]
    return files
