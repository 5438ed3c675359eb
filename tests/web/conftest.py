"""Web fixtures: a fresh app on the per-test SQLite file, its client, users, orders and logins."""
from __future__ import annotations

import atexit
import hashlib
import shutil
import sqlite3
import tempfile
from contextlib import closing
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from engine import client_secrets, clock, config, orders, signatures, users
from engine.access import MACHINE_ROLES
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from web import create_app

WEB_DATA = Path(__file__).parent / "data"
FIXTURE_BUNDLE = WEB_DATA / "aftersales"
PASSWORD = "correct horse battery"
# Cheap hashes keep logins fast in tests; production uses scrypt.
FAST_HASH = "pbkdf2:sha256:1000"

# username -> (role, department, customer_id)
PEOPLE = {
    **{f"{dept}_1": ("staff", dept, None) for dept in config.DEPARTMENTS},
    "customer_service_2": ("staff", "customer_service", None),
    "finance_2": ("staff", "finance", None),
    "cs_lead": ("supervisor", "cs_supervisor", None),
    "ops_head": ("supervisor", "management", None),
    "owner": ("process_owner", None, None),
    "auditor": ("auditor", None, None),
    "admin": ("admin", None, None),
    "alice": ("customer", None, "C001"),
    "bob": ("customer", None, "C002"),
    "courier": ("courier", None, None),
    "payment": ("payment", None, None),
    "shop": ("shop", None, None),
}
# order_id -> (customer, category, [(sku, quantity, unit price)])
ORDERS = {"O-1001": ("C001", "3c", [("SKU-O-1001", 1, "299.00")]),
          "O-1002": ("C002", "apparel", [("SKU-O-1002", 1, "120.00")]),
          "O-1003": ("C001", "fresh", [("SKU-O-1003", 1, "50.00")]),
          "O-1004": ("C001", "apparel", [("SOCKS", 3, "10.00"), ("HAT", 1, "30.00")])}


def order_body(customer_id="C001", category="3c", lines=(("SKU-1", 1, "299.00"),),
               **fields) -> dict:
    """An order as the shop sends it: paid ten days ago, delivered seven days ago, 300 days
    of warranty; `lines` are (sku, quantity, unit price) and the paid amount is their sum."""
    now = clock.now()
    items = [{"sku": sku, "name": f"item {sku}", "quantity": quantity, "unit_price": price}
             for sku, quantity, price in lines]
    paid = sum(Decimal(price) * quantity for _, quantity, price in lines)
    return {"customer_id": customer_id, "category": category, "currency": "CNY",
            "channel": "app", "paid_amount": str(paid),
            "paid_at": (now - timedelta(days=10)).isoformat(),
            "delivered_at": (now - timedelta(days=7)).isoformat(),
            "warranty_until": (now + timedelta(days=300)).isoformat(),
            "shipping_address": "Shanghai", "items": items, **fields}


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False})
    yield app
    app.extensions["aftersales"].engine.dispose()


@pytest.fixture
def platform(app):
    return app.extensions["aftersales"]


@pytest.fixture
def sessions(platform):
    return platform.sessions


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(platform):
    """The people, the orders and the fixture bundle, deployed."""
    populate(platform)
    return PEOPLE


def populate(platform) -> None:
    """Add PEOPLE and ORDERS (through engine.orders.upsert, as PUT /api/orders stores them)
    and deploy the fixture bundle, in one transaction.

    Deploying is most of a test's setup, and hundreds of tests populate a database fresh from
    the template at the same frozen instant: on SQLite the first one's result is kept (one copy
    per instant and database state) and the next ones get that copy, row for row what populating
    would write (users' salts and tokens aside), through SQLite's backup API. A database
    that is not in a state seen before (anything written to it first) is populated as usual."""
    path = _sqlite_file(platform.settings.database_url)
    key = (clock.now(), _content_digest(path)) if path else None
    kept = _POPULATED.get(key)
    if kept is not None:
        platform.engine.dispose()               # no pooled connection from before the copy
        _copy_database(kept, path)
        return
    with platform.sessions.begin() as session:
        for name, (role, department, customer_id) in PEOPLE.items():
            users.create_user(session, name, PASSWORD, role, department, customer_id,
                              method=FAST_HASH)
        for order_id, (customer_id, category, lines) in ORDERS.items():
            orders.upsert(session, order_id, order_body(customer_id, category, lines))
        catalog.deploy(session, Bundle.from_folder(FIXTURE_BUNDLE), "owner")
    if key is not None:
        global _POPULATED_DIR
        if _POPULATED_DIR is None:
            _POPULATED_DIR = Path(tempfile.mkdtemp(prefix="aftersales-world-"))
            atexit.register(shutil.rmtree, _POPULATED_DIR, ignore_errors=True)
        kept = _POPULATED_DIR / f"world-{len(_POPULATED)}.sqlite"
        _copy_database(path, kept)
        _POPULATED[key] = kept


# (frozen instant, digest of the database before) -> a copy of it as populate left it
_POPULATED: dict[tuple, Path] = {}
_POPULATED_DIR: Path | None = None


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _content_digest(path: Path) -> str:
    """A digest of the schema and every row of the SQLite database at `path`."""
    digest = hashlib.sha256()
    with closing(sqlite3.connect(path)) as conn:
        tables = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        for name, sql in tables:
            digest.update(repr((name, sql)).encode())
            if sql and sql.startswith("CREATE TABLE"):
                for row in conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid'):
                    digest.update(repr(row).encode())
    return digest.hexdigest()


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API (the files are in WAL mode)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


class Caller:
    """A client logged in as one user: .get/.post/... add the bearer token, and for a machine
    (`secret` given) sign the body as the client would (X-Aftersales-Signature), unless the
    test sends a signature header of its own."""

    def __init__(self, client, headers: dict, secret: str | None = None):
        self.client, self.headers, self.secret = client, headers, secret

    def __getattr__(self, method):
        call = getattr(self.client, method)

        def with_token(path, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            if self.secret is not None and \
                    signatures.HEADER.lower() not in {h.lower() for h in headers}:
                if "json" in kwargs:    # serialised here so that the bytes signed are the sent
                    kwargs["data"] = self.client.application.json.dumps(kwargs.pop("json"))
                    kwargs.setdefault("content_type", "application/json")
                raw = kwargs.get("data") or b""
                raw = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
                kwargs["data"] = raw
                headers[signatures.HEADER] = signatures.sign(self.secret, raw)
            return call(path, headers=headers, **kwargs)
        return with_token


class Auth:
    """auth.login('customer_service_1') -> headers; auth.as_('alice').get(...)."""

    def __init__(self, client):
        self.client = client
        self.tokens: dict[str, str] = {}
        self.secrets: dict[str, str | None] = {}

    def login(self, username: str, password: str = PASSWORD, *, fresh: bool = False) -> dict:
        if fresh or username not in self.tokens:
            response = self.client.post("/api/auth/token",
                                        json={"username": username, "password": password})
            assert response.status_code == 200, response.get_json()
            self.tokens[username] = response.get_json()["token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def as_(self, username: str) -> Caller:
        return Caller(self.client, self.login(username), self.secret(username))

    def secret(self, username: str) -> str | None:
        """The signing secret of a machine account (issued on first use), None for people."""
        if username not in self.secrets:
            with self.client.application.extensions["aftersales"].sessions.begin() as session:
                user = users.find(session, username)
                self.secrets[username] = (
                    client_secrets.issue(session, username)[0]
                    if user is not None and user.role in MACHINE_ROLES else None)
        return self.secrets[username]


@pytest.fixture
def auth(client, world):
    return Auth(client)


def file_request(auth, user="alice", **fields):
    """File a request over HTTP; returns the response body (asserting 201)."""
    body = {"order_id": "O-1001", "type": "return_refund", "reason": "does not fit", **fields}
    response = auth.as_(user).post("/api/requests", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def pay(auth, number, status="paid", reference="RF-1"):
    """The payment provider answers for the request's pending payment, naming it by the
    idempotency key it was sent with; returns the response."""
    [pending] = [p for p in auth.as_("finance_1").get(f"/api/requests/{number}/payments")
                 .get_json()["items"] if p["status"] == "pending"]
    return auth.as_("payment").post("/api/messages", json={
        "name": "refund_result", "correlation": number,
        "payload": {"status": status, "reference": reference,
                    "idempotency_key": pending["idempotency_key"]}})


def open_tasks(auth, user="admin", **params):
    response = auth.as_(user).get("/api/tasks", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def complete_own_task(auth, user, data):
    """Complete the one task in `user`'s task list with `data` over HTTP (asserting 200)."""
    [task] = open_tasks(auth, user)
    done = auth.as_(user).post(f"/api/tasks/{task['task_id']}/complete", json={"data": data})
    assert done.status_code == 200, done.get_json()


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]
