"""`aftersales orders import`: JSON lines and CSV, counts, the first bad line, all or nothing."""
from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from engine import db, orders
from engine.access import SYSTEM
from engine.errors import NotFound
from web.cli import main

ITEMS = [{"sku": "MUG", "name": "mug", "quantity": 2, "unit_price": "25.00"}]
ORDER = {"customer_id": "C001", "category": "other", "currency": "CNY", "channel": "app",
         "paid_amount": "50.00", "paid_at": "2026-11-01T10:00:00+08:00", "items": ITEMS}


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)
    assert run("init").exit_code == 0
    return run


@pytest.fixture
def stored(db_url):
    engine = db.make_engine(db_url)
    sessions = db.make_session_factory(engine)

    def read(order_id):
        with sessions() as session:
            try:
                return orders.get(session, SYSTEM, order_id)
            except NotFound:
                return None
    yield read
    engine.dispose()


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_json_lines_are_imported_and_counted(cli, stored, tmp_path):
    rows = [{"order_id": "O-1", **ORDER}, {"order_id": "O-2", **ORDER, "customer_id": "C002"}]
    first = cli("orders", "import", jsonl(tmp_path / "orders.jsonl", rows))
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "2 order(s): 2 created, 0 updated, 0 unchanged"
    assert stored("O-2")["customer_id"] == "C002" and stored("O-1")["paid_amount"] == "50.00"
    rows[1]["shipping_address"] = "Hangzhou"
    again = cli("orders", "import", jsonl(tmp_path / "orders.jsonl", rows))
    assert again.output.strip() == "2 order(s): 0 created, 1 updated, 1 unchanged"
    assert stored("O-2")["shipping_address"] == "Hangzhou"


def test_csv_with_items_as_json(cli, stored, tmp_path):
    path = tmp_path / "orders.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["order_id", *ORDER, "delivered_at"])
        writer.writeheader()
        writer.writerow({"order_id": "O-3", **ORDER, "items": json.dumps(ITEMS), "delivered_at": ""})
    result = cli("orders", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output
    assert stored("O-3")["items"] == ITEMS and stored("O-3")["delivered_at"] is None


def test_the_first_bad_line_is_named_and_nothing_is_stored(cli, stored, tmp_path):
    rows = [{"order_id": "O-4", **ORDER}, {"order_id": "O-5", **ORDER},
            {"order_id": "O-6", **ORDER, "paid_amount": "NaN"}, {"order_id": "O-7", **ORDER, "paid_amount": "x"}]
    result = cli("orders", "import", jsonl(tmp_path / "bad.jsonl", rows))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "bad.jsonl:3: paid_amount: paid_amount must be a finite number",
        "Error: line 3 of bad.jsonl is refused; nothing was imported"]
    assert stored("O-4") is None and stored("O-5") is None


@pytest.mark.parametrize("text, message", [
    ("{not json\n", "bad.jsonl:1: line: the line is not JSON"),
    ('{"customer_id": "C001"}\n', "bad.jsonl:1: order_id: order_id must be 1-100 letters, digits or -_.:@/"),
    ('\n[1, 2]\n', "bad.jsonl:2: line: a line must be an object"),
])
def test_lines_that_are_not_orders(cli, tmp_path, text, message):
    (tmp_path / "bad.jsonl").write_text(text)
    result = cli("orders", "import", str(tmp_path / "bad.jsonl"))
    assert result.exit_code == 1 and result.stderr.splitlines()[0] == message
