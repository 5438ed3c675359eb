"""Group commit for SQLite: concurrent units of work share one fsync, each acknowledged only
after a sync that covers its commit.

With `synchronous=FULL` every COMMIT fsyncs the WAL while it still holds SQLite's single write
lock, so writers queue behind each other's disk flush. Durable engines (engine.db.make_engine)
instead run WAL with `synchronous=NORMAL`, under which SQLite syncs the WAL before each
checkpoint and the database after it, but not at commit; `WalSync.after_commit`, called by the
session factory after each writing commit and before the caller goes on (the API answers, the
scheduler marks a timer fired), fsyncs the WAL file itself. Commits that land while one thread is
flushing wait for the next flush and share it: a leader flushes everything committed so far,
the others find their commit covered. A commit is acknowledged only once the WAL frames it wrote
are on disk, as under FULL; what changes is that the flush happens after the write lock is
released and serves every writer that committed meanwhile.

A WAL file that was created since the last flush gets its directory synced too (a new file's name
must be durable as well). Several processes on one database each flush for themselves (an fsync
covers the whole file, whoever wrote it).

`WriterQueue` lines up the writers of one process before SQLite sees them, and those of several
processes on one file: SQLite's busy handler lets a writer that finds the lock taken sleep and
poll (up to 100 ms a time), so with 16 threads writing most of the time went to sleeping while
the lock was free; a Python lock hands it over at once within a process, a file lock within
0.2-2 ms between processes.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from pathlib import Path


class WalSync:
    """The flush barrier of one SQLite database file."""

    def __init__(self, database: Path):
        self.wal = Path(f"{database}-wal")
        self.folder = Path(database).parent
        self._cond = threading.Condition()
        self._committed = 0          # commits that asked for a flush
        self._synced = 0             # commits known to be on disk
        self._flushing = False
        self._inode: int | None = None
        self.flushes = 0             # how many fsyncs served the commits (benchmarks read it)

    def after_commit(self) -> None:
        """Return once the WAL holds this thread's last commit on disk. Raises OSError when
        the flush fails (the commit may not survive a power loss: the caller must not report
        success)."""
        with self._cond:
            self._committed += 1
            mine = self._committed
            while self._synced < mine:
                if self._flushing:
                    self._cond.wait()
                    continue
                self._flushing, upto = True, self._committed
                self._cond.release()
                try:
                    self._flush()
                finally:
                    self._cond.acquire()
                    self._flushing = False
                    self._cond.notify_all()
                self._synced = max(self._synced, upto)

    def _flush(self) -> None:
        try:
            fd = os.open(self.wal, os.O_RDONLY)
        except FileNotFoundError:
            return      # checkpointed and removed: its frames are in the synced database file
        try:
            os.fsync(fd)
            inode = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        self.flushes += 1
        if inode != self._inode:
            folder = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
            self._inode = inode


class WriterQueue:
    """One writing transaction at a time per engine in this process, and, given a `lock_file`,
    per database file across processes. `enter` when a writing transaction begins, `leave`
    when it ends (commit, rollback, or its connection goes back to the pool or is invalidated);
    the connection's `info` remembers whether it holds the turn.

    Across processes the turn is an exclusive flock(2) on `lock_file`, tried again after
    0.2 ms, then at most every 2 ms: SQLite's busy handler, which would otherwise line up the
    writers of two server processes, sleeps up to 100 ms a time while the lock is free. A
    forked process opens the file again (a flock belongs to the open file, which a fork
    shares)."""

    KEY = "aftersales_writer"
    _POLL = (0.0002, 0.002)          # the first and the longest pause between two tries

    def __init__(self, timeout: float, lock_file: Path | None = None):
        self.timeout = timeout
        self._lock = threading.Lock()
        self._lock_file = lock_file
        self._fd: int | None = None
        self._pid: int | None = None

    def enter(self, info: dict) -> bool:
        """Wait for the turn (False after `timeout` seconds: the caller reports the database
        as busy)."""
        if info.get(self.KEY):
            return True
        deadline = time.monotonic() + self.timeout
        if not self._lock.acquire(timeout=self.timeout):
            return False
        if self._lock_file is not None and not self._flock(deadline):
            self._lock.release()
            return False
        info[self.KEY] = True
        return True

    def leave(self, info) -> None:
        if info is not None and info.pop(self.KEY, False):
            if self._lock_file is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._lock.release()

    def _flock(self, deadline: float) -> bool:
        if self._pid != os.getpid():
            self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(self, os.close, self._fd)
            self._pid = os.getpid()
        pause, longest = self._POLL
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, longest)


class _NoQueue:
    """Writers left to SQLite's busy handler (engine.db.make_engine(queue_writers=False))."""

    def enter(self, info) -> bool:
        return True

    def leave(self, info) -> None:
        pass


NO_QUEUE = _NoQueue()
