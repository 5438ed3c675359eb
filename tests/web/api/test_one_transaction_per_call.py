"""One transaction per API call (issue 23, item 4): the sign-in check every request makes runs
in none (engine.db.lone_row), nor does a machine caller's signature check or a completion's
read of its next tasks (lone_rows), and the call's own work in one: a read's in one snapshot, a
write's from its first write to its commit, the reads before it each on a snapshot of its own
(load, compute, then write: engine.db._SqliteWriters). A filing's number is drawn in a short
transaction of its own, as on PostgreSQL (engine.service_requests._next_number). Seen from
SQLite itself: every statement the server's connections send is traced."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.web.conftest import complete_own_task, file_request, open_tasks

SIGN_IN = "FROM user_account JOIN api_token"


@pytest.fixture
def traced(platform):
    """The SQL text of every statement SQLite runs from here on (a new pool of connections,
    each traced from its first statement)."""
    if platform.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's trace shows its BEGINs; PostgreSQL's reads begin none anyway")
    statements: list[str] = []
    platform.engine.dispose()
    event.listen(platform.engine, "connect",
                 lambda connection, _record: connection.set_trace_callback(statements.append))
    return statements


def _transactions(statements: list[str]) -> list[list[str]]:
    """The statements grouped by transaction; a statement outside one is a group of its own."""
    groups, current = [], None
    for statement in statements:
        if statement.startswith("BEGIN"):
            current = [statement]
        elif current is not None:
            current.append(statement)
            if statement.startswith(("COMMIT", "ROLLBACK")):
                groups.append(current)
                current = None
        elif not statement.startswith("PRAGMA"):
            groups.append([statement])
    return groups


@pytest.mark.parametrize("call", ["list tasks", "file a request", "read its payments",
                                  "a provider's signed answer"])
def test_a_call_is_its_sign_in_check_outside_any_transaction_then_one_transaction(
        auth, traced, call):
    staff = auth.as_("finance_1")
    number = file_request(auth)["number"]
    if call == "a provider's signed answer":     # a refund issued: its payment is pending
        complete_own_task(auth, "customer_service_1", {"approved": True})
        assert auth.as_("alice").post(f"/api/requests/{number}/shipped", json={
            "tracking_no": "SF1", "carrier": "SF"}).status_code == 200
        complete_own_task(auth, "finance_1", {"refunded": True})
        [pending] = staff.get(f"/api/requests/{number}/payments").get_json()["items"]
        provider = auth.as_("payment")        # signed in before the trace
    traced.clear()
    if call == "a provider's signed answer":
        response = provider.post("/api/messages", json={
            "name": "refund_result", "correlation": number,
            "payload": {"status": "paid", "reference": "RF-1",
                        "idempotency_key": pending["idempotency_key"]}})
    elif call == "list tasks":
        response = staff.get("/api/tasks")
    elif call == "file a request":
        response = auth.as_("alice").post("/api/requests", json={
            "order_id": "O-1004", "type": "return_refund", "reason": "too big"})
    else:
        response = staff.get(f"/api/requests/{number}/payments")
    assert response.status_code in (200, 201), response.get_json()
    lone, *work = _transactions(traced)
    assert len(lone) == 1 and SIGN_IN in lone[0]
    transactions = [group for group in work if group[0].startswith("BEGIN")]
    outside = [group[0] for group in work if not group[0].startswith("BEGIN")]
    assert all(statement.startswith("SELECT") for statement in outside), traced
    if call == "file a request":
        draw, unit = transactions
        assert draw[0] == "BEGIN IMMEDIATE" and "UPDATE request_number" in draw[1], draw
        assert len(draw) == 3 and draw[2] == "COMMIT", draw
        assert unit[0] == "BEGIN IMMEDIATE" and "INSERT INTO service_request" in " ".join(unit)
    elif call == "a provider's signed answer":     # its secrets read as the sign-in is
        assert "FROM client_secret" in outside[0], traced
        [unit] = transactions
        assert unit[0] == "BEGIN IMMEDIATE" and "UPDATE ledger" in " ".join(unit), unit
    else:
        [unit] = transactions
        assert unit[0] == "BEGIN", unit       # a read: deferred, on a WAL snapshot
    assert len(unit) > 2 and unit[-1] == "COMMIT", traced


def test_a_completion_reads_its_next_tasks_once_committed_in_no_transaction(auth, traced):
    """What comes next is read after the completion's commit, as the sign-in check reads: the
    call is one transaction, and its answer no longer holds the task it completed (the caller
    supervises every department, so a read before the commit would still see it)."""
    head = auth.as_("ops_head")
    repair = file_request(auth, order_id="O-1003", type="repair")
    complete_own_task(auth, "repair_1", {"quote": 180})
    assert auth.as_("alice").post(f"/api/requests/{repair['number']}/quote-answer",
                                  json={"approved": True}).status_code == 200
    [repair_item] = open_tasks(auth)
    traced.clear()
    response = head.post(f"/api/tasks/{repair_item['task_id']}/complete", json={"data": {}})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "waiting" and response.get_json()["next_tasks"] == []
    lone, *work = _transactions(traced)
    assert len(lone) == 1 and SIGN_IN in lone[0]
    [unit] = [group for group in work if group[0].startswith("BEGIN")]
    assert unit[0] == "BEGIN IMMEDIATE" and unit[-1] == "COMMIT", unit
    assert "DELETE FROM human_task" in " ".join(unit)
    after = work[work.index(unit) + 1:]
    assert len(after) == 1 and "FROM human_task" in after[0][0], after
