"""The SQL statements SQLite runs, as its own trace sees them: those SQLAlchemy sends and those
sent on the driver past it (engine.prebuilt), with their parameters written in."""
from __future__ import annotations

import contextlib

from sqlalchemy import event


@contextlib.contextmanager
def statements_sent(engine):
    """Yields the list of statements run on `engine` (a SQLite one) inside the block. The
    engine's pool is emptied before and after, so that every connection is traced from its
    first statement and none stays traced."""
    sent: list[str] = []

    def trace(connection, _record):
        connection.set_trace_callback(sent.append)
    engine.dispose()
    event.listen(engine, "connect", trace)
    try:
        yield sent
    finally:
        event.remove(engine, "connect", trace)
        engine.dispose()
