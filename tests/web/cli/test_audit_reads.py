"""`aftersales audit verify` and `audit money` only read: they run while a writer holds SQLite's
write lock (before read transactions each began IMMEDIATE and waited for it, and a verify of the
whole database held it from its first query to its last, blocking every writer)."""
from __future__ import annotations

import sqlite3
from contextlib import closing

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
