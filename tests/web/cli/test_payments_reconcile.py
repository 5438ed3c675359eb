"""`aftersales payments reconcile`: a day's ledger against the provider's statement, from a
file or from the provider over HTTP (a real server on 127.0.0.1, started here), and the daily
job that keeps the report as an alert."""
from __future__ import annotations

import gc
import json
import warnings
from datetime import timedelta
from decimal import Decimal

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from sqlalchemy import select

from engine import reconciliation, signatures
from engine.jobs.scheduler import PlatformScheduler
from engine.models import Alert, Ledger
from engine.runtime.verbs import Runtime
from tests.conftest import T0
from tests.http_server import LocalServer
from web.cli import main

OUTGOING_SECRET = "the-platforms-outgoing-secret-for-tests"
DAY = "2026-11-22"                     # yesterday in Shanghai, for the frozen clock T0
IN_DAY = T0 - timedelta(days=1)        # 2026-11-22 10:00 in Shanghai


class Provider(LocalServer):
    """The payment provider's statement API: answers GET .../statement with `status` and
    `body` (a list of lines, sent as JSON lines)."""

    def __init__(self):
        self.status, self.body = 200, []
        super().__init__(lambda got: (self.status, "\n".join(
            json.dumps(line) for line in self.body).encode()))
        self.url += "/pay"


@pytest.fixture
def provider():
    running = Provider()
    yield running
    running.stop()


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args, env=None):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)
    return run


@pytest.fixture
def book(sessions):
    """book(key, amount, status, at=IN_DAY, settled=...) writes one ledger row directly."""
    def write(key, amount, status="paid", at=IN_DAY, reference=None, kind="refund"):
        with sessions.begin() as session:
            session.add(Ledger(idempotency_key=key, request_no=f"AS-{key}", order_id=f"O-{key}",
                               kind=kind, amount=Decimal(amount), status=status,
                               reference=reference, actor="fin_1", created_at=at,
                               settled_at=None if status == "pending" else at))
    return write


@pytest.fixture
def over_http(settings, provider):
    """The settings with the payment provider over HTTP: the local server `provider`."""
    return settings.with_(payment_adapter="http", payment_http_url=provider.url,
                          outgoing_secret=OUTGOING_SECRET)


def lines_of(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_every_kind_of_disagreement_is_one_line_naming_the_payment(cli, book, tmp_path):
    book("agrees", "100.00")
    book("held", "50.00", "pending")
    book("refused", "30.00")
    book("short", "20.00")
    book("forgotten", "10.00")
    book("stuck", "40.00", "pending", at=IN_DAY - timedelta(days=2))
    book("last-week", "70.00", at=IN_DAY - timedelta(days=7))     # not the day's: not missing
    statement = lines_of(tmp_path / "statement.jsonl", [
        {"idempotency_key": "agrees", "status": "paid", "amount": "100.00"},
        {"idempotency_key": "held", "status": "SUCCEEDED", "amount": "50.00"},
        {"idempotency_key": "refused", "status": "failed", "amount": "30.00"},
        {"idempotency_key": "short", "status": "paid", "amount": "25.00"},
        {"idempotency_key": "stranger", "status": "paid", "amount": "99.00"},
        {"idempotency_key": "stuck", "status": "processing", "amount": "40.00"}])
    result = cli("payments", "reconcile", "--date", DAY, "--statement", statement)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "paid_at_provider: payment held (request AS-held, order O-held): the provider says "
        "SUCCEEDED (line 2), the ledger holds it pending",
        "failed_at_provider: payment refused (request AS-refused, order O-refused): the "
        "provider says failed (line 3), the ledger holds it paid",
        "amount_differs: payment short (request AS-short, order O-short): the provider's "
        "amount is 25.00, the ledger's 20.00",
        "unknown_to_ledger: payment stranger: the provider lists a paid payment of 99.00 "
        "(line 5) that the ledger does not hold",
        "missing_at_provider: payment forgotten (request AS-forgotten, order O-forgotten): the "
        "ledger holds a paid refund of 10.00 that the provider's statement does not list",
        "stale_pending: payment stuck (request AS-stuck, order O-stuck): the refund of 40.00 "
        "written at 2026-11-20T02:00:00+00:00 was still pending at 2026-11-22T16:00:00+00:00, "
        "24 hours or more later"]
    assert result.stderr.startswith("payments disagree: 2026-11-22: 6 disagreement(s)")


def test_a_csv_statement_by_reference_that_agrees_exits_0(cli, book, tmp_path):
    book("a", "259.00", reference="REF-1")
    book("b", "88.50", "failed", reference="REF-2")
    statement = tmp_path / "statement.csv"
    statement.write_text("reference,status,amount\nREF-1,paid,259.00\nREF-2,declined,88.50\n")
    result = cli("payments", "reconcile", "--statement", str(statement))     # yesterday
    assert result.exit_code == 0, result.output
    assert result.output == ("payments ok: 2026-11-22: 1 ledger row(s) of the day, 2 statement "
                             "line(s) from file statement.csv\n")


def test_a_duplicated_payment_at_the_provider_is_reported(cli, book, tmp_path):
    book("twice", "60.00", at=IN_DAY - timedelta(days=3))    # paid twice, days later
    statement = lines_of(tmp_path / "s.jsonl", [
        {"idempotency_key": "twice", "status": "paid", "amount": "60.00"}] * 2)
    result = cli("payments", "reconcile", "--date", DAY, "--statement", statement)
    assert result.exit_code == 1
    assert result.stdout == ("duplicate_at_provider: payment twice (request AS-twice, order "
                             "O-twice): the statement lists it 2 times (lines 1, 2)\n")


@pytest.mark.parametrize("line, message", [
    ({"idempotency_key": "k", "status": "paid", "amount": 1e999}, "amount must be a finite"),
    ({"idempotency_key": "k", "status": "paid", "amount": "1.005"}, "more than two decimals"),
    ({"status": "paid", "amount": "1.00"}, "must name the payment's idempotency_key"),
    ({"idempotency_key": "k", "amount": "1.00"}, "status must be text"),
])
def test_a_bad_statement_line_is_refused_naming_it(cli, tmp_path, line, message):
    statement = tmp_path / "s.jsonl"
    statement.write_text(json.dumps({"idempotency_key": "ok", "status": "paid",
                                     "amount": "1.00"}) + "\n" + json.dumps(line) + "\n")
    result = cli("payments", "reconcile", "--statement", str(statement))
    assert result.exit_code == 1
    first, last = result.stderr.splitlines()
    assert first.startswith("s.jsonl:2: ") and message in first
    assert last == "Error: line 2 of s.jsonl is refused; nothing was reconciled"


def test_with_the_http_adapter_the_statement_is_asked_of_the_provider(cli, book, provider):
    book("paid-here", "120.00")
    book("fine", "15.00")
    provider.body = [{"idempotency_key": "paid-here", "status": "failed", "amount": "120.00"},
                     {"idempotency_key": "fine", "status": "paid", "amount": "15.00"}]
    result = cli("payments", "reconcile", "--date", DAY,
                 env={"AFTERSALES_PAYMENT_HTTP_URL": provider.url,
                      "AFTERSALES_OUTGOING_SECRET": OUTGOING_SECRET})
    assert provider.asked == [f"/pay/statement?date={DAY}"]
    signatures.verify([OUTGOING_SECRET], b"", provider.signatures[0])   # the platform asked
    assert result.exit_code == 1
    assert result.stdout == ("failed_at_provider: payment paid-here (request AS-paid-here, "
                             "order O-paid-here): the provider says failed (line 1), the ledger "
                             "holds it paid\n")
    assert "2 statement line(s) from the provider over HTTP" in result.stderr


def test_a_provider_that_cannot_give_its_statement_is_an_error(cli, provider):
    provider.status = 503
    result = cli("payments", "reconcile", "--date", DAY,
                 env={"AFTERSALES_PAYMENT_HTTP_URL": provider.url,
                      "AFTERSALES_OUTGOING_SECRET": OUTGOING_SECRET})
    assert result.exit_code == 1
    assert result.stderr == (f"Error: the payment provider's statement of {DAY} could not be "
                             "fetched: it answered 503\n")


def test_the_daily_job_keeps_the_report_as_an_alert_until_the_day_agrees(
        over_http, sessions, book, provider):
    runtime = Runtime(over_http)
    book("late", "80.00", "pending")
    provider.body = [{"idempotency_key": "late", "status": "paid", "amount": "80.00"}]
    job = PlatformScheduler(sessions, runtime)
    report = job.run_reconciliation()
    assert [d.kind for d in report.disagreements] == ["paid_at_provider"]
    with sessions() as session:
        alert = session.scalars(select(Alert)).one()
    assert (alert.kind, alert.key, alert.closed_at, alert.count) == (
        "payment_reconciliation", DAY, None, 1)
    assert alert.details["disagreements"][0]["payment"] == "late"
    assert alert.details["disagreements"][0]["order_id"] == "O-late"

    with sessions.begin() as session:                 # the provider's callback came in
        session.scalars(select(Ledger)).one().status = "paid"
    assert job.run_reconciliation().ok
    with sessions() as session:
        alert = session.scalars(select(Alert)).one()
    assert alert.closed_at == T0 and alert.count == 0


def test_the_daily_job_reports_a_provider_that_is_down(over_http, sessions, book, provider):
    book("x", "10.00")
    provider.status = 500
    report = reconciliation.daily(sessions, over_http, T0)
    assert [d.kind for d in report.disagreements] == ["statement_unavailable"]
    with sessions() as session:
        alert = session.scalars(select(Alert)).one()
    assert alert.details["disagreements"][0]["message"].endswith("it answered 500")


def test_a_provider_that_answers_an_error_leaves_no_socket_open(over_http, sessions, book,
                                                                 provider):
    """The error's answer is closed at once, not when the collector finds the error."""
    book("x", "10.00")
    provider.status = 500
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        reconciliation.daily(sessions, over_http, T0)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_the_scheduler_reconciles_every_morning_in_the_platforms_time_zone(
        sessions, runtime, monkeypatch):
    job = PlatformScheduler(sessions, runtime)
    # Started paused: the jobs are registered, none runs.
    monkeypatch.setattr(job.scheduler, "start",
                        lambda: BackgroundScheduler.start(job.scheduler, paused=True))
    job.start()
    try:
        trigger = job.scheduler.get_job("reconciliation").trigger
        fields = {f.name: str(f) for f in trigger.fields}
        assert (fields["hour"], fields["minute"], str(trigger.timezone)) == (
            "6", "0", "Asia/Shanghai")
    finally:
        job.shutdown()


def test_the_last_day_of_the_calendar_is_refused_naming_it(cli, tmp_path):
    statement = tmp_path / "s.jsonl"
    statement.write_text("")
    result = cli("payments", "reconcile", "--date", "9999-12-31", "--statement", str(statement))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "Error: the day must be before 9999-12-31"
