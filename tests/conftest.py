"""Shared fixtures: a migrated SQLite database per test, a frozen clock, the runtime."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import clock, config, db
from engine.access import Actor
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.models import HumanTask
from engine.runtime.verbs import Runtime

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent

# Monday 2026-11-23 10:00 in Shanghai: inside working hours.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    db.upgrade(f"sqlite:///{path}")
    return path


# The demo's history (engine.demo_history) ends on Friday 2026-11-27 16:00 in Shanghai: three
# working days behind it.
HISTORY_END = T0 + timedelta(days=4, hours=6)


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder `name` that `build(folder)` fills once per test run: under pytest-xdist in the
    run's temporary folder that the workers share, by the first worker to need it while the
    others wait (a lock file); built afresh if a build failed half-way."""
    import fcntl
    import os

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / f"built-{name}"
    with open(base / f"built-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".done").touch()
    return folder


@pytest.fixture(scope="session")
def history_db(template_db, tmp_path_factory) -> tuple[Path, datetime]:
    """A database as `aftersales demo --history 3` leaves it (the bpmn/ bundle, the demo's
    people, three days of requests filed and worked through up to HISTORY_END, then the demo's
    samples, filed at HISTORY_END, where fill leaves the frozen clock), and the instant it was
    done: built once per run (about 8 s; built_once), copied by each test of the pages on it,
    which freeze the clock there."""
    import json

    def build(folder: Path) -> None:
        done = _build_history(template_db, folder / "history.sqlite", folder / "archive")
        (folder / "done.json").write_text(json.dumps(done.isoformat()))

    folder = built_once(tmp_path_factory, "history", build)
    return (folder / "history.sqlite",
            datetime.fromisoformat(json.loads((folder / "done.json").read_text())))


def _build_history(template_db: Path, path: Path, archive: Path) -> datetime:
    from engine import demo, demo_history, platform

    shutil.copy(template_db, path)
    settings = config.Settings(database_url=f"sqlite:///{path}", archive_dir=archive)
    engine = db.make_engine(settings.database_url, durable=False)
    sessions, runtime = db.make_session_factory(engine), platform.runtime(settings)
    clock.freeze(HISTORY_END)
    try:
        demo.load(sessions, runtime, ROOT / "bpmn", history=lambda: [
            str(demo_history.fill(sessions, runtime, 3, seed=2))])
        return clock.now()
    finally:
        clock.freeze(None)
        engine.dispose()


@pytest.fixture
def history_url(history_db, tmp_path) -> str:
    """A copy of the history (a module's `db_url` when its tests run on it); the clock stands
    where the history was done."""
    path = tmp_path / "history.sqlite"
    shutil.copy(history_db[0], path)
    clock.freeze(history_db[1])
    return f"sqlite:///{path}"


@pytest.fixture
def db_url(template_db, tmp_path) -> str:
    path = tmp_path / "test.sqlite"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(db_url, tmp_path) -> config.Settings:
    return config.Settings(database_url=db_url, archive_dir=tmp_path / "archive",
                           script_time_limit=1.0)


@pytest.fixture
def sql_engine(settings):
    engine = db.make_engine(settings.database_url, durable=False)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(sql_engine):
    return db.make_session_factory(sql_engine)


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(T0)
    yield T0
    clock.freeze(None)


@pytest.fixture
def runtime(settings) -> Runtime:
    return Runtime(settings)


@pytest.fixture
def run(sessions, runtime):
    """run(verb, *args) -> what the runtime's verb returns; each call is one transaction."""
    def _run(verb, *args, **kwargs):
        with sessions.begin() as session:
            return getattr(runtime, verb)(session, *args, **kwargs)
    return _run


@pytest.fixture
def task_of(sessions):
    """task_of(instance_id) -> the id of the instance's one open human task."""
    def _task_of(instance_id):
        with sessions() as session:
            return session.scalars(select(HumanTask.task_id)
                                   .where(HumanTask.instance_id == instance_id)).one()
    return _task_of


@pytest.fixture
def deploy(sessions):
    """deploy(folder) -> list of Deployed; each call is one transaction."""
    def _deploy(folder, actor="owner"):
        with sessions.begin() as session:
            return catalog.deploy(session, Bundle.from_folder(folder), actor)
    return _deploy


def allow_tampering(sessions) -> None:
    """Drop the append-only triggers of the audit tables (SQLite), as an attacker with DDL
    rights could, so that a test can alter history and show that verification still catches it."""
    from sqlalchemy import text
    with sessions.begin() as session:
        names = session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                     "AND tbl_name LIKE 'audit%'")).all()
        for name in names:
            session.execute(text(f"DROP TRIGGER {name}"))


def rechain(session, instance, events) -> None:
    """Re-link and re-hash `events` (already altered by the caller) and move the instance's
    head, as a forger who knows the hash scheme would."""
    from engine.history import audit
    prev = audit.GENESIS
    for event in events:
        event.prev_hash = prev
        event.hash = prev = audit.hash_of(event)
    instance.audit_head = prev


def bundle_variant(source: Path, dest: Path, replacements, main: str | None = None) -> Path:
    """A copy of the bundle folder `source` (its forms and message schemas too) with text
    replaced in its `main` file (default: the folder's name + .bpmn); each replaced text must
    occur."""
    main = main or f"{source.name}.bpmn"
    for sub in ("forms", "messages"):
        if (source / sub).is_dir() or sub == "forms":
            (dest / sub).mkdir(parents=True)
            for form in (source / sub).iterdir():
                (dest / sub / form.name).write_bytes(form.read_bytes())
    text = (source / main).read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    (dest / main).write_text(text)
    return dest


@pytest.fixture
def staff():
    return {dept: Actor(f"{dept}_1", "staff", dept) for dept in config.DEPARTMENTS}


@pytest.fixture(scope="session")
def pg_template():
    """(admin engine, name) of a PostgreSQL database migrated once for the session (for each
    pytest-xdist worker), which pg_url copies: CREATE DATABASE ... TEMPLATE takes a fifth of the
    time of running the migrations again. Needs AFTERSALES_TEST_PG_URL; .ci/run sets it."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("AFTERSALES_TEST_PG_URL")
    if not base:
        pytest.skip("AFTERSALES_TEST_PG_URL is not set")
    name = f"aftersales_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db.upgrade(make_url(base).set(database=name).render_as_string(hide_password=False))
        yield admin, name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_template):
    """A fresh, migrated PostgreSQL database of its own: a copy of pg_template's (needs
    AFTERSALES_TEST_PG_URL; .ci/run sets it)."""
    import uuid

    from sqlalchemy import text

    admin, template = pg_template
    name = f"aftersales_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture
def pg_sessions(pg_url):
    engine = db.make_engine(pg_url, pool_size=10)
    yield db.make_session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def race_sessions(request, db_url):
    """Sessions for races run with real threads, each with its own session and connection: on a
    durable SQLite file (its writers take the write lock at their first write or locking read,
    engine/db.py) and on PostgreSQL (its transactions begin there too)."""
    if request.param == "sqlite":
        engine = db.make_engine(db_url)
    else:
        engine = db.make_engine(request.getfixturevalue("pg_url"), pool_size=10)
    yield db.make_session_factory(engine)
    engine.dispose()
