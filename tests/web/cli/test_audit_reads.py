"""`aftersales audit verify` and `audit money` only read: they run while a writer holds SQLite's
write lock (before read transactions each began IMMEDIATE and waited for it, and a verify of the
whole database held it from its first query to its last, blocking every writer). Verifying every
instance may be split over several processes, with the same verdict."""
from __future__ import annotations

import sqlite3
from contextlib import closing

from engine import db
from tests.conftest import allow_tampering
from tests.web.cli.test_audit_money import _cli, demo_copy, demo_file  # noqa: F401  (fixtures)


def test_verify_and_the_money_check_run_beside_a_writer(demo_copy):  # noqa: F811
    path = demo_copy.split("///", 1)[1]
    cli = _cli(demo_copy)
    with closing(sqlite3.connect(path, isolation_level=None, timeout=1)) as writer:
        writer.execute("BEGIN IMMEDIATE")                # a unit of work in progress
        verified = cli("audit", "verify")
        money = cli("audit", "money")
        writer.execute("ROLLBACK")
    assert verified.exit_code == 0 and "ok:" in verified.output, verified.output
    assert money.exit_code == 0 and "money ok" in money.output, money.output


def test_verify_over_several_processes_agrees_with_one(demo_copy):  # noqa: F811
    cli = _cli(demo_copy)
    alone, split = cli("audit", "verify", "--jobs", "1"), cli("audit", "verify", "--jobs", "3")
    assert alone.exit_code == split.exit_code == 0, split.output
    assert alone.output.splitlines()[0] == split.output.splitlines()[0]     # "ok: N instance(s)"


def test_verify_over_several_processes_names_the_first_bad_instance(demo_copy):  # noqa: F811
    engine = db.make_engine(demo_copy)
    sessions = db.make_session_factory(engine)
    allow_tampering(sessions)
    with engine.begin() as conn:
        second = conn.exec_driver_sql("SELECT id FROM instance ORDER BY id LIMIT 1 OFFSET 1")\
            .scalar()
        conn.exec_driver_sql("UPDATE audit_event SET actor = 'mallory' WHERE instance_id = ?",
                             (second,))
    engine.dispose()
    result = _cli(demo_copy)("audit", "verify", "--jobs", "2")
    assert result.exit_code == 1 and f"instance {second}: DIVERGES" in result.output
