"""PostgreSQL transactions as the platform runs them (engine/db.py): a transaction begins with
its first statement that writes or locks, so that a backend is never "idle in transaction"
while the process only reads and computes; from that statement on, all is one transaction."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, text

from engine import db

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_url):
    engine = db.make_engine(pg_url)
    sessions = db.make_session_factory(engine)
    observer = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with sessions.begin() as session:
        session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
        session.execute(text("INSERT INTO t VALUES (0)"))
    yield sessions, observer
    observer.dispose()
    engine.dispose()


def backend_state(observer, session) -> str:
    """What pg_stat_activity says the session's backend is doing, asked from outside."""
    pid = session.connection().connection.driver_connection.info.backend_pid
    with observer.connect() as conn:
        return conn.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :pid"),
                            {"pid": pid}).scalar()


def test_reads_hold_no_transaction(pg):
    sessions, observer = pg
    with sessions.begin() as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert backend_state(observer, session) == "idle"     # not "idle in transaction"
        session.execute(text("SELECT n FROM t WHERE n = 0")).all()
        assert backend_state(observer, session) == "idle"


def test_the_first_write_begins_one_transaction_that_commits_or_rolls_back_whole(pg):
    sessions, observer = pg
    with sessions.begin() as session:
        session.execute(text("SELECT count(*) FROM t"))
        session.execute(text("INSERT INTO t VALUES (1)"))
        assert backend_state(observer, session) == "idle in transaction"
        session.execute(text("INSERT INTO t VALUES (2)"))
    with pytest.raises(exc.IntegrityError):
        with sessions.begin() as session:
            session.execute(text("INSERT INTO t VALUES (3)"))
            session.execute(text("SELECT count(*) FROM t"))
            session.execute(text("INSERT INTO t VALUES (1)"))     # a duplicate: all rolls back
    with sessions() as session:
        assert session.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [0, 1, 2]
        # and the connection is back between transactions, reading without one
        session.execute(text("SELECT 1"))
        assert backend_state(observer, session) == "idle"


def test_a_lock_begins_the_transaction_and_is_held_to_its_end(pg):
    sessions, observer = pg
    with sessions.begin() as session:
        session.execute(text("SELECT n FROM t WHERE n = 0 FOR UPDATE"))
        assert backend_state(observer, session) == "idle in transaction"
        with observer.connect() as other, pytest.raises(exc.OperationalError, match="lock"):
            other.execute(text("SELECT n FROM t WHERE n = 0 FOR UPDATE NOWAIT"))
    with observer.connect() as other:
        assert other.execute(text("SELECT n FROM t WHERE n = 0 FOR UPDATE NOWAIT")).scalar() == 0


@pytest.mark.parametrize("statement, reads", [
    ("SELECT n FROM t", True),
    ("  (SELECT n FROM t) UNION (SELECT 1)", True),
    ("select count(*) from t", True),
    ("SELECT n FROM t FOR UPDATE", False),
    ("SELECT n FROM t FOR UPDATE SKIP LOCKED", False),
    ("SELECT n FROM t FOR NO KEY UPDATE", False),
    ("SELECT n FROM t FOR SHARE", False),
    ("SELECT pg_advisory_xact_lock(7)", False),
    ("INSERT INTO t VALUES (1)", False),
    ("UPDATE t SET n = 1", False),
    ("WITH x AS (DELETE FROM t RETURNING n) SELECT n FROM x", False),
    ("SAVEPOINT sa_savepoint_1", False),
])
def test_what_counts_as_a_read(statement, reads):
    assert db.reads_only(statement) is reads
