"""`aftersales audit money` on the demo database, as CI runs it, and on databases corrupted by
hand with SQL: every broken invariant is a line naming the order, and the exit status is 1."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import db
from tests.conftest import built_once
from web.cli import main


def _cli(url: str):
    runner = CliRunner()

    def run(*args):
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AFTERSALES_DATABASE_URL", url)
            return runner.invoke(main, list(args), catch_exceptions=False)
    return run


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    """One demo database for the test run (the demo takes seconds; this module and
    test_audit_reads.py use it, tests/conftest.py built_once): each test copies it."""
    def build(folder: Path) -> None:
        cli = _cli(f"sqlite:///{folder / 'demo.sqlite'}")
        assert cli("init").exit_code == 0
        result = cli("demo")
        assert result.exit_code == 0, result.output

    return built_once(tmp_path_factory, "audit-demo", build) / "demo.sqlite"


@pytest.fixture
def cli(demo_copy):
    return _cli(demo_copy)


@pytest.fixture
def demo_copy(demo_file, tmp_path) -> str:
    # SQLite's backup, not a file copy: the demo's last writes may still be in its WAL file.
    copy = tmp_path / "demo.sqlite"
    with closing(sqlite3.connect(demo_file)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    return f"sqlite:///{copy}"


@pytest.fixture
def demo(demo_copy):
    """`demo(sql)` runs SQL on this test's copy of the demo database directly (no engine
    code); `demo.refund` is its first paid refund: (order_id, request_no, ledger id, amount)."""
    engine = db.make_engine(demo_copy)

    def sql(statement: str):
        with engine.begin() as conn:
            result = conn.exec_driver_sql(statement)
            return result.fetchall() if result.returns_rows else None
    sql.refund = sql("SELECT order_id, request_no, id, amount FROM ledger "
                     "WHERE kind = 'refund' AND status = 'paid' ORDER BY id")[0]
    yield sql
    engine.dispose()


def test_the_demo_database_keeps_every_money_invariant(cli, demo):
    payments = demo("SELECT count(*) FROM ledger")[0][0]
    orders = demo("SELECT count(*) FROM shop_order")[0][0]
    assert payments >= 1          # the demo pays refunds: the audit has something to check
    result = cli("audit", "money")
    assert result.exit_code == 0, result.output
    assert result.output == f"money ok: {orders} orders, {payments} payments\n"


def test_a_refund_above_what_the_order_paid_names_the_order(cli, demo):
    order_id, request_no, ledger_id, _ = demo.refund
    paid = demo(f"SELECT paid_amount FROM shop_order WHERE order_id = '{order_id}'")[0][0]
    demo(f"UPDATE ledger SET amount = {paid} + 1000 WHERE id = {ledger_id}")
    result = cli("audit", "money")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"order {order_id}: refunds paid or pending less claw-backs paid come to " \
           f"{paid + 1000:.2f}, above the {paid:.2f} the order paid" in lines
    assert any(line.startswith(f"order {order_id} request {request_no}: refunds paid")
               for line in lines)
    assert "money ok" not in result.output


def test_a_done_payment_without_its_ledger_row_names_the_order(cli, demo):
    order_id, request_no, ledger_id, _ = demo.refund
    key = demo(f"SELECT idempotency_key FROM ledger WHERE id = {ledger_id}")[0][0]
    outbox_id = demo(f"SELECT id FROM outbox WHERE idempotency_key = '{key}'")[0][0]
    demo(f"DELETE FROM ledger WHERE id = {ledger_id}")
    result = cli("audit", "money")
    assert result.exit_code == 1
    assert (f"order {order_id} request {request_no} payment {key}: outbox row {outbox_id} "
            "(payment.refund) is done but has no ledger row") in result.stdout.splitlines()


def test_a_ledger_row_without_its_outbox_row_names_the_order(cli, demo):
    order_id, request_no, ledger_id, amount = demo.refund
    key = demo(f"SELECT idempotency_key FROM ledger WHERE id = {ledger_id}")[0][0]
    demo(f"DELETE FROM outbox WHERE idempotency_key = '{key}'")
    result = cli("audit", "money")
    assert result.exit_code == 1
    assert (f"order {order_id} request {request_no} payment {key}: ledger row {ledger_id} "
            f"(paid refund of {amount:.2f}) has no payment outbox row") in result.stdout


def test_a_balance_that_disagrees_with_the_ledger_names_the_order(cli, demo):
    order_id, _, _, amount = demo.refund
    # Within the balance's own CHECKs, so only the audit can see it.
    demo(f"UPDATE order_balance SET refunds_paid = refunds_paid - 1 WHERE order_id = '{order_id}'")
    result = cli("audit", "money")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"order {order_id}: order_balance.refunds_paid is {amount - 1:.2f} but its ledger rows "
        f"sum to {amount:.2f}"]


def test_a_claw_back_above_the_refund_names_the_order(cli, demo):
    order_id, request_no, ledger_id, amount = demo.refund
    demo(f"INSERT INTO ledger (idempotency_key, request_no, order_id, kind, amount, status, "
         f"reference, created_at) SELECT 'hand-made', request_no, order_id, 'clawback', "
         f"amount + 5, 'pending', NULL, created_at FROM ledger WHERE id = {ledger_id}")
    result = cli("audit", "money")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"order {order_id}: claw-backs of {amount + 5:.2f} exceed the {amount:.2f} " \
           "refunded" in lines
    assert f"order {order_id} request {request_no}: claw-backs of {amount + 5:.2f} exceed the " \
           f"{amount:.2f} refunded" in lines
