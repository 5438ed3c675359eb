"""Database connections: engine and session factory, SQLite tuning, schema upgrades via Alembic."""
from __future__ import annotations

import contextlib
import contextvars
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine import money

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, *, durable: bool = True, **kwargs) -> Engine:
    """A SQLAlchemy engine; SQLite gets WAL, a busy timeout and (if durable) fsync on commit.
    JSON columns keep Decimals as Decimals (engine.money)."""
    kwargs.setdefault("json_serializer", money.dumps)
    kwargs.setdefault("json_deserializer", money.loads)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are off).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Writers begin IMMEDIATE: take the write lock up front so two writers queue instead
            # of failing with "database is locked" on lock upgrade. Readers (`reading()`) begin
            # DEFERRED: a WAL snapshot that neither waits for the write lock nor holds it, with
            # query_only on so that a write there fails loudly instead of racing for the lock.
            # Sent on the driver's connection (going through exec_driver_sql costs a third of an
            # empty transaction), its errors wrapped as exec_driver_sql would (the API answers a
            # locked database with 503).
            read = _reading.get()
            driver = conn.connection.driver_connection
            try:
                driver.execute(_QUERY_ONLY[read])
                driver.execute("BEGIN" if read else "BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise exc.DBAPIError.instance("BEGIN", (), err, sqlite3.Error) from err

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


_reading: contextvars.ContextVar[bool] = contextvars.ContextVar("reading", default=False)
_QUERY_ONLY = {True: "PRAGMA query_only=1", False: "PRAGMA query_only=0"}


@contextlib.contextmanager
def reading():
    """Transactions begun inside the block only read. On SQLite they begin DEFERRED, on a WAL
    snapshot, so they neither queue behind writers nor make writers wait, and a write inside
    one is refused ("attempt to write a readonly database"); PostgreSQL reads never wait for
    writers anyway. GET requests (audit verification over the API among them) and the sign-in
    check read this way."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Create or upgrade the schema to the newest Alembic revision."""
    from alembic import command

    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")
