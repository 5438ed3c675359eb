"""The aftersales command line, run the way an operator runs it."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import db, users
from bench.scale_out import children
from engine.models import HumanTask
from tests.conftest import DATA, ROOT
from web.cli import main
from web.pages import live


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)
    return run


def test_init_validate_deploy(cli, tmp_path):
    assert cli("init").exit_code == 0
    ok = cli("validate", str(ROOT / "bpmn"))
    assert ok.exit_code == 0 and ok.output.startswith("ok:")
    first = cli("deploy", str(DATA / "simple"))
    assert first.exit_code == 0 and "simple v1: deployed" in first.output
    again = cli("deploy", str(DATA / "simple"))
    assert "simple v1: unchanged" in again.output


def test_validate_reports_file_and_line_and_exits_1(cli, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_text((DATA / "simple" / "simple.bpmn").read_text().replace(
        "<bpmn:endEvent id=\"end_done\"/>", "<bpmn:endEventt id=\"end_done\"/>"))
    result = cli("validate", str(bad))
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("bad.bpmn:")
    assert "endEventt" in result.output


def test_validate_refuses_a_file_that_is_not_bpmn_dmn_or_json(cli, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a process")
    result = cli("validate", str(DATA / "simple" / "simple.bpmn"), str(notes))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "notes.txt: unsupported file type",
        "Error: only .bpmn, .dmn, forms/*.json and messages/*.json files can be uploaded"]
    assert result.stdout == ""


def test_deploy_refuses_invalid_folder_and_changes_nothing(cli, tmp_path, db_url):
    (tmp_path / "forms").mkdir()
    (tmp_path / "x.bpmn").write_text("<not-bpmn/>")
    result = cli("deploy", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("x.bpmn:1: ")
    assert result.stderr.splitlines()[-1].startswith("Error: ")


@pytest.mark.parametrize("args, error", [
    (("versions", "ghost"), "Error: process 'ghost' is not deployed"),
    (("audit", "verify", "999"), "Error: instance 999 does not exist"),
    (("audit", "replay", "999"), "Error: instance 999 does not exist"),
    (("audit", "export", "999"), "Error: instance 999 does not exist"),
    (("migrate", "ghost", "--from", "1", "--to", "2"), "Error: process 'ghost' has no version 1"),
])
def test_every_command_reports_an_engine_refusal_the_same_way(cli, args, error):
    assert cli("init").exit_code == 0
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [error] and result.stdout == ""


def test_demo_gives_every_department_work_and_audit_verifies(cli, db_url):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert "orders: 6 sent by the shop" in result.output      # PUT /api/orders as `shop`
    engine = db.make_engine(db_url)
    with db.make_session_factory(engine)() as session:
        departments = set(session.scalars(select(HumanTask.department)))
    engine.dispose()
    assert departments >= {"customer_service", "cs_supervisor", "management", "finance",
                           "logistics", "warehouse", "repair", "qa", "operations"}
    verify = cli("audit", "verify")
    assert verify.exit_code == 0 and verify.output.startswith("ok:")
    replayed = cli("audit", "replay", "1")
    assert replayed.exit_code == 0 and "started" in replayed.output
    again = cli("demo").output
    assert "again" not in again and "orders: 0 sent by the shop" in again


def test_audit_verify_names_the_divergent_event(cli, db_url):
    cli("demo")
    engine = db.make_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_event_append_only")   # an attacker with DDL rights
        conn.exec_driver_sql(
            "UPDATE audit_event SET actor = 'mallory' WHERE instance_id = 2 AND seq = 2")
    engine.dispose()
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "instance 2: DIVERGES at event 2" in result.output


def test_user_add(cli):
    result = cli("user", "add", "newbie", "--role", "staff", "--department", "finance",
                 input="s3cret-pass\ns3cret-pass\n")
    assert result.exit_code == 0, result.output
    assert "user newbie added (staff, finance)" in result.output
    again = cli("user", "add", "newbie", "--role", "auditor", input="other-pass\nother-pass\n")
    assert again.exit_code == 1
    assert again.stderr.splitlines() == ["Error: user 'newbie' already exists"]


def test_user_add_a_shop_account(cli):
    result = cli("user", "add", "shop-main", "--role", "shop", input="s3cret-pass\ns3cret-pass\n")
    assert result.exit_code == 0, result.output
    assert "user shop-main added (shop)" in result.output


@contextlib.contextmanager
def served(db_url, workers: int, threads: int):
    """`aftersales serve` on `db_url` (`workers` of `threads` threads), answering; yields (its
    port, its process). Stopped by SIGTERM, which it must obey with exit status 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, AFTERSALES_DATABASE_URL=db_url,
               AFTERSALES_SECRET_KEY="a test key that nobody published, 40+ chars")
    command = [sys.executable, "-m", "web.cli", "serve", "--port", str(port),
               "--workers", str(workers), "--threads", str(threads)]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as server:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    url = f"http://127.0.0.1:{port}/api/openapi.json"
                    with urllib.request.urlopen(url, timeout=2) as r:
                        assert r.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline, "the server did not answer within 30 s"
                    time.sleep(0.2)
            while len(children(server.pid)) < workers:          # gunicorn's worker processes
                assert time.monotonic() < deadline, f"{workers} workers did not start within 30 s"
                time.sleep(0.2)
            yield port, server
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_http_and_stops_on_sigterm(db_url, workers):
    with served(db_url, workers, 1 if workers > 1 else 8) as (_port, server):
        assert len(children(server.pid)) == workers


def test_a_server_of_one_thread_a_worker_holds_no_live_stream(db_url):
    # `--threads 1` runs gunicorn's sync worker: a page's live stream would hold a worker's
    # only thread (the API waiting behind it) until the arbiter killed it after 30 s.
    engine = db.make_engine(db_url)
    with db.make_session_factory(engine).begin() as session:
        users.create_user(session, "desk_1", "a long enough password", "staff",
                          "customer_service")
    engine.dispose()
    with served(db_url, 2, 1) as (port, _server):
        page = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        base = f"http://127.0.0.1:{port}"
        form = page.open(f"{base}/login", timeout=10).read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        page.open(f"{base}/login", urllib.parse.urlencode(
            {"username": "desk_1", "password": "a long enough password",
             "csrf_token": csrf}).encode(), timeout=10).read()
        started = time.monotonic()
        with page.open(f"{base}/events/queue", timeout=10) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            assert stream.read().decode() == f"retry: {live.FALLBACK_RETRY_MS}\n\n"  # poll
        assert time.monotonic() - started < 5
