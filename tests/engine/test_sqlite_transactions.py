"""SQLite transactions as the platform runs them (engine/db.py, engine/group_commit.py): reads on
a snapshot that cannot write, writers queued in the process, and group commit that acknowledges
a commit only after a flush that covers it."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import exc, text

from engine import db


@pytest.fixture
def sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    with sessions.begin() as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine, sessions, url
    engine.dispose()


def test_a_read_transaction_does_not_wait_for_a_writer_and_cannot_write(sqlite):
    engine, sessions, _ = sqlite
    with sessions.begin() as writer:
        writer.execute(text("INSERT INTO t VALUES (1)"))          # holds the write lock
        with db.reading(), sessions.begin() as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0   # snapshot
            with pytest.raises(exc.OperationalError, match="readonly"):
                reader.execute(text("INSERT INTO t VALUES (2)"))
    with db.reading(), sessions.begin() as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1


def test_a_lone_read_holds_no_transaction_and_cannot_write(sqlite):
    engine, sessions, _ = sqlite
    with db.lone_read(), engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 0
        assert not connection.connection.driver_connection.in_transaction    # no BEGIN
        with pytest.raises(exc.OperationalError, match="readonly"):
            connection.execute(text("INSERT INTO t VALUES (3)"))
    with sessions.begin() as writer:       # the next writer on that connection may write
        writer.execute(text("INSERT INTO t VALUES (4)"))
    with db.lone_read(), engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM t")).scalars().all() == [4]


def test_concurrent_writers_share_flushes_and_every_commit_is_kept(sqlite):
    engine, sessions, url = sqlite
    sync = db.wal_sync(engine)
    before = sync.flushes

    def write(k: int) -> None:
        for i in range(25):
            with sessions.begin() as session:
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": k * 100 + i})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flushes = sync.flushes - before
    assert 0 < flushes <= 200                   # at most one per commit, usually fewer
    engine.dispose()
    again = db.make_engine(url)
    with db.make_session_factory(again)() as session:
        assert session.execute(text("SELECT count(DISTINCT n) FROM t")).scalar() == 200
    again.dispose()


def test_savepoints_are_not_flushed_their_transaction_is(sqlite):
    engine, sessions, _ = sqlite
    sync = db.wal_sync(engine)
    before = sync.flushes
    with sessions.begin() as session:
        for n in range(5):
            with session.begin_nested():
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
    assert sync.flushes - before == 1


def test_a_writer_that_rolls_back_or_fails_to_begin_gives_its_turn_back(sqlite):
    engine, sessions, _ = sqlite
    with pytest.raises(RuntimeError):
        with sessions.begin() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("the unit of work failed")
    done = threading.Event()

    def other_writer():
        with sessions.begin() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
        done.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    thread.join(timeout=10)
    assert done.is_set()
    with db.reading(), sessions.begin() as reader:
        assert reader.execute(text("SELECT n FROM t")).scalars().all() == [2]


def test_without_durability_there_is_no_flush_barrier(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'y.sqlite'}", durable=False)
    assert db.wal_sync(engine) is None
    engine.dispose()
