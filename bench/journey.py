"""The request path: one refund-first journey as raw SpiffWorkflow, as the platform's verbs in
process and over HTTP, with 1 and 16 clients, in one run on one durable SQLite database.

A journey is what bench/http_api.py drives: the customer files a return from an order, finance
approves the refund, the payment provider reports it paid, the customer ships the goods back,
the warehouse inspects them, the customer rates (9 API calls, 6 of them changes of the
instance). The columns:

- raw SpiffWorkflow: the same journeys' recorded inputs re-run in memory, nothing stored
  (engine.history.replay.rerun): what the engine library itself costs;
- verbs in process: each call's work as its route does it (the same engine functions, one
  durable transaction each, a read one for the GETs, the sign-in check included), without
  Flask or HTTP;
- HTTP: the JSON API under gunicorn (one worker of 8 threads, as `aftersales serve`), one
  client, then 16 clients at once; then 16 clients on 2 workers of 2 threads and of 1
  (`aftersales serve --workers 2 --threads 1` serves most on 2 cores: SQLite's writers hold
  the write lock only from their first write, engine/db.py, so two processes run their
  workflows at once, and fewer threads contend less for each process's GIL); the server's CPU
  (its workers') is read from /proc before and after;
- verbs in process under load: the verbs driven by 2 processes of their own at once, of 8
  threads each (16 callers, as the clients) and of 1 (the verbs' best on 2 cores), against
  which the 16 clients on 2 workers of 1 thread make HTTP's ratio under load.

CPU per journey is the process's own user+system time (the benchmark's for raw and in
process, the server's for HTTP), so other load on the machine changes it little; journeys/s
is wall time. The ratio HTTP / in process compares journeys/s with one client: once from the
two columns, and once from three sides run in turn (`in_turn`), which the machine's changes
of speed between columns do not skew: the verbs in process, the Flask app called in process
(bench.http_api.InApp: Flask and the routes without gunicorn, the socket or the client's
HTTP) and HTTP, so that the ratio splits into what Flask and the routes cost and what
gunicorn, the socket and the client cost; HTTP once on the threaded worker of 8 threads and
once on a worker of one thread (gunicorn's sync worker, which hands no request between
threads), and the CPU ratio apart from the wall-time one (the client's CPU is in HTTP's
time, not in the server's). Last, HTTP's fixed cost alone (`fixed_cost`): one
journey's requests sent by the same client to apps that do nothing (bench/http_floor.py)
under the same gunicorn, one of them working as long as the verbs do before it answers, which
bounds the ratio whatever the platform does.

Usage: python -m bench.journey --n 200
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import secrets
import time
from types import SimpleNamespace

from sqlalchemy import event, select

from bench.common import concurrently, platform, rate
from bench.http_api import (PEOPLE, Client, InApp, gunicorn, prepare, refund_first, served,
                            server_env, signed_in)
from bench.scale_out import cpu_seconds
from engine import db, payments, service_requests, tasklist, tasks, users
from engine import platform as engine_platform
from engine.definitions import catalog
from engine.department_settings import check_complete
from engine.history import audit, replay
from engine.models import Instance, ServiceRequest
from engine.runtime import incidents

CLIENTS = 16
WARM = 8
SPREADS = ((2, 2), (2, 1))     # gunicorn (workers, threads) of the further 16-client columns
AT_LOAD = ((2, 8), (2, 1))     # (processes, threads) of the verbs in process under load
ROUNDS = 6                     # of the interleaved HTTP / in process ratio


class InProcess:
    """The journey's calls as the routes make them, on the platform's own runtime."""

    def __init__(self, p):
        self.p, self.runtime = p, engine_platform.runtime(p.settings)
        with p.sessions() as session:
            self.actors = {name: users.actor_of(users.account_json(users.find(session, name)))
                           for name in PEOPLE}
        self.tokens = {}
        with p.sessions.begin() as session:
            for name in PEOPLE:
                self.tokens[name] = users.issue_token(session, users.find(session, name))[0]

    def call(self, as_: str, work, *, read: bool = False):
        """One API call: the sign-in check, then `work(session, actor)` in one transaction, a
        read one for a GET (`read`), as web.api.base.signed_in and transaction make them."""
        assert users.account_for_token(self.p.engine, self.tokens[as_]) is not None
        with self.transaction(read) as session:
            return work(session, self.actors[as_])

    @contextlib.contextmanager
    def transaction(self, read: bool):
        """One unit of work's session, in a read transaction when `read`, as the routes'."""
        with db.reading() if read else contextlib.nullcontext(), \
                incidents.transaction(self.p.sessions) as session:
            yield session

    def open_task(self, number: str, as_: str) -> str:
        """The request's task in the caller's department's list, as the HTTP client finds it
        (GET /api/tasks?department=...&per_page=100)."""
        def listed(session, actor):
            rows, _total = tasklist.list_tasks(
                session, actor, tasklist.Filters(department=actor.department), per_page=100)
            [task] = [row for row in rows if row["request_number"] == number]
            return task["task_id"]
        return self.call(as_, listed, read=True)

    def complete(self, task_id: str, data: dict, as_: str) -> None:
        def work(session, actor):
            found = tasks.scope(session, actor, task_id)
            check_complete(session, found, actor)
            return self.runtime.complete(session, task_id, data, actor).id
        instance_id = self.call(as_, work)
        tasks.next_tasks(self.p.engine, self.actors[as_], instance_id)   # as the route reads

    def answer(self, number: str, message: str, payload: dict) -> None:
        self.call("alice", lambda session, actor: service_requests.answer(
            session, self.runtime, actor, number, message, payload, message))

    def journey(self, i: int) -> None:
        number = self.call("alice", lambda session, actor: service_requests.file(
            session, self.runtime, {"order_id": f"O-B{i}", "type": "return_refund",
                                    "reason": "too small"}, actor)[0]["number"])
        self.complete(self.open_task(number, "finance_1"),
                      {"refund_approved": True, "refund_amount": 120.0, "refund_note": "ok"},
                      "finance_1")
        [paid] = self.call("finance_1", lambda session, actor: payments.of_request(
            session, actor, number)["items"], read=True)
        self.call("payment", lambda session, actor: payments.receive_result(
            session, self.runtime, "refund_result", number,
            {"status": "paid", "reference": f"RF-{i}", "idempotency_key": paid["idempotency_key"]},
            actor))
        self.answer(number, "return_shipped", {"tracking_no": f"SF{i:010d}", "carrier": "SF"})
        self.complete(self.open_task(number, "warehouse_1"),
                      {"inspection_passed": True, "goods_condition": "as_new",
                       "inspection_note": ""}, "warehouse_1")
        self.answer(number, "csat_submitted", {"score": 5})


def in_process(p, journeys: range) -> dict:
    """Also counts the SQL statements a journey sends, as SQLite's trace sees them: the
    statements, and apart the BEGINs, COMMITs, savepoints and pragmas around them."""
    driver = InProcess(p)
    driver.journey(journeys.start - 1)           # compile the definitions: not measured
    return dict(_run_in_process(p, driver, journeys), sign_in_us=_sign_in_check(p, driver))


def _sign_in_check(p, driver: InProcess, checks: int = 2000) -> float:
    """CPU of one sign-in check as every call makes it (engine.users.account_for_token), in
    microseconds."""
    token = driver.tokens["alice"]
    cpu = time.process_time()
    for _ in range(checks):
        users.account_for_token(p.engine, token)
    return (time.process_time() - cpu) / checks * 1e6


_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


def _run_in_process(p, driver: InProcess, journeys) -> dict:
    sent: list[str] = []

    def trace(connection, _record):
        connection.set_trace_callback(sent.append)
    p.engine.dispose()                           # each connection traced from its first statement
    event.listen(p.engine, "connect", trace)
    driver.journey(journeys.start - 2)           # connect (each connection's pragmas): not counted
    sent.clear()
    cpu, t0 = time.process_time(), time.perf_counter()
    try:
        for i in journeys:
            driver.journey(i)
    finally:
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu
        event.remove(p.engine, "connect", trace)
        p.engine.dispose()
    control = sum(statement.startswith(_CONTROL) for statement in sent)
    return dict(_figures(len(journeys), seconds, cpu),
                statements=(len(sent) - control) / len(journeys), control=control / len(journeys))


def in_process_at_load(p, journeys: range, processes: int, threads: int) -> dict:
    """The verbs in process under load: `processes` processes of their own (spawned: this one
    may run threads), each driving its share of the journeys with `threads` threads, started
    together once each has run WARM journeys; journeys/s from the first start to the last end,
    and the processes' CPU per journey. Each journey's calls all run in one process (its
    workflow stays held there), which no HTTP server's workers can promise: gunicorn hands each
    call to whichever is free."""
    spawned = multiprocessing.get_context("spawn")
    ready, results = spawned.Barrier(processes), spawned.Queue()
    children = [spawned.Process(target=_drive, args=(p.url, p.settings, journeys[k::processes],
                                                   threads, ready, results))
                for k in range(processes)]
    for child in children:
        child.start()
    ran = [results.get() for _ in children]
    for child in children:
        child.join()
    n = sum(len(journeys[k::processes]) - WARM for k in range(processes))
    seconds = max(end for _, end, _ in ran) - min(start for start, _, _ in ran)
    return _figures(n, seconds, sum(cpu for _, _, cpu in ran))


def _drive(url: str, settings, journeys: range, threads: int, ready, results) -> None:
    """One process of in_process_at_load: (start, end, CPU seconds) of its journeys after the
    first WARM, onto `results`."""
    engine = db.make_engine(url, durable=True)
    driver = InProcess(SimpleNamespace(engine=engine, sessions=db.make_session_factory(engine),
                                       settings=settings))
    for i in journeys[:WARM]:
        driver.journey(i)
    ready.wait()
    cpu, start = time.process_time(), time.time()
    concurrently(driver.journey, journeys[WARM:], threads)
    results.put((start, time.time(), time.process_time() - cpu))
    engine.dispose()


def raw(p, journeys: range) -> dict:
    """The recorded inputs of the in-process journeys re-run by SpiffWorkflow alone."""
    numbers = [f"O-B{i}" for i in journeys]
    script_engine = engine_platform.runtime(p.settings).script_engine
    with p.sessions() as session:
        found = list(session.scalars(select(Instance).join(
            ServiceRequest, ServiceRequest.instance_id == Instance.id)
            .where(ServiceRequest.order_id.in_(numbers))))
        histories = [(instance, audit.events(session, instance.id)) for instance in found]
        compiled = {}

        def definition_for(definition_id):
            if definition_id not in compiled:
                compiled[definition_id] = catalog.compiled(session, definition_id)
            return compiled[definition_id]
        replay.rerun(definition_for, *histories[0], script_engine)      # warm
        cpu, t0 = time.process_time(), time.perf_counter()
        for instance, events in histories:
            replay.rerun(definition_for, instance, events, script_engine)
        return _figures(len(histories), time.perf_counter() - t0, time.process_time() - cpu)


def over_http(p, secret: str, journeys: range, clients: int, workers: int = 1,
              threads: int = 8) -> dict:
    env = server_env(p, AFTERSALES_ADAPTERS="payment=off")
    with served(p, secret, workers, env, threads) as c:
        warm = range(journeys.start - WARM, journeys.start)
        concurrently(lambda i: refund_first(c, i), warm, min(clients, WARM))
        cpu = {}
        seconds = concurrently(lambda i: refund_first(c, i), journeys, clients,
                               lambda: cpu.update(before=cpu_seconds(c.server.pid)))
        return _figures(len(journeys), seconds, cpu_seconds(c.server.pid) - cpu["before"])


def in_app(p, secret: str) -> InApp:
    """A client calling the Flask app in this process (bench.http_api.InApp), signed in: the
    HTTP journey without gunicorn, the socket or the client's HTTP, on the server's settings."""
    import web
    settings = {"database_url": p.url, "attachments_dir": p.folder / "attachments",
                "secret_key": secrets.token_urlsafe(48), "adapters": {"payment": "off"}}
    return signed_in(InApp(web.create_app(settings)), secret)


FLOORS = {"wsgi": "bench.http_floor:constant", "flask": "bench.http_floor:flask_app",
          "busy": "bench.http_floor:busy"}


def fixed_cost(p, sent: list, n: int, busy_ms: float) -> dict:
    """HTTP's fixed cost alone: one journey's requests (`sent`) sent `n` times by the same
    client to apps that do nothing (bench/http_floor.py) under gunicorn as `over_http` runs it,
    one worker of 8 threads; the busy one is busy `busy_ms` a request. Wall time and the
    server's CPU per journey, for each of FLOORS."""
    out = {}
    for name, target in FLOORS.items():
        with gunicorn(target, dict(server_env(p), BUSY_MS=str(busy_ms))) as (port, server):
            c = Client(port)
            try:
                for _ in range(WARM):
                    c.resend(sent)
                cpu, t0 = cpu_seconds(server.pid), time.perf_counter()
                for _ in range(n):
                    c.resend(sent)
                out[name] = _figures(n, time.perf_counter() - t0, cpu_seconds(server.pid) - cpu)
            finally:
                c.close()
    return out


SIDES = ("in_process", "in_app", "http", "http_sync")


def in_turn(p, secret: str, journeys: range, rounds: int = ROUNDS) -> dict:
    """The verbs in process, the Flask app in process (`in_app`) and HTTP with one client, on
    a worker of 8 threads (`http`, gunicorn's threaded worker) and on a worker of one thread
    (`http_sync`, gunicorn's sync worker), run in turn in `rounds` rounds (the order turning
    every round) on one driver, one app and two servers, so that the machine's speed, which
    moves from minute to minute on a shared machine, weighs on all sides alike. {side:
    figures} with the CPU of this process (in process, in app) or of the server (HTTP; the
    client's, this process's, apart), and "sent": one journey's requests as the app got them,
    for `fixed_cost`."""
    env = server_env(p, AFTERSALES_ADAPTERS="payment=off")
    seconds, cpu = dict.fromkeys(SIDES, 0.0), dict.fromkeys(SIDES, 0.0)
    client_cpu = dict.fromkeys(SIDES, 0.0)
    with served(p, secret, env=env) as c, served(p, secret, env=env, threads=1) as sync:
        # Signed in after the clients: a sign-in deletes the user's tokens expired by the
        # server's clock, which the driver's are under the tests' frozen clock.
        app = in_app(p, secret)
        driver = InProcess(p)
        start = journeys.start
        driver.journey(start - 1)                # the orders just before warm each side
        for i in range(start - WARM - 1, start - 1):
            refund_first(c if i % 2 else sync, i)
        for i in range(start - 2 * WARM - 1, start - WARM - 2):
            refund_first(app, i)
        app.sent = []
        refund_first(app, start - WARM - 2)
        sent, app.sent = app.sent, None
        run = {"in_process": driver.journey, "in_app": lambda i: refund_first(app, i),
               "http": lambda i: refund_first(c, i), "http_sync": lambda i: refund_first(sync, i)}
        servers = {"http": c.server, "http_sync": sync.server}
        shares = {side: journeys[k::len(SIDES)] for k, side in enumerate(SIDES)}
        for k in range(rounds):
            for side in SIDES[k % len(SIDES):] + SIDES[:k % len(SIDES)]:
                server = servers.get(side)
                used = (lambda: cpu_seconds(server.pid)) if server else time.process_time
                t0, cpu0, own0 = time.perf_counter(), used(), time.process_time()
                for i in shares[side][k::rounds]:
                    run[side](i)
                seconds[side] += time.perf_counter() - t0
                cpu[side] += used() - cpu0
                client_cpu[side] += time.process_time() - own0
    return {"sent": sent, **{side: dict(_figures(len(shares[side]), seconds[side], cpu[side]),
                                        client_ms=client_cpu[side] / len(shares[side]) * 1000)
                             for side in SIDES}}


def _figures(n: int, seconds: float, cpu: float) -> dict:
    return {"journeys_per_s": rate(n, seconds), "cpu_ms": cpu / n * 1000}


def measure(n: int) -> dict:
    # Each part files from orders of its own: O-B{k*n} .. (a few before each for warming up).
    step = n + 2 * WARM + 2
    with platform(durable=True) as p:
        secret = prepare(p, (5 + len(SPREADS) + len(AT_LOAD)) * step)
        out = {"in_process": in_process(p, range(step, step + n))}
        out["raw"] = raw(p, range(step, step + n))
        out["http_1"] = over_http(p, secret, range(2 * step, 2 * step + n), 1)
        out["http_16"] = over_http(p, secret, range(3 * step, 3 * step + n), CLIENTS)
        for k, (workers, threads) in enumerate(SPREADS):
            journeys = range((4 + k) * step, (4 + k) * step + n)
            out[f"http_16_{workers}x{threads}"] = over_http(p, secret, journeys, CLIENTS,
                                                            workers, threads)
        for k, (processes, threads) in enumerate(AT_LOAD):
            at = (5 + len(SPREADS) + k) * step
            out[f"at_load_{processes}x{threads}"] = in_process_at_load(
                p, range(at, at + n + processes * WARM), processes, threads)
        at = (4 + len(SPREADS)) * step
        out["in_turn"] = in_turn(p, secret, range(at, at + n))
        sent = out["in_turn"].pop("sent")
        verbs_ms = 1000 / out["in_turn"]["in_process"]["journeys_per_s"]
        out["fixed_cost"] = fixed_cost(p, sent, n, verbs_ms / len(sent))
    return out


def report(r: dict) -> str:
    rows = [("raw SpiffWorkflow (the recorded inputs re-run in memory)", r["raw"]),
            ("verbs in process, 1 thread", r["in_process"]),
            ("HTTP, 1 client", r["http_1"]),
            (f"HTTP, {CLIENTS} clients", r["http_16"])]
    rows += [(f"HTTP, {CLIENTS} clients, {workers} workers of {_threads(threads)}",
              r[f"http_16_{workers}x{threads}"])
             for workers, threads in SPREADS]
    rows += [(f"verbs in process under load, {processes} processes of {_threads(threads)}",
              r[f"at_load_{processes}x{threads}"]) for processes, threads in AT_LOAD]
    lines = [f"  {label}: {f['journeys_per_s']:.1f} journeys/s, CPU {f['cpu_ms']:.1f} ms per journey"
             + (f", {f['statements']:.0f} SQL statements (and {f['control']:.0f} BEGIN, COMMIT, "
                f"SAVEPOINT or PRAGMA)" if "statements" in f else "")
             for label, f in rows]
    best = r["http_16_2x1"]["journeys_per_s"]
    lines.append("  under load, HTTP with 16 clients on 2 workers of 1 thread / the verbs in "
                 "process: " + ", ".join(
                     f"{best / r[f'at_load_{processes}x{threads}']['journeys_per_s']:.2f} against "
                     f"{processes} processes of {_threads(threads)}"
                     for processes, threads in AT_LOAD))
    lines.append(f"  the sign-in check every call makes: "
                 f"{r['in_process']['sign_in_us']:.0f} us of CPU")
    turn, floor = r["in_turn"], r["fixed_cost"]
    lines.append(f"  in turn over {ROUNDS} rounds, 1 client: verbs in process "
                 f"{turn['in_process']['journeys_per_s']:.1f} journeys/s, CPU "
                 f"{turn['in_process']['cpu_ms']:.1f} ms; the Flask app called in process (no "
                 f"gunicorn, socket or HTTP parsing) {turn['in_app']['journeys_per_s']:.1f}, CPU "
                 f"{turn['in_app']['cpu_ms']:.1f} ms; HTTP {turn['http']['journeys_per_s']:.1f}, "
                 f"server CPU {turn['http']['cpu_ms']:.1f} ms")
    speed = {side: turn[side]["journeys_per_s"] for side in SIDES}
    lines.append(f"  HTTP / in process (1 client): "
                 f"{r['http_1']['journeys_per_s'] / r['in_process']['journeys_per_s']:.2f} from "
                 f"the columns, {speed['http'] / speed['in_process']:.2f} in turn: Flask and the "
                 f"routes {speed['in_app'] / speed['in_process']:.2f} (the app in process / the "
                 f"verbs), gunicorn, the socket and the client "
                 f"{speed['http'] / speed['in_app']:.2f} (HTTP / the app in process)")
    verbs_cpu = turn["in_process"]["cpu_ms"]
    lines.append(f"  in turn on a worker of one thread (gunicorn's sync worker, as `aftersales "
                 f"serve --threads 1`): HTTP {speed['http_sync']:.1f} journeys/s, server CPU "
                 f"{turn['http_sync']['cpu_ms']:.1f} ms; HTTP / in process "
                 f"{speed['http_sync'] / speed['in_process']:.2f}")
    lines.append(f"  CPU of the verbs in process / the server's CPU over HTTP (what one server "
                 f"thread can carry, the client's CPU left out): worker of 8 threads "
                 f"{verbs_cpu / turn['http']['cpu_ms']:.2f}, worker of one thread "
                 f"{verbs_cpu / turn['http_sync']['cpu_ms']:.2f}; the benchmark's client "
                 f"(http.client, JSON, signing) {turn['http']['client_ms']:.1f} ms of CPU a "
                 f"journey, in the HTTP side's time")
    ms = {name: 1000 / floor[name]["journeys_per_s"] for name in FLOORS}
    in_ms = 1000 / speed["in_process"]          # how long the busy app is busy a journey
    beyond = ms["busy"] - in_ms
    lines.append("  HTTP's fixed cost alone, the journey's requests answered {} under the same "
                 f"gunicorn and client: a bare WSGI app {ms['wsgi']:.1f} ms a journey, server "
                 f"CPU {floor['wsgi']['cpu_ms']:.1f} ms; a bare Flask app {ms['flask']:.1f} ms, "
                 f"server CPU {floor['flask']['cpu_ms']:.1f} ms; the bare WSGI app busy as long "
                 f"as the verbs take ({in_ms:.1f} ms a journey) {beyond:.1f} ms beyond that")
    lines.append(f"  so HTTP / in process (1 client) can be at most "
                 f"{in_ms / (in_ms + beyond + ms['flask'] - ms['wsgi']):.2f} with Flask and "
                 "gunicorn as they are (in process / (in process + the busy app's time beyond "
                 "its own + Flask's))")
    return "refund-first journeys (9 API calls each), durable SQLite:\n" + "\n".join(lines)


def _threads(n: int) -> str:
    return f"{n} thread" + ("s" if n > 1 else "")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="journeys per column")
    print(report(measure(parser.parse_args(argv).n)))


if __name__ == "__main__":
    main()
