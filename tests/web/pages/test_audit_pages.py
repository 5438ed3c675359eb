"""Auditor pages (web/pages/audit.py): find an instance, its history, replay and verification,
and the exports as JSON and CSV."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.conftest import PASSWORD
from tests.web.pages.conftest import bundle_files, select, table_rows, text_of, texts

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def html_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def auditor(browser):
    return browser("auditor")


@pytest.fixture
def reviewed(browser, desk):
    """A return whose review was claimed and completed in the inbox (3 events)."""
    filed = desk.file(reason="scratched screen")
    task = desk.task_of(filed["number"])
    cs = browser("customer_service_1")
    cs.post(f"/tasks/{task['task_id']}/claim")
    done = cs.post(f"/tasks/{task['task_id']}/complete", {"approved": "true", "note": "ok"})
    assert done.status_code == 200
    return filed


def csv_rows(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")                    # for spreadsheet programs
    return list(csv.reader(io.StringIO(text[1:])))


# ------------------------------------------------------------------ the search

def test_audit_lists_instances_newest_first(auditor, desk):
    first, second = desk.file(), desk.file("bob", order_id="O-1002", type="complaint")
    html = html_of(auditor.get("/audit"))
    assert texts(html, "h1") == ["Audit"]
    rows = table_rows(html)
    assert [r[1] for r in rows] == [second["number"], first["number"]]
    assert rows[0][:4] == [f"#{second['instance_id']}", second["number"], "aftersales_request", "Running"]
    assert rows[0][6] == str(len(desk.history(second["instance_id"])))   # the events column


def test_search_by_request_number(auditor, desk):
    wanted, _other = desk.file(), desk.file("bob", order_id="O-1002", type="complaint")
    html = html_of(auditor.get(f"/audit?q={wanted['number']}"))
    assert [r[1] for r in table_rows(html)] == [wanted["number"]]
    [search] = select(html, "input", "name", "q")
    assert search["attrs"]["value"] == wanted["number"]
    assert select(html, "a", "href", f"/audit/instances/{wanted['instance_id']}")


def test_search_by_part_of_the_number_or_by_instance_id(auditor, desk):
    first, second = desk.file(), desk.file("bob", order_id="O-1002", type="complaint")
    by_day = table_rows(html_of(auditor.get("/audit?q=AS-20261123")))
    assert len(by_day) == 2
    by_id = table_rows(html_of(auditor.get(f"/audit?q={second['instance_id']}")))
    assert f"#{second['instance_id']}" in [r[0] for r in by_id]
    # Digits match instance ids and, as text, any request number containing them: here both.
    assert [r[1] for r in by_id] == [second["number"], first["number"]]
    assert table_rows(html_of(auditor.get("/audit?q=+  " + first["number"] + "  ")))[0][1] == first["number"]


def test_search_without_a_match(auditor, desk):
    desk.file()
    html = html_of(auditor.get("/audit?q=AS-19990101-0001"))
    assert table_rows(html) == [["No instance found."]]


# ------------------------------------------------------------------ one instance

def test_instance_page_shows_history_replay_and_verification(auditor, reviewed):
    response = auditor.get(f"/audit/instances/{reviewed['instance_id']}")
    html = html_of(response)
    assert response.status_code == 200
    assert texts(html, "h1")[0].startswith(reviewed["number"])
    assert f"#{reviewed['instance_id']} · aftersales_request · Waiting" in texts(html, "h1")[0]
    [verify] = select(html, "section", "id", "verify-result")
    assert "ok" in verify["attrs"]["class"].split()
    assert verify["text"].startswith("Verified — 3 events: the hash chain is intact")
    history = table_rows(html, 'class="grid history"')
    assert [(r[0], r[2], r[3], r[4]) for r in history] == [
        ("1", "alice", "Started", "–"), ("2", "customer_service_1", "Task claimed", "Review request"),
        ("3", "customer_service_1", "Task completed", "Review request")]
    assert len(select(html, "li", "data-index")) == len(history)          # the replay timeline
    steps = json.loads(texts(html, "script", "id", "replay-steps")[0])
    assert [s["seq"] for s in steps] == [int(r[0]) for r in history]
    assert select(html, "a", "href", f"/audit/instances/{reviewed['instance_id']}/history.json")
    assert select(html, "a", "href", f"/audit/instances/{reviewed['instance_id']}/history.csv")


def test_a_migrated_instance_says_so(browser, auditor, desk):
    filed = desk.file()
    owner = browser("owner")
    owner.upload("/processes/upload",
                 bundle_files(replace=[('name="Review request"', 'name="Check the request"')]),
                 fields={"action": "deploy"})
    moved = owner.post("/processes/aftersales_request/migrate",
                       {"from": "1", "to": "2", "action": "migrate"})
    assert moved.status_code == 200
    html = html_of(auditor.get(f"/audit/instances/{filed['instance_id']}"))
    assert "This instance was migrated to another version" in text_of(html)
    assert "Migrated" in [r[3] for r in table_rows(html, 'class="grid history"')]
    assert select(html, "section", "id", "verify-result")[0]["text"].startswith("Verified")


def test_an_unknown_instance_is_404(auditor, world):
    for path in ("/audit/instances/999", "/audit/instances/999/history.json",
                 "/audit/instances/999/history.csv"):
        response = auditor.get(path)
        assert response.status_code == 404, path
        assert "instance 999 does not exist" in text_of(html_of(response))


# ------------------------------------------------------------------ exports

def test_history_json_export(auditor, desk, reviewed):
    response = auditor.get(f"/audit/instances/{reviewed['instance_id']}/history.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{reviewed["number"]}-history.json"')
    body = response.get_json()
    assert body["instance"]["business_key"] == reviewed["number"]
    assert body["verify"] == {"ok": True, "divergence": None}
    api = desk.history(reviewed["instance_id"])
    assert [(e["seq"], e["kind"], e["actor"]) for e in body["events"]] == [
        (e["seq"], e["kind"], e["actor"]) for e in api]
    assert body["events"][2]["payload"]["data"] == {"approved": True, "note": "ok"}


def test_history_csv_export(auditor, desk, reviewed):
    response = auditor.get(f"/audit/instances/{reviewed['instance_id']}/history.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{reviewed["number"]}-history.csv"')
    header, *rows = csv_rows(response)
    # The same columns as the API's and the command line's CSV (engine.history.exports).
    assert header == ["instance_id", "business_key", "seq", "at", "actor", "kind", "element",
                      "task_id", "payload", "state_hash", "prev_hash", "hash"]
    api = desk.history(reviewed["instance_id"])
    assert [(r[2], r[4], r[5]) for r in rows] == [(str(e["seq"]), e["actor"], e["kind"]) for e in api]
    assert {(r[0], r[1]) for r in rows} == {(str(reviewed["instance_id"]), reviewed["number"])}
    assert rows[0][3] == "2026-11-23T02:00:00+00:00"
    assert json.loads(rows[2][8])["data"] == {"approved": True, "note": "ok"}
    assert rows[1][10] == rows[0][11]                     # the hash chain, row to row


def test_unknown_export_format_is_404(auditor, reviewed):
    response = auditor.get(f"/audit/instances/{reviewed['instance_id']}/history.xml")
    assert response.status_code == 404 and "no export format 'xml'" in text_of(html_of(response))


def test_formula_text_in_a_payload_stays_inside_the_json_cell(browser, auditor, desk):
    """A reason and a form field that a spreadsheet would run as formulas: the payload column is
    one JSON object per cell, so neither text starts a cell."""
    filed = desk.file(reason='=HYPERLINK("http://evil.example","refund")')
    task = desk.task_of(filed["number"])
    browser("customer_service_1").post(f"/tasks/{task['task_id']}/complete",
                                       {"approved": "true", "note": "=1+2"})
    response = auditor.get(f"/audit/instances/{filed['instance_id']}/history.csv")
    _header, *rows = csv_rows(response)
    payloads = [json.loads(r[8]) for r in rows]
    assert payloads[0]["data"]["reason"].startswith("=HYPERLINK(")
    assert payloads[1]["data"]["note"] == "=1+2"
    assert all(not cell.startswith(FORMULA_STARTS) for row in rows for cell in row)


def add_user_with_the_cli(db_url, username, *args) -> None:
    """`aftersales user add`, the way an operator adds an account (there is no page or API
    for it); usernames may start with '@' or '-', which spreadsheets read as formulas."""
    command = Path(sys.executable).parent / "aftersales"
    done = subprocess.run([str(command), "user", "add", username, *args, "--password", PASSWORD],
                          env={**os.environ, "AFTERSALES_DATABASE_URL": db_url},
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.fail(f"could not add {username}: {done.stdout}{done.stderr}")


def test_csv_cells_never_start_like_a_formula(browser, auditor, desk, db_url):
    """Every CSV of audit events puts an apostrophe before a text cell starting with = + - @
    (tab, CR). Payload texts cannot start a cell (they sit inside the JSON object), but the
    actor column is a username, which may start with '@' (the page's CSV used to write it raw)."""
    add_user_with_the_cli(db_url, "@cs_night", "--role", "staff", "--department", "customer_service")
    filed = desk.file(reason="=1+2")
    task = desk.task_of(filed["number"])
    night = browser("@cs_night")
    if night.post(f"/tasks/{task['task_id']}/claim").status_code != 200:
        pytest.fail("@cs_night could not claim the task")
    response = auditor.get(f"/audit/instances/{filed['instance_id']}/history.csv")
    _header, *rows = csv_rows(response)
    actors = [row[4] for row in rows]
    if not any("@cs_night" in actor for actor in actors):
        pytest.fail(f"the claim is not in the CSV: {actors}")
    assert [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)] == []
