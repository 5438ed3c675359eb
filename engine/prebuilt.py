"""Prebuilt statements sent on the database driver's own cursor, inside the session's transaction.

The statements every API call sends are built once, at import. SQLAlchemy's Core still works
for each execution (a cache key, an execution context, a result object): 50-100 us around a
statement that SQLite itself runs in 5-30. `run()` compiles a statement once per dialect (and,
for an INSERT or UPDATE whose columns come from its parameters, per set of parameter names),
then sends it on the driver's cursor of the session's connection with the dialect's own
conversions of parameters and results (the same bind and result processors SQLAlchemy would
call: Decimals, JSON through engine.money, datetimes on SQLite) and its Python-side column
defaults. The transaction is the session's: its connection is asked for first (which begins
it), and a statement that writes or locks begins the database's transaction as one sent
through SQLAlchemy would (engine.db.about_to_send). The database's errors come out as
SQLAlchemy's (`DBAPIError`), as from `Connection.execute`. How a statement is compiled,
bound and read back: engine/prebuilt_compiled.py.

`write()` queues a write nobody waits for: the unit of work's writes go out together with the
session's next statement or its commit. `one()`, `add()` and `change()` read, insert and update
the few ORM objects every call touches, leaving them as the ORM would; objects written past the
ORM are read again after a rollback (`wrote`). Any other ORM object is not told what these
statements change: the callers keep it in step (set_committed_value) or never load it.
"""
from __future__ import annotations

from psycopg import pq
from sqlalchemy import bindparam, event, exc, insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import Pool
from sqlalchemy.sql.dml import Insert, Update

from engine import db
from engine.by_object import ByObject
from engine.prebuilt_compiled import Compiled


class Rows:
    """What a statement gave: its rows (tuples, readable by column name too) and rowcount."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list, rowcount: int):
        self.rows, self.rowcount = rows, rowcount

    def __iter__(self):
        return iter(self.rows)

    def all(self) -> list:
        return self.rows

    def first(self):
        return self.rows[0] if self.rows else None

    def scalar(self):
        """The first column of the first row, or None."""
        return self.rows[0][0] if self.rows else None

    def scalars(self) -> list:
        """The first column of every row."""
        return [row[0] for row in self.rows]


def run(session: Session, statement, params: dict | list[dict] | None = None) -> Rows:
    """Send `statement`, prebuilt (a module-level Core SELECT, INSERT, UPDATE or DELETE), with
    `params` (a list of them: one execution for many rows) in the session's transaction, after
    the writes queued before it (`write`)."""
    connection = session.connection()
    compiled, sql, bound, many = _prepared(connection, statement, params)
    _send_queued(connection)
    return _send(connection, compiled, sql, bound, many)


def write(session: Session, statement, params: dict | list[dict] | None = None, *,
          rows: int | None = None, lost=None) -> None:
    """Queue a write whose answer the caller does not wait for: it is sent just before the
    session's next statement (this module's or SQLAlchemy's) or its commit, and dropped by a
    rollback. A unit of work's writes go out together, so the database's transaction, which
    begins at its first write (engine.db), opens when they are sent (or at a statement that
    locks, or a read that must see them), not while Python computes between them. `lost()` is
    raised when, once sent, the write changed another number of rows than `rows` (a version
    check) or the database refused it (IntegrityError: a seq another writer took); nothing of
    the transaction is then kept."""
    if rows is not None and isinstance(params, list):
        raise ValueError("a version check is for the write of one set of parameters")
    connection = session.connection()
    compiled, sql, bound, many = _prepared(connection, statement, params)
    connection.connection.info.setdefault(_QUEUE, []).append(
        (compiled, sql, bound, many, rows, lost))
    session.info[_QUEUE] = True


def _prepared(connection, statement, params):
    """(the compiled statement, its SQL and bound parameters, whether for many rows)."""
    many = isinstance(params, list)
    params = params if many else [params or {}]
    dialect = connection.dialect
    keys = frozenset(params[0]) if isinstance(statement, (Insert, Update)) else None
    compiled = _COMPILED.get(statement, lambda: Compiled(statement, dialect, keys),
                             dialect.name, keys)
    sql, bound = compiled.bound(params) if many else compiled.bound_one(params[0])
    return compiled, sql, bound, many


def _send_queued(connection, *, commit: bool = False) -> None:
    """Send the writes queued on `connection` (a SQLAlchemy Connection), in order: on
    PostgreSQL in one round trip (`_send_pipelined`, with the COMMIT when `commit`) when there
    are several, when they begin the transaction (its BEGIN goes with them) or end it, else one
    by one."""
    queued = connection.connection.info.pop(_QUEUE, None)
    if not queued:
        return
    if connection.dialect.name == "postgresql" and \
            (len(queued) > 1 or commit or _begins(connection)):
        _send_pipelined(connection, queued, commit)
        return
    for compiled, sql, bound, many, rows, lost in queued:
        try:
            sent = _send(connection, compiled, sql, bound, many)
        except exc.IntegrityError:
            if lost is None:
                raise
            raise lost() from None
        if rows is not None and sent.rowcount != rows:      # a version check that lost
            raise lost()


def _begins(connection) -> bool:
    """Whether the next write on PostgreSQL `connection` begins its transaction."""
    return connection.connection.driver_connection.info.transaction_status == \
        pq.TransactionStatus.IDLE


def _send_pipelined(connection, queued: list, commit: bool = False) -> None:
    """The queued writes in psycopg's pipeline mode, and the COMMIT after them if `commit`:
    sent together, their answers read at one sync, so the transaction waits on one round trip,
    not one per write, and with the COMMIT it is never idle. A version-checked write goes as a
    statement the database refuses unless it changed its rows (`_checked`), so that a lost race
    stops what follows it, the COMMIT too. The first write the database refuses stops the rest
    (PostgreSQL skips them) and is the one raised (its `lost()` for a lost version check or an
    IntegrityError, as when sent alone)."""
    dialect, pooled = connection.dialect, connection.connection
    driver = pooled.driver_connection
    # The whole transaction in this round trip: its BEGIN is sent by hand (psycopg's own waits
    # for its answer before anything follows), the connection staying in autocommit.
    whole = commit and _begins(connection)
    if not whole:
        db.about_to_send(connection, True)
    # One cursor per statement sent (a write for many rows is one per row), with the queued
    # write it belongs to. None is prepared: a statement skipped after a refused one would
    # leave psycopg believing it prepared (as executemany does in pipeline mode).
    cursors, owners, control = [], [], driver.cursor()
    try:
        with driver.pipeline():
            if whole:
                control.execute("BEGIN", prepare=False)
            for k, (_compiled, sql, bound, many, rows, _lost) in enumerate(queued):
                for params in bound if many else [bound]:
                    cursors.append(driver.cursor())
                    owners.append(k)
                    cursors[-1].execute(_checked(sql, rows), params, prepare=False)
            if whole:
                control.execute("COMMIT", prepare=False)
            elif commit:
                driver.commit()
    except dialect.loaded_dbapi.Error as err:
        if whole and driver.info.transaction_status != pq.TransactionStatus.IDLE:
            control.execute("ROLLBACK")     # the failed transaction block, by hand too
        # The refused write is the first without a row count (those after it never ran).
        sent = next((k for k, cursor in enumerate(cursors) if cursor.rowcount < 0), None)
        if sent is None:            # the COMMIT itself
            raise exc.DBAPIError.instance("COMMIT", (), err, dialect.loaded_dbapi.Error) from err
        failed = owners[sent]
        lost = queued[failed][5]
        if lost is not None and (isinstance(err, dialect.loaded_dbapi.IntegrityError) or
                                 err.sqlstate == _CHECK_FAILED):
            raise lost() from None
        invalidated = dialect.is_disconnect(err, driver, None)
        if invalidated:
            connection.invalidate(err)
        raise exc.DBAPIError.instance(queued[failed][1], queued[failed][2], err,
                                      dialect.loaded_dbapi.Error,
                                      connection_invalidated=invalidated) from err
    finally:
        for cursor in [*cursors, control]:
            cursor.close()


_CHECK_FAILED = "22012"      # division_by_zero: what `_checked` makes of a lost version check


def _checked(sql: str, rows: int | None) -> str:
    """`sql`, a write that must change `rows` rows (None: any number), as one statement that
    PostgreSQL refuses otherwise (1 / 0: _CHECK_FAILED), so that no answer need be read before
    what follows it is sent."""
    if rows is None:
        return sql
    return f"WITH checked AS ({sql} RETURNING 1) SELECT 1 / (count(*) = {rows})::int FROM checked"


def _send(connection, compiled, sql, bound, many: bool, *, alone: bool = False) -> Rows:
    dialect, pooled = connection.dialect, connection.connection
    if not alone:
        db.about_to_send(connection, compiled.writes)
    cursor = pooled.driver_connection.cursor()
    try:
        if many:
            cursor.executemany(sql, bound)
            rows = []
        else:
            cursor.execute(sql, bound)
            rows = compiled.rows(cursor) if compiled.columns is not None else []
        return Rows(rows, cursor.rowcount)
    except dialect.loaded_dbapi.Error as err:
        invalidated = dialect.is_disconnect(err, pooled.driver_connection, cursor)
        if invalidated:
            connection.invalidate(err)
        raise exc.DBAPIError.instance(sql, bound, err, dialect.loaded_dbapi.Error,
                                      connection_invalidated=invalidated) from err
    finally:
        cursor.close()


def by_itself(session: Session, statement, params: dict | None = None) -> Rows:
    """`run` for a write that needs no transaction of the session's: on PostgreSQL, when the
    session has begun none, it is sent in autocommit and commits by itself, so that no backend
    holds its locks waiting for a COMMIT; else it is part of the session's transaction."""
    connection = session.connection()
    compiled, sql, bound, many = _prepared(connection, statement, params)
    _send_queued(connection)
    alone = connection.dialect.name == "postgresql" and _begins(connection) and \
        connection.connection.driver_connection.autocommit
    return _send(connection, compiled, sql, bound, many, alone=alone)


def ahead(session: Session, statement, params: dict | None = None) -> Rows:
    """`read` for a SELECT whose answer the writes queued before it cannot change (rows other
    than those the unit of work writes): sent ahead of them, so that a read between a unit's
    writes and its commit does not begin the database's transaction (on PostgreSQL, idle while
    Python computes; READ COMMITTED reads the same rows inside it or not)."""
    _autoflush(session)
    connection = session.connection()
    compiled, sql, bound, many = _prepared(connection, statement, params)
    return _send(connection, compiled, sql, bound, many)


_ahead = ahead      # for `one`, whose keyword of the same name hides it


def read(session: Session, statement, params: dict | None = None) -> Rows:
    """`run` for a SELECT that must see what the session holds unflushed, as the ORM's own
    execution would: the session is flushed first if anything is pending (autoflush)."""
    _autoflush(session)
    return run(session, statement, params)


def _autoflush(session: Session) -> None:
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()


def rows_of(model):
    """A SELECT of every column of `model`'s table, to be narrowed with .where(): what `one`
    reads an object of `model` with."""
    return select(*model.__table__.columns)


def one(session: Session, model, statement, params: dict | None = None, *,
        refresh: bool = False, ahead: bool = False):
    """The first row of `statement` (built on `rows_of(model)`, or some of its columns) as the
    session's object of `model`, or None, as the ORM's own load would leave it: the object the
    session holds for the row, with its expired attributes (with `refresh` all of them:
    populate_existing) read from the row, else a new persistent object, unchanged. What the
    session holds unflushed is flushed first (`read`; with `ahead`, read ahead of the queued
    writes: `ahead`). For the few objects every call loads, at a third of the ORM's cost."""
    row = (_ahead if ahead else read)(session, statement, params).first()
    if row is None:
        return None
    mapper, keys, primary = _LOADS.get(statement, lambda: _load_plan(model, statement))
    held = session.identity_map.get(mapper.identity_key_from_primary_key(
        [row[i] for i in primary]))
    if held is not None:
        loaded = instance_state(held).dict
        for key, value in zip(keys, row):
            if refresh or key not in loaded:
                set_committed_value(held, key, value)
        return held
    obj = mapper.class_manager.new_instance()
    for key, value in zip(keys, row):
        set_committed_value(obj, key, value)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def add(session: Session, obj):
    """INSERT the new (transient) `obj` by a prebuilt statement (one per table and set of
    columns given) and make it the session's persistent object, every column as the database
    stored it (RETURNING: defaults, ids): what `session.add(obj)` and a flush leave, without
    the ORM's flush (the platform's models name their attributes as their columns). Returns
    `obj`."""
    state = instance_state(obj)
    statement, keys = _INSERTS.get(state.mapper, lambda: _insert_plan(state.mapper))
    row = run(session, statement,
              {key: value for key, value in state.dict.items() if key in keys}).first()
    for key, value in zip(keys, row):
        set_committed_value(obj, key, value)
    make_transient_to_detached(obj)
    session.add(obj)
    wrote(session, obj)
    return obj


def add_queued(session: Session, obj, *, lost=None) -> None:
    """Queue the INSERT of the new (transient) `obj` with the columns it was given (`write`:
    sent with the session's next statement or its commit, the database's refusal raised as
    `lost()`), so that adding a row begins no transaction while Python computes. With its
    primary key given, `obj` becomes the session's persistent object, as `add` leaves it but
    without the database's defaults; one whose id the database assigns stays out of the
    session (a query reads its row)."""
    state = instance_state(obj)
    table = state.mapper.local_table
    keys = {state.mapper.get_property_by_column(column).key for column in table.columns}
    write(session, _QUEUED_INSERTS.get(state.mapper, lambda: insert(table)),
          {key: value for key, value in state.dict.items() if key in keys}, lost=lost)
    if None not in state.mapper.primary_key_from_instance(obj):
        make_transient_to_detached(obj)
        session.add(obj)
        wrote(session, obj)


_QUEUED_INSERTS = ByObject(64)


def add_drawn(session: Session, obj):
    """Add the new `obj` with an id drawn ahead of its INSERT (engine.db.drawn_id), which is
    then queued (`add_queued`: PostgreSQL), else `add` it now (SQLite); returns `obj`."""
    obj.id = db.drawn_id(session, instance_state(obj).mapper.local_table.name)
    if obj.id is None:
        return add(session, obj)
    add_queued(session, obj)
    return obj


def _insert_plan(mapper):
    """(the INSERT of `mapper`'s table returning every column, the attribute of each)."""
    table = mapper.local_table
    return (insert(table).returning(*table.columns),
            [mapper.get_property_by_column(column).key for column in table.columns])


_INSERTS = ByObject(64)


def change(session: Session, obj, values: dict) -> None:
    """UPDATE the row of `obj` (persistent) with `values` ({attribute: value}) by a prebuilt
    statement and keep `obj` in step, as a flush of those changes would leave it. Raises
    StaleDataError when the row is gone. Not for a row with a version column: the instance
    row is written version-checked by engine.runtime.writeback."""
    statement, params = _update_of(obj, values)
    if run(session, statement, params).rowcount != 1:
        raise _gone(obj)
    changed(session, obj, values)


def change_queued(session: Session, obj, values: dict) -> None:
    """`change`, queued with the unit's writes (`write`): StaleDataError is raised when it is
    sent, if the row is gone."""
    statement, params = _update_of(obj, values)
    write(session, statement, params, rows=1, lost=lambda: _gone(obj))
    changed(session, obj, values)


def _update_of(obj, values: dict):
    """(the UPDATE of `obj`'s row, its parameters: `values` and the primary key)."""
    state = instance_state(obj)
    statement, names = _UPDATES.get(state.mapper, lambda: _update_plan(state.mapper))
    params = dict(values)
    params.update(zip(names, state.identity))
    return statement, params


def changed(session: Session, obj, values: dict) -> None:
    """Keep `obj` in step with `values` ({attribute: value}), which a write of this module
    sent or queued gave its row, as a flush would leave it (see `wrote`)."""
    for key, value in values.items():
        set_committed_value(obj, key, value)
    wrote(session, obj)


def _gone(obj) -> StaleDataError:
    state = instance_state(obj)
    return StaleDataError(f"{state.mapper.class_.__name__} {state.identity} is gone")


def _update_plan(mapper):
    """(the UPDATE of `mapper`'s table by its primary key, SET from the parameters' keys; the
    names of the key's parameters)."""
    table = mapper.local_table
    names = [f"b_{column.key}" for column in mapper.primary_key]
    return (update(table).where(*[column == bindparam(name)
                                  for column, name in zip(mapper.primary_key, names)]), names)


_UPDATES = ByObject(64)
_WRITTEN = "aftersales_prebuilt_written"      # the session's info: objects add/change wrote


def wrote(session: Session, obj) -> None:
    """Note that `obj` holds values this transaction wrote past the ORM (by this module, or a
    write queued with `write`): after a rollback, a savepoint's included, it is read again when
    next used, as the ORM does for what it flushed itself."""
    session.info.setdefault(_WRITTEN, []).append(obj)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session, _previous_transaction) -> None:
    # Any rollback, a savepoint's included: what add and change wrote may be undone, so their
    # objects are read again when next used (one whose row is gone then says so).
    session.info.pop(_QUEUE, None)
    for obj in session.info.pop(_WRITTEN, ()):
        if obj in session:
            session.expire(obj)


@event.listens_for(Session, "after_commit")
def _committed(session) -> None:
    if not session.in_nested_transaction():       # a released savepoint is no commit
        session.info.pop(_WRITTEN, None)


def _load_plan(model, statement):
    """(the mapper, the attribute of each selected column, the positions of the primary key)."""
    mapper = inspect(model)
    columns = list(statement.selected_columns)
    keys = [mapper.get_property_by_column(column).key for column in columns]
    primary = [next(i for i, selected in enumerate(columns) if selected is column)
               for column in mapper.primary_key]
    return mapper, keys, primary


_LOADS = ByObject(64)
_QUEUE = "aftersales_prebuilt_queue"     # a connection's info: the writes `write` queued
_COMPILED = ByObject(512)


@event.listens_for(Engine, "before_cursor_execute")
def _before_statement(conn, _cursor, statement, *_args) -> None:
    # SQLAlchemy's statements see the queued writes too.
    if _QUEUE in conn.connection.info:
        _send_queued(conn)


@event.listens_for(Session, "before_commit")
def _before_commit(session) -> None:
    # The COMMIT goes with the writes when nothing else is left to write: no savepoint is
    # being released and the ORM has nothing to flush (SQLAlchemy flushes after this event).
    # SQLAlchemy's own COMMIT then finds the transaction ended (psycopg sends nothing).
    if session.info.pop(_QUEUE, False):
        _send_queued(session.connection(), commit=not session.in_nested_transaction() and
                     not (session.new or session.dirty or session.deleted))


@event.listens_for(Engine, "rollback")
@event.listens_for(Engine, "rollback_savepoint")
def _dropped(conn, *_args) -> None:
    # What was queued since the savepoint (or in the transaction): every statement SQLAlchemy
    # sends, SAVEPOINT and RELEASE among them, sent what was queued before it.
    conn.connection.info.pop(_QUEUE, None)


@event.listens_for(Pool, "checkin")
def _returned(_dbapi_connection, record) -> None:
    if record is not None:
        record.info.pop(_QUEUE, None)
