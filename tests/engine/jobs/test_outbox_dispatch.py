"""The outbox dispatcher's throughput design (issue 17, item 5): due rows are leased in batches,
provider calls run concurrently (bounded, with a timeout) outside any transaction, and every
intent's effect happens once, across several scheduler processes on PostgreSQL and after a
dispatcher died holding a lease. The providers are real HTTP servers on 127.0.0.1.
"""
from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import clock, config
from engine.jobs import adapters, outbox
from engine import platform as product
from engine.models import AuditEvent, Instance, Ledger, Outbox
from engine.runtime.verbs import Runtime
from tests.conftest import ROOT
from tests.engine.jobs.outbox_worker import SECRET
from tests.engine.jobs.test_jobs import _approve, platform  # noqa: F401 (a fixture)
from tests.http_server import LocalServer
from tests.web.api.test_integrations import (history, instance_status, make_world, outbox_row,
                                             slot, verified)
from tests.web.conftest import file_request

INTENTS = 1000
NOTHING = {"done": 0, "retry": 0, "incident": 0}


def add_intents(sessions, n: int, prefix: str = "ship") -> list[str]:
    """`n` due shipping.ship intents (no instance: nothing replies); their idempotency keys."""
    keys = [f"{prefix}-{i:05d}" for i in range(n)]
    with sessions.begin() as session:
        session.add_all(Outbox(idempotency_key=key, operation="shipping.ship",
                               payload={"address": f"{i} Nanjing Road"},
                               next_attempt_at=clock.now(), created_at=clock.now())
                        for i, key in enumerate(keys))
    return keys


def keys_called(provider) -> Counter:
    return Counter(r.headers["Idempotency-Key"] for r in provider.received)


def statuses(sessions) -> Counter:
    with sessions() as session:
        return Counter(session.scalars(select(Outbox.status)))


def shipping(settings, provider, **changes) -> Runtime:
    return Runtime(settings.with_(adapters={"shipping.ship": "http"},
                                  http_urls={"shipping": provider.url}, outgoing_secret=SECRET,
                                  **changes))


@pytest.fixture
def provider():
    server = LocalServer(lambda got: (200, {"tracking_no": "SF-" + got.json["idempotency_key"]}))
    yield server
    server.stop()


def test_three_scheduler_processes_deliver_each_of_1000_intents_once(pg_url, pg_sessions,
                                                                     provider):
    keys = add_intents(pg_sessions, INTENTS)
    workers = [subprocess.Popen([sys.executable, "-m", "tests.engine.jobs.outbox_worker", pg_url,
                                 provider.url, f"w{i}"], cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for i in range(3)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:                  # all three start dispatching at the same moment
        worker.stdin.write("go\n")
        worker.stdin.flush()
    counts = []
    for worker in workers:
        out, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0
        counts.append(json.loads(out))
    assert sum(c["done"] for c in counts) == INTENTS, counts
    assert all(c["done"] > 0 for c in counts), counts      # they did share the work
    assert keys_called(provider) == Counter(dict.fromkeys(keys, 1))
    with pg_sessions() as session:
        rows = session.execute(select(Outbox.status, Outbox.attempts, Outbox.result,
                                      Outbox.idempotency_key, Outbox.claimed_by)).all()
    assert {(r.status, r.attempts) for r in rows} == {("done", 1)}
    assert all(r.result == {"tracking_no": f"SF-{r.idempotency_key}"} for r in rows)
    assert {r.claimed_by.split(":")[0] for r in rows} == {"w0", "w1", "w2"}


def test_a_row_whose_lease_ran_out_is_delivered_by_another_dispatcher(sessions, settings,
                                                                      provider):
    runtime = shipping(settings, provider)
    keys = add_intents(sessions, 3)
    with sessions.begin() as session:       # a dispatcher claims them, then dies
        crashed = outbox.claim_due(session, clock.now(), "crashed:1", timedelta(minutes=1), 10)
    assert len(crashed) == 3
    assert outbox.dispatch_due(sessions, runtime) == NOTHING      # leased: left alone
    assert provider.received == []
    clock.advance(timedelta(minutes=1, seconds=1))
    assert outbox.dispatch_due(sessions, runtime)["done"] == 3
    assert keys_called(provider) == Counter(dict.fromkeys(keys, 1))
    # The dead dispatcher's late answer is not recorded over the delivered row.
    with sessions.begin() as session:
        assert outbox.deliver(session, runtime, crashed[0].id, claim="crashed:1",
                              answer={"tracking_no": "LATE"}) == "done"
    with sessions() as session:
        row = session.get(Outbox, crashed[0].id)
        assert (row.attempts, row.result) == (1, {"tracking_no": "SF-ship-00000"})


def test_a_dispatcher_killed_during_its_call_leaves_the_row_to_the_next(sessions, settings,
                                                                       db_url):
    """A scheduler process is killed while its provider call is in flight: nothing is recorded,
    and once its lease has run out the next dispatcher calls again with the same key; the
    provider, deduplicating by key, answers as it did the first time."""
    first, answered = threading.Event(), {}

    def answer(got):
        key = got.headers["Idempotency-Key"]
        if key not in answered:
            answered[key] = {"tracking_no": f"SF-{len(answered) + 1}"}
            first.set()
            time.sleep(5)             # the dispatcher dies while it waits
        return 200, answered[key]

    server = LocalServer(answer)
    try:
        [key] = add_intents(sessions, 1)
        worker = subprocess.Popen([sys.executable, "-m", "tests.engine.jobs.outbox_worker", db_url,
                                   server.url, "doomed"], cwd=ROOT, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert worker.stdout.readline().strip() == "ready"
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert first.wait(60)
        worker.kill()
        worker.communicate(timeout=60)
        with sessions() as session:
            row = session.scalars(select(Outbox)).one()
        assert (row.status, row.attempts, row.claimed_by.split(":")[0]) == ("pending", 0, "doomed")
        runtime = shipping(settings, server)
        assert outbox.dispatch_due(sessions, runtime, now=row.claimed_at) == NOTHING  # leased
        after_lease = row.lease_until + timedelta(seconds=1)
        assert outbox.dispatch_due(sessions, runtime, now=after_lease)["done"] == 1
    finally:
        server.stop()
    assert keys_called(server) == Counter({key: 2})
    with sessions() as session:
        row = session.scalars(select(Outbox)).one()
    assert (row.status, row.attempts, row.result) == ("done", 1, {"tracking_no": "SF-1"})


def test_a_dispatcher_whose_lease_was_taken_records_nothing(sessions, settings, provider):
    runtime = shipping(settings, provider)
    [key] = add_intents(sessions, 1)
    with sessions.begin() as session:
        [slow] = outbox.claim_due(session, clock.now(), "slow:1", timedelta(seconds=30), 10)
    clock.advance(timedelta(seconds=31))
    with sessions.begin() as session:
        [taken] = outbox.claim_due(session, clock.now(), "next:1", timedelta(seconds=30), 10)
    assert taken.id == slow.id
    with sessions.begin() as session:   # the slow one's answer, then its failure, come late
        assert outbox.deliver(session, runtime, slow.id, claim="slow:1",
                              answer={"tracking_no": "SLOW"}) == "taken"
        assert outbox.record_failure(session, slow.id, "late", 5, claim="slow:1") == "taken"
    with sessions() as session:
        row = session.get(Outbox, slow.id)
        assert (row.status, row.attempts, row.claimed_by) == ("pending", 0, "next:1")
    with sessions.begin() as session:
        assert outbox.deliver(session, runtime, slow.id, claim="next:1",
                              answer={"tracking_no": "NEXT"}) == "done"
    assert statuses(sessions) == Counter(done=1)


@pytest.mark.postgres
def test_a_lease_taken_while_the_answer_is_recorded_keeps_nothing_of_the_record(
        pg_sessions, settings, provider, monkeypatch):
    """On PostgreSQL nothing is locked while a record is computed (on SQLite its savepoint
    takes the write lock): the lease moves on meanwhile (another dispatcher claimed the row
    once it ran out), and the record's first write finds it."""
    sessions = pg_sessions
    runtime = shipping(settings, provider)
    add_intents(sessions, 1)
    with sessions.begin() as session:
        [slow] = outbox.claim_due(session, clock.now(), "slow:1", timedelta(seconds=30), 10)
    remote = adapters.HTTP["shipping.ship"]

    def record(session, row, answer, settings):
        clock.advance(timedelta(seconds=31))
        with sessions.begin() as other:
            outbox.claim_due(other, clock.now(), "next:1", timedelta(seconds=30), 10)
        return remote.record(session, row, answer, settings)
    monkeypatch.setitem(outbox._ADAPTERS_OVERRIDE, "shipping.ship",
                        dataclasses.replace(remote, record=record))
    assert outbox._record_group(sessions, runtime, [(slow, {"tracking_no": "SLOW"})], None) == \
        ["taken"]
    with sessions() as session:
        row = session.get(Outbox, slow.id)
        assert (row.status, row.attempts, row.claimed_by, row.result) == \
            ("pending", 0, "next:1", None)


def test_calls_run_at_once_up_to_the_concurrency_setting(sessions, settings):
    together = threading.Barrier(2, timeout=10)   # a serial dispatcher would break it
    lock, in_flight, most = threading.Lock(), [0], [0]

    def answer(got):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            together.wait()
            return 200, {"tracking_no": "SF"}
        except threading.BrokenBarrierError:
            return 503, {"error": "alone"}
        finally:
            with lock:
                in_flight[0] -= 1

    server = LocalServer(answer)
    try:
        add_intents(sessions, 8)
        counts = outbox.dispatch_due(sessions, shipping(settings, server, outbox_concurrency=2))
    finally:
        server.stop()
    assert counts == {"done": 8, "retry": 0, "incident": 0}
    assert most[0] == 2


def test_a_provider_slower_than_the_timeout_is_retried_later(sessions, settings):
    release = threading.Event()
    server = LocalServer(lambda got: (release.wait(10), (200, {}))[1])
    try:
        add_intents(sessions, 1)
        counts = outbox.dispatch_due(sessions, shipping(settings, server, outbox_timeout=0.3))
    finally:
        release.set()
        server.stop()
    assert counts == {"done": 0, "retry": 1, "incident": 0}
    with sessions() as session:
        row = session.scalars(select(Outbox)).one()
    assert row.status == "pending" and "timed out" in row.last_error
    assert row.lease_until is None and row.next_attempt_at == clock.now() + timedelta(seconds=10)


def test_the_call_holds_no_database_transaction(sessions, settings, db_url):
    path = db_url.split("///", 1)[1]

    def answer(got):    # a writer that gives up after 0.2 s, as a web request would wait
        other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return 200, {"tracking_no": "SF"}
        except sqlite3.OperationalError as err:
            return 503, {"error": str(err)}
        finally:
            other.close()

    server = LocalServer(answer)
    try:
        add_intents(sessions, 4)
        counts = outbox.dispatch_due(sessions, shipping(settings, server))
    finally:
        server.stop()
    assert counts == {"done": 4, "retry": 0, "incident": 0}


def test_one_rows_failure_undoes_only_its_own_record_in_a_group(sessions, settings, provider,
                                                              monkeypatch):
    """Answers that arrive together are recorded in one transaction, a savepoint each."""
    runtime = shipping(settings, provider)
    add_intents(sessions, 3)
    with sessions.begin() as session:
        rows = outbox.claim_due(session, clock.now(), "group:1", timedelta(minutes=1), 10)
    http = outbox.adapters(runtime.settings)["shipping.ship"]

    def record(session, row, answer, settings):
        if answer.get("broken"):
            raise ValueError("the answer names no tracking number")
        return http.record(session, row, answer, settings)
    monkeypatch.setitem(outbox._ADAPTERS_OVERRIDE, "shipping.ship",
                        adapters.Remote(http.call, record))
    group = [(rows[0], {"tracking_no": "SF-1"}), (rows[1], {"broken": True}),
             (rows[2], ConnectionError("provider down"))]
    assert outbox._record_group(sessions, runtime, group, None) == ["done", "pending", "pending"]
    with sessions() as session:
        first, second, third = (session.get(Outbox, r.id) for r in rows)
    assert (first.status, first.result) == ("done", {"tracking_no": "SF-1"})
    assert (second.status, second.attempts, second.result) == ("pending", 1, None)
    assert "no tracking number" in second.last_error and "provider down" in third.last_error


def test_a_batch_at_a_time_until_nothing_is_due(sessions, settings, provider):
    keys = add_intents(sessions, 25)
    assert outbox.dispatch_due(sessions, shipping(settings, provider), limit=10)["done"] == 25
    assert keys_called(provider) == Counter(dict.fromkeys(keys, 1))
    with sessions() as session:
        claims = session.scalar(select(func.count(func.distinct(Outbox.claimed_by))))
    assert claims == 3


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request, db_url):
    return db_url if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_a_synchronous_courier_answers_through_the_pool_once(any_url, tmp_path):
    """A courier over HTTP that answers the booking at once: the answer reaches the instance
    once, and the courier's own callback of the same result afterwards counts for nothing."""
    courier = LocalServer(lambda got: (200, slot(got.json["idempotency_key"], "PK-HTTP")))
    app, platform, auth = make_world(any_url, tmp_path, adapters={"courier.book_pickup": "http"},
                                     http_urls={"courier": courier.url},
                                     outgoing_secret=SECRET)
    try:
        request = file_request(auth, "alice")
        assert outbox.dispatch_due(platform.sessions, platform.runtime)["done"] == 1
        row = outbox_row(platform, request["number"])
        booked = [e for e in history(auth, request["instance_id"])
                  if e["element"] == "pickup_booked"]
        assert len(booked) == 1 and booked[0]["payload"]["payload"]["booking"] == "PK-HTTP"
        seen = len(history(auth, request["instance_id"]))
        again = auth.as_("courier").post("/api/messages", json={
            "name": "pickup_booked", "correlation": request["number"],
            "payload": slot(row["key"], "PK-HTTP")})
        assert again.status_code == 200 and len(history(auth, request["instance_id"])) == seen
        assert instance_status(auth, request["instance_id"]) == "waiting"
        assert verified(auth, request["instance_id"])
        assert len(courier.received) == 1
    finally:
        courier.stop()
        app.extensions["aftersales"].engine.dispose()


def test_a_callback_that_arrives_during_the_call_counts_once(db_url, tmp_path):
    """The courier calls back with the booking while the platform's call is still open (it
    can: the call holds no transaction); the call's own answer is then not delivered again."""
    def answer(got):
        booked = slot(got.json["idempotency_key"], "PK-CALLBACK")
        callback = auth.as_("courier").post("/api/messages", json={
            "name": "pickup_booked", "correlation": got.json["request_no"], "payload": booked})
        return 200, {**booked, "booking": "PK-ANSWER", "callback": callback.status_code}

    courier = LocalServer(answer)
    app, platform, auth = make_world(db_url, tmp_path, adapters={"courier.book_pickup": "http"},
                                     http_urls={"courier": courier.url}, outgoing_secret=SECRET)
    try:
        request = file_request(auth, "alice")
        assert outbox.dispatch_due(platform.sessions, platform.runtime) == {
            "done": 1, "retry": 0, "incident": 0}
        assert outbox_row(platform, request["number"])["result"] == {
            "result": "arrived by callback"}
        booked = [e for e in history(auth, request["instance_id"])
                  if e["element"] == "pickup_booked"]
        assert [e["payload"]["payload"]["booking"] for e in booked] == ["PK-CALLBACK"]
        assert verified(auth, request["instance_id"])
    finally:
        courier.stop()
        app.extensions["aftersales"].engine.dispose()


def test_an_http_payment_provider_settles_the_ledger_from_the_pool(sessions, settings, platform):
    """A payment over HTTP goes through the pool: its answer settles the ledger and replies to
    the instance in the record; a second provider that only accepts leaves the payment pending
    for its callback."""
    instance = _approve(sessions, platform)
    _approve(sessions, platform, no="AS-2", amount=20.0)

    def answer(got):
        if got.json["request_no"] == "AS-2":
            return 200, {"status": "accepted", "reference": "RF-LATER"}
        return 200, {"status": "paid", "reference": "RF-" + got.json["amount"]}

    provider = LocalServer(answer)
    try:
        runtime = product.runtime(settings.with_(payment_adapter="http",
                                                 payment_http_url=provider.url,
                                                 outgoing_secret=SECRET))
        assert outbox.dispatch_due(sessions, runtime)["done"] == 2
    finally:
        provider.stop()
    assert sorted(r.json["amount"] for r in provider.received) == ["20.00", "88.00"]
    with sessions() as session:
        ledger = {e.request_no: (e.status, e.reference, str(e.amount))
                  for e in session.scalars(select(Ledger))}
        assert ledger == {"AS-1": ("paid", "RF-88.00", "88.00"),
                          "AS-2": ("pending", "RF-LATER", "20.00")}
        assert session.get(Instance, instance.id).status == "running"     # refund_result came
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.kind == "message_delivered")) == 1


def test_the_dispatcher_settings_are_bounded():
    assert config.from_env({"AFTERSALES_OUTBOX_CONCURRENCY": "32",
                            "AFTERSALES_OUTBOX_BATCH": "200",
                            "AFTERSALES_OUTBOX_TIMEOUT": "5"}).outbox_concurrency == 32
    for name, value in (("AFTERSALES_OUTBOX_CONCURRENCY", "0"),
                        ("AFTERSALES_OUTBOX_CONCURRENCY", "10000"),
                        ("AFTERSALES_OUTBOX_BATCH", "many"), ("AFTERSALES_OUTBOX_TIMEOUT", "0")):
        with pytest.raises(ValueError, match=name):
            config.from_env({name: value})
