"""Database connections: engine and session factory, SQLite tuning, schema upgrades via Alembic."""
from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import sqlite3
import weakref
from pathlib import Path

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine import group_commit as group_commit_sync
from engine import money
from engine.by_object import ByObject

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_SECONDS = 30      # how long a SQLite writer waits for the lock before "database is locked"
# engine -> its group-commit barrier (durable SQLite files only)
_WAL_SYNC: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# engine -> when its writers take the write lock (SQLite only)
_SQLITE_WRITERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def make_engine(url: str, *, durable: bool = True, group_commit: bool = True,
                queue_writers: bool = True, **kwargs) -> Engine:
    """A SQLAlchemy engine; SQLite gets WAL and a busy timeout and, if durable, every commit on
    disk before the session factory's caller goes on: by group commit (engine/group_commit.py:
    synchronous=NORMAL and one shared fsync of the WAL for the commits that land meanwhile), or
    with `group_commit=False` by SQLite's own fsync inside each COMMIT (synchronous=FULL). The
    writers take turns in a Python lock and, on a file, a lock on "<file>-writers" shared with
    other processes (`WriterQueue`) unless `queue_writers` is False (the benchmark's "before"),
    from their first write on (`_SqliteWriters`). JSON columns keep Decimals as Decimals
    (engine.money)."""
    kwargs.setdefault("json_serializer", money.dumps)
    kwargs.setdefault("json_deserializer", money.loads)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        on_disk = bool(path) and path != ":memory:"
        if on_disk:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS,
                                                  "check_same_thread": False},
                               **kwargs)
        grouped = durable and group_commit and on_disk
        synchronous = "NORMAL" if grouped else "FULL" if durable else "OFF"
        if grouped:
            _WAL_SYNC[engine] = group_commit_sync.WalSync(Path(path).resolve())
        lock_file = Path(f"{path}-writers") if on_disk else None
        writers = group_commit_sync.WriterQueue(BUSY_SECONDS, lock_file) if queue_writers \
            else group_commit_sync.NO_QUEUE
        _SQLITE_WRITERS[engine] = _SqliteWriters(engine, writers)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are off).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        _begin_at_first_write(engine)
    return engine


def _begin_at_first_write(engine: Engine) -> None:
    """PostgreSQL: a transaction begins with its first statement that writes or locks, not with
    its first read, so that no backend sits "idle in transaction" while Python computes between
    reads (a GET renders, a verb rebuilds and runs its workflow). Reads before that statement
    run each on its own snapshot, which is what READ COMMITTED gives every statement of a
    transaction anyway; from the first write on, everything up to the commit or rollback is one
    transaction as before. The driver's connection is in autocommit mode between transactions
    and leaves it just before the first writing statement (psycopg then sends BEGIN)."""
    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_conn, _record):
        dbapi_conn.autocommit = True

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_if_writing(conn, _cursor, statement, *_args):
        if not reads_only(statement):
            _leave_autocommit(conn.connection.driver_connection)

    _after_each_end(engine, _back_to_autocommit)


def _after_each_end(engine: Engine, ended) -> None:
    """Call `ended(dbapi_connection)` after every commit and rollback on `engine`, whether it
    succeeded or not."""
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection):
        try:
            commit(dbapi_connection)
        finally:
            ended(dbapi_connection)

    def do_rollback(dbapi_connection):
        try:
            rollback(dbapi_connection)
        finally:
            ended(dbapi_connection)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback


def _leave_autocommit(driver) -> None:
    """Before a PostgreSQL statement that writes or locks: psycopg sends BEGIN with it."""
    if driver.autocommit:
        driver.autocommit = False


def _back_to_autocommit(dbapi_connection) -> None:
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    # Only between transactions: a failed commit leaves the rollback that follows to do it.
    if driver is not None and not driver.closed and not driver.autocommit \
            and driver.info.transaction_status == _PG_IDLE:
        driver.autocommit = True


def autocommitted(session: Session, statement: str, params: dict):
    """The first row of `statement` (SQL with %(name)s parameters) run on the session's
    connection so that it commits by itself when the session has not begun writing yet;
    inside a writing transaction it is part of that transaction. PostgreSQL: the connection is
    in autocommit until the first write (`_begin_at_first_write`). SQLite: the statement gets
    a short transaction of its own, with the writer's turn and the write lock for just that
    long (`_SqliteWriters`); the writer's own transaction still begins at its first write."""
    connection = session.connection()
    pooled = connection.connection
    writers = _SQLITE_WRITERS.get(connection.engine)
    if writers is None:
        with pooled.driver_connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchone()
    sql = _PYFORMAT.sub(r":\1", statement)
    if not pooled.info.get(writers.PENDING):
        return pooled.driver_connection.execute(sql, params).fetchone()
    writers.begin(pooled)
    driver = pooled.driver_connection
    try:
        row = driver.execute(sql, params).fetchone()
        # Not flushed by itself: the commit that uses what it drew comes later in the WAL, so
        # it is on disk only once this one is.
        driver.execute("COMMIT")
    except sqlite3.Error as err:
        with contextlib.suppress(sqlite3.Error):
            driver.execute("ROLLBACK")
        raise exc.DBAPIError.instance(sql, params, err, sqlite3.Error) from err
    finally:
        writers.ended(pooled.info)
        pooled.info[writers.PENDING] = True
    return row


_PYFORMAT = re.compile(r"%\((\w+)\)s")
_PG_IDLE = 0        # psycopg.pq.TransactionStatus.IDLE
_READ = re.compile(r"\s*\(*\s*SELECT\b", re.IGNORECASE)
_LOCKS = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b|\bpg_advisory",
                    re.IGNORECASE)


MAX_ID = 2**63 - 1      # a BIGINT: a larger id overflows the driver before the query runs


def row_id(text: str) -> int | None:
    """The row id `text` spells in ASCII digits, 1 to MAX_ID; None for anything else (a
    request number, or '²' and '٣', which str.isdigit takes: int() refuses the first and
    reads the second as 3)."""
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else 0
    return number if 0 < number <= MAX_ID else None


def drawn_id(session: Session, table: str) -> int | None:
    """A new id for a row of `table`, drawn before its INSERT so that the INSERT can be queued
    with the unit's other writes (engine.prebuilt.add_queued) instead of beginning the
    transaction to return the id: on PostgreSQL from the table's sequence, by a statement in
    no transaction (`autocommitted`; an id drawn and not used leaves a gap). None on SQLite,
    whose INSERT gives the id under the write lock."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return autocommitted(session, "SELECT nextval(pg_get_serial_sequence(%(table)s, 'id'))",
                         {"table": table})[0]


@functools.lru_cache(maxsize=4096)
def reads_only(statement: str) -> bool:
    """Whether a SQL statement only reads: a SELECT that takes no row or advisory lock.
    Anything else (a write, a lock, a savepoint, a CTE) begins the transaction."""
    return bool(_READ.match(statement)) and not _LOCKS.search(statement)


class _SqliteWriters:
    """When SQLite's transactions take the write lock. Readers (`reading()`) begin DEFERRED: a
    WAL snapshot that neither waits for the write lock nor holds it, with query_only on so
    that a write there fails loudly instead of racing for the lock. A writer begins nothing
    until its first statement that writes or locks (a SELECT ... FOR UPDATE, which SQLite
    does not spell out: `with_for_update` on the statement); then it takes its turn in the
    process's `writers` (engine.group_commit.WriterQueue) and sends BEGIN IMMEDIATE, and from
    there to its commit or rollback it is one transaction holding the lock. Reads before
    that run each on a snapshot of its own, as on PostgreSQL (`_begin_at_first_write`), so a
    unit of work that loads, computes and then writes holds the lock only while it writes:
    another process's writers run their workflows meanwhile. What must hold between a read
    and a write is read with `with_for_update` or after `begin_writing`.

    BEGIN and the pragma are sent on the driver's connection (going through exec_driver_sql
    costs a third of an empty transaction), their errors wrapped as exec_driver_sql would
    (the API answers a locked database with 503)."""

    PENDING = "aftersales_write_pending"    # the pool connection's info: a writer not begun
    QUERY_ONLY = "aftersales_query_only"    # and (its driver's connection, query_only set)

    def __init__(self, engine: Engine, writers):
        self.writers = writers

        def returned(_dbapi_connection, connection_record, *_exception):
            self.ended(connection_record.info)

        _after_each_end(engine, lambda dbapi_connection: self.ended(_info(dbapi_connection)))
        for name in ("checkin", "invalidate", "soft_invalidate"):
            event.listen(engine, name, returned)
        event.listen(engine, "begin", self.began)
        event.listen(engine, "before_cursor_execute", self.before_statement)

    def began(self, conn) -> None:
        read = _reading.get()
        pooled = conn.connection
        driver = pooled.driver_connection
        try:
            # query_only as the transaction needs it, sent only when it changes: the pool's
            # info remembers it for the driver's connection (a reconnect gets a new one).
            if pooled.info.get(self.QUERY_ONLY) != (driver, read):
                driver.execute(_QUERY_ONLY[read])
                pooled.info[self.QUERY_ONLY] = (driver, read)
            if read:
                driver.execute("BEGIN")
        except sqlite3.Error as err:
            pooled.info.pop(self.QUERY_ONLY, None)
            raise exc.DBAPIError.instance("BEGIN", (), err, sqlite3.Error) from err
        if not read:
            pooled.info[self.PENDING] = True

    def before_statement(self, conn, _cursor, statement, _parameters, context, _many) -> None:
        if conn.connection.info.get(self.PENDING) and (
                not reads_only(statement) or _locks(context)):
            self.begin(conn.connection)

    def write_next(self, connection) -> None:
        """Before a statement that writes or locks on `connection` (the pool's): take the turn
        and the write lock unless its writer has them."""
        if connection.info.get(self.PENDING):
            self.begin(connection)

    def begin(self, connection) -> None:
        """Take the turn and the write lock for `connection` (the pool's), whose writer had
        not begun."""
        info = connection.info
        if not self.writers.enter(info):
            err = sqlite3.OperationalError("database is locked")
            raise exc.DBAPIError.instance("BEGIN IMMEDIATE", (), err, sqlite3.Error)
        try:
            connection.driver_connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            self.writers.leave(info)
            raise exc.DBAPIError.instance("BEGIN IMMEDIATE", (), err, sqlite3.Error) from err
        info.pop(self.PENDING, None)

    def ended(self, info) -> None:
        if info is not None:
            info.pop(self.PENDING, None)
        self.writers.leave(info)


def _locks(context) -> bool:
    """Whether the statement of an execution `context` locks what it reads (FOR UPDATE)."""
    statement = getattr(context.compiled, "statement", None)
    return getattr(statement, "_for_update_arg", None) is not None


def about_to_send(connection, writes: bool) -> None:
    """Before a statement that writes or locks (`writes`) is sent on the driver of
    `connection` (a SQLAlchemy Connection) past SQLAlchemy's execution (engine.prebuilt), do
    what this module's listeners do before one SQLAlchemy sends: begin the database's
    transaction if it has not begun (SQLite's writer takes its turn and the write lock,
    `_SqliteWriters`; PostgreSQL's connection leaves autocommit, `_begin_at_first_write`)."""
    if not writes:
        return
    writers = _SQLITE_WRITERS.get(connection.engine)
    if writers is not None:
        writers.write_next(connection.connection)
    elif connection.dialect.name == "postgresql":
        _leave_autocommit(connection.connection.driver_connection)


def begin_writing(session: Session) -> None:
    """Make the session's transaction a writing one now: on SQLite take the write lock (see
    `_SqliteWriters`) so that what is read next holds until the commit; PostgreSQL's
    transactions lock rows, not the database, and begin at their first write anyway."""
    connection = session.connection()
    writers = _SQLITE_WRITERS.get(connection.engine)
    if writers is not None and connection.connection.info.get(writers.PENDING):
        writers.begin(connection.connection)


def _info(connection) -> dict | None:
    """The pool's info dict of a proxied connection (None for the ad-hoc connection SQLAlchemy
    wraps a new one in while it first connects, which has none)."""
    try:
        return connection.info
    except (AttributeError, NotImplementedError):
        return None


_reading: contextvars.ContextVar[bool] = contextvars.ContextVar("reading", default=False)
_QUERY_ONLY = {True: "PRAGMA query_only=1", False: "PRAGMA query_only=0"}


@contextlib.contextmanager
def reading():
    """Transactions begun inside the block only read. On SQLite they begin DEFERRED, on a WAL
    snapshot, so they neither queue behind writers nor make writers wait, and a write inside
    one is refused ("attempt to write a readonly database"); PostgreSQL reads never wait for
    writers anyway. GET requests (audit verification over the API among them) read this way;
    the sign-in check is one statement in no transaction (`lone_row`)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def lone_row(engine: Engine, statement, params: dict) -> dict | None:
    """The first row of `statement`, a prebuilt SELECT, as {column: value}, or None: run on a
    pooled connection's driver as one statement in no transaction (SQLite reads on a snapshot
    of its own in autocommit, PostgreSQL's connection is in autocommit between transactions:
    `_begin_at_first_write`), with neither a SQLAlchemy Connection nor its BEGIN and rollback
    around it, which cost twice the statement. For the questions asked on every request: the
    sign-in check, a machine caller's secrets (`lone_rows`). The statement is compiled once
    per dialect (`_Lone`)."""
    rows = lone_rows(engine, statement, params, limit=1)
    return rows[0] if rows else None


def lone_rows(engine: Engine, statement, params: dict, *, limit: int | None = None) -> list[dict]:
    """Every row of `statement` (at most `limit`), read as `lone_row` reads one."""
    lone = _LONE.get(statement, lambda: _Lone(statement, engine.dialect), engine.dialect.name)
    connection = engine.raw_connection()
    try:
        cursor = connection.driver_connection.cursor()
        try:
            cursor.execute(lone.sql, lone.parameters(params))
            rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        except engine.dialect.loaded_dbapi.Error as err:
            raise exc.DBAPIError.instance(lone.sql, params, err,
                                          engine.dialect.loaded_dbapi.Error) from err
        finally:
            cursor.close()
    finally:
        connection.close()
    return [lone.row(row) for row in rows]


class _Lone:
    """A SELECT compiled for one dialect: its SQL, how its parameters are bound (in order for
    SQLite's qmark style, by name for psycopg's) and its columns' names and result types."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = compiled.positional
        self.names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        self.binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                      for name, bind in compiled.binds.items()}
        self.columns = [(column.key,
                         column.type.dialect_impl(dialect).result_processor(dialect, None))
                        for column in statement.selected_columns]

    def parameters(self, params: dict):
        bound = {name: (process(params[name]) if process else params[name])
                 for name, process in self.binds.items()}
        return tuple(bound[name] for name in self.names) if self.positional else bound

    def row(self, values) -> dict:
        return {key: (process(value) if process else value)
                for (key, process), value in zip(self.columns, values)}


_LONE = ByObject(64)        # a few prebuilt statements are asked this way


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine`; on a group-committed SQLite engine each writing commit returns only
    once it is on disk (engine/group_commit.py)."""
    factory = sessionmaker(engine, expire_on_commit=False)
    wal_sync = _WAL_SYNC.get(engine)
    if wal_sync is not None:
        @event.listens_for(factory, "after_commit")
        def _on_disk(session):
            # A released savepoint is no commit (SQLAlchemy announces both), and a read
            # transaction wrote nothing to flush.
            if not session.in_nested_transaction() and not _reading.get():
                wal_sync.after_commit()
    return factory


def wal_sync(engine: Engine) -> group_commit_sync.WalSync | None:
    """The group-commit barrier of `engine` (None: SQLite's own or no fsync)."""
    return _WAL_SYNC.get(engine)


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
