"""SQLite transactions as the platform runs them (engine/db.py, engine/group_commit.py): reads on
a snapshot that cannot write, writers queued in the process, and group commit that acknowledges
a commit only after a flush that covers it."""
from __future__ import annotations

import fcntl
import os
import threading

import pytest
from sqlalchemy import column as sa_column
from sqlalchemy import event, exc, select, text
from sqlalchemy import table as sa_table

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


def test_reads_and_writes_in_turn_on_one_connection_keep_their_modes(sqlite):
    """query_only is sent only when a transaction needs the other mode than the connection's
    last one (engine.db._SqliteWriters.began); a read still cannot write, a writer still can."""
    engine, sessions, _ = sqlite
    pragmas: list[str] = []
    engine.dispose()
    event.listen(engine, "connect", lambda connection, _record: connection.set_trace_callback(
        lambda statement: pragmas.append(statement) if "query_only" in statement else None))
    for turn in ("write", "read", "read", "write", "write", "read"):
        if turn == "write":
            with sessions.begin() as writer:
                writer.execute(text("INSERT INTO t VALUES (5)"))
        else:
            with db.reading(), sessions.begin() as reader, \
                    pytest.raises(exc.OperationalError, match="readonly"):
                reader.execute(text("INSERT INTO t VALUES (6)"))
    assert engine.pool.checkedin() == 1          # all on one connection
    assert pragmas == ["PRAGMA query_only=0", "PRAGMA query_only=1", "PRAGMA query_only=0",
                       "PRAGMA query_only=1"]
    with db.reading(), sessions.begin() as reader:
        assert reader.execute(text("SELECT count(*) FROM t WHERE n = 5")).scalar() == 3


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


def _in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_writer_reads_without_the_lock_until_its_first_write(sqlite):
    engine, sessions, _ = sqlite
    other_wrote = threading.Event()

    def other_writer():
        with sessions.begin() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
        other_wrote.set()

    with sessions.begin() as writer:
        assert writer.execute(text("SELECT count(*) FROM t")).scalar() == 0    # computes...
        driver = writer.connection().connection.driver_connection
        assert not driver.in_transaction
        _in_thread(other_writer).join(timeout=10)
        assert other_wrote.is_set()                 # ...while another writer commits
        writer.execute(text("INSERT INTO t VALUES (1)"))
        assert driver.in_transaction
        assert writer.execute(text("SELECT count(*) FROM t")).scalar() == 2
    with db.reading(), sessions.begin() as reader:
        assert sorted(reader.execute(text("SELECT n FROM t")).scalars()) == [1, 2]


def _another_writer_waits(sessions, order: list[str]) -> threading.Thread:
    """A writer of `sessions` started in a thread, which still waits 0.3 s later for the lock;
    it appends "other committed" to `order` once it has committed."""
    def other_writer():
        with sessions.begin() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
        order.append("other committed")

    thread = _in_thread(other_writer)
    thread.join(timeout=0.3)
    assert thread.is_alive()
    return thread


@pytest.mark.parametrize("lock", ["for update", "begin_writing"])
def test_a_locking_read_or_begin_writing_holds_the_lock_to_the_commit(sqlite, lock):
    engine, sessions, _ = sqlite
    order: list[str] = []
    with sessions.begin() as writer:
        if lock == "for update":
            table = sa_table("t", sa_column("n"))
            writer.execute(select(table.c.n).with_for_update()).all()
        else:
            db.begin_writing(writer)
        assert writer.connection().connection.driver_connection.in_transaction
        thread = _another_writer_waits(sessions, order)     # for this writer's commit
        writer.execute(text("INSERT INTO t VALUES (1)"))
        order.append("this one commits")
    thread.join(timeout=10)
    assert order == ["this one commits", "other committed"]


def test_autocommitted_commits_by_itself_before_the_first_write_and_not_after(sqlite):
    engine, sessions, _ = sqlite
    with sessions.begin() as session:
        session.execute(text("CREATE TABLE c (k TEXT PRIMARY KEY, v INTEGER)"))
    upsert = ("INSERT INTO c (k, v) VALUES (%(k)s, 1) "
              "ON CONFLICT (k) DO UPDATE SET v = c.v + 1 RETURNING v")
    with pytest.raises(RuntimeError):
        with sessions.begin() as session:
            assert db.autocommitted(session, upsert, {"k": "a"}) == (1,)    # kept
            session.execute(text("INSERT INTO t VALUES (1)"))
            assert db.autocommitted(session, upsert, {"k": "b"}) == (1,)    # rolled back
            raise RuntimeError("the unit of work failed")
    with db.reading(), sessions.begin() as reader:
        assert reader.execute(text("SELECT k, v FROM c")).all() == [("a", 1)]
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_writers_of_two_engines_on_one_file_take_turns_by_its_file_lock(sqlite):
    engine, sessions, url = sqlite
    other_engine = db.make_engine(url)          # as another process would: a lock of its own
    other = db.make_session_factory(other_engine)
    order: list[str] = []
    with sessions.begin() as writer:
        writer.execute(text("INSERT INTO t VALUES (1)"))
        probe = os.open(url.split("///", 1)[1] + "-writers", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
        thread = _another_writer_waits(other, order)
        order.append("this one commits")
    thread.join(timeout=10)
    assert order == ["this one commits", "other committed"]
    other_engine.dispose()
