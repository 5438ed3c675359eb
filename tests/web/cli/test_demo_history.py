"""`aftersales demo --history 2`: two days of history before the demo's sample requests, the
audit verifies afterwards, and a second run leaves the history as it is."""
from __future__ import annotations

from sqlalchemy import func, select

from engine import clock, db
from engine.models import ServiceRequest
from tests.web.cli.test_cli import cli  # noqa: F401  (the fixture: the command line on db_url)


def count_requests(db_url) -> tuple[int, int]:
    """(requests of the history, the demo's sample requests)."""
    engine = db.make_engine(db_url)
    with db.make_session_factory(engine)() as session:
        history = session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.order_id.startswith("H-")))
        samples = session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.order_id.startswith("O-")))
    engine.dispose()
    return history, samples


def test_demo_history_fills_days_before_the_samples_and_verifies(cli, db_url, frozen_clock):
    result = cli("demo", "--history", "2", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert clock.now() == frozen_clock  # the samples were filed when the orders were sold
    assert "living 2 days of history (seed 5)" in result.output
    history, samples = count_requests(db_url)
    assert f"history: {history} requests in 2 days" in result.output and history >= 10
    assert samples == 7
    verify = cli("audit", "verify")
    assert verify.exit_code == 0 and verify.output.startswith("ok:"), verify.output
    again = cli("demo", "--history", "2")
    assert "history already there" in again.output and "sample requests already there" in again.output
    assert count_requests(db_url) == (history, samples)


def test_demo_history_refuses_a_negative_number_of_days(cli):
    result = cli("demo", "--history", "-1")
    assert result.exit_code == 2 and "--history" in result.output


def test_demo_history_is_not_lived_behind_existing_requests(cli, db_url):
    assert cli("demo").exit_code == 0
    result = cli("demo", "--history", "2")
    assert result.exit_code == 0, result.output
    assert "no history: the database has requests already" in result.output
    assert count_requests(db_url) == (0, 7)
