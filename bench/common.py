"""What every benchmark shares: a fresh migrated SQLite database, deploying, timing, RSS.

Benchmarks use the engine exactly as the API and the scheduler do: each verb is one
`with sessions.begin() as session:` transaction on `db.make_engine(url, durable=True)` (WAL,
every commit on disk before the verb returns: group commit, engine/group_commit.py).
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:          # `python bench/x.py` as well as `python -m bench.x`
    sys.path.insert(0, str(ROOT))

from engine import config, db  # noqa: E402
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.runtime.verbs import Runtime  # noqa: E402

BENCH_DATA = ROOT / "bench" / "data"
SIMPLE_DATA = ROOT / "tests" / "data" / "simple"
BPMN_DIR = ROOT / "bpmn"

_template: Path | None = None


def _template_db() -> Path:
    """One migrated empty database per process, copied for each benchmark (Alembic is slow)."""
    global _template
    if _template is None or not _template.exists():
        folder = Path(tempfile.mkdtemp(prefix="bench-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _template = folder / "template.sqlite"
        db.upgrade(f"sqlite:///{_template}")
    return _template


@dataclass
class Platform:
    """A fresh database with a runtime on it; `run(verb, ...)` is one durable transaction."""

    folder: Path
    url: str
    engine: object
    sessions: object
    runtime: Runtime
    settings: config.Settings
    deployed: dict = field(default_factory=dict)

    def run(self, verb: str, *args, **kwargs):
        with self.sessions.begin() as session:
            return getattr(self.runtime, verb)(session, *args, **kwargs)

    def deploy(self, folder: Path, keep: tuple[str, ...] | None = None) -> None:
        bundle = Bundle.from_folder(folder)
        if keep is not None:
            bundle.files = {k: v for k, v in bundle.files.items() if k in keep}
        with self.sessions.begin() as session:
            for d in catalog.deploy(session, bundle, "bench"):
                self.deployed[d.process_key] = d.definition_id

    def close(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def pg_database(base_url: str):
    """A fresh, migrated PostgreSQL database beside `base_url`'s; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"aftersales_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        db.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def pg_platform(base_url: str):
    """A Platform on a fresh PostgreSQL database (pg_database), its files in a temporary
    directory."""
    with pg_database(base_url) as url:
        base = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        settings = config.Settings(database_url=url, archive_dir=base / "archive")
        catalog._cache.clear()
        engine = db.make_engine(url)
        p = Platform(base, url, engine, db.make_session_factory(engine), Runtime(settings),
                     settings)
        try:
            yield p
        finally:
            p.close()


@contextlib.contextmanager
def platform(durable: bool = True, folder: Path | None = None, **engine_options):
    """A Platform on a new SQLite file (under `folder`, else a temporary directory);
    `engine_options` go to engine.db.make_engine (group_commit, queue_writers)."""
    base = Path(tempfile.mkdtemp(prefix="bench-", dir=folder))
    path = base / "bench.sqlite"
    shutil.copy(_template_db(), path)
    url = f"sqlite:///{path}"
    settings = config.Settings(database_url=url, archive_dir=base / "archive")
    # Parsed definitions of earlier benchmarks' databases are of no use any more.
    catalog._cache.clear()
    engine = db.make_engine(url, durable=durable, **engine_options)
    p = Platform(base, url, engine, db.make_session_factory(engine), Runtime(settings), settings)
    try:
        yield p
    finally:
        p.close()


def concurrently(work, items, clients: int, before=None) -> float:
    """Run `work(item)` for every item, the items dealt out to `clients` threads; returns the
    seconds from the start of the threads to the end of the last (`before()` runs just before
    they start, e.g. to read a counter)."""
    items = list(items)
    shares = [items[k::clients] for k in range(clients)]
    threads = [threading.Thread(target=lambda share: [work(i) for i in share], args=(share,))
               for share in shares if share]
    if before is not None:
        before()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result


def median_of(runs: int, fn) -> float:
    """Median of `runs` calls of fn() -> float (rates are noisy on a shared disk)."""
    return statistics.median(fn() for _ in range(max(1, runs)))


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def rss_mib() -> float:
    """Resident set size of this process (VmRSS), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fsync_commits_per_second(seconds: float = 0.5, folder: Path | None = None) -> float:
    """How many tiny durable commits per second this disk takes right now (the ceiling for one
    transaction per verb): SQLite WAL, synchronous=FULL, one 2 kB row per commit."""
    import sqlite3

    base = Path(tempfile.mkdtemp(prefix="bench-fsync-", dir=folder))
    try:
        conn = sqlite3.connect(base / "f.sqlite", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 2000,))
            conn.execute("COMMIT")
            n += 1
        elapsed = time.perf_counter() - t0
        conn.close()
        return rate(n, elapsed)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
