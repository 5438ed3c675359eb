"""The secret key and the accounts, as an operator meets them on the command line: `init` writes
a key nobody else knows, `serve`, `scheduler` and the app factory refuse a missing or published
one, and `aftersales user ...` ends sign-ins and lifts lockouts that the API then honours."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tests.web.conftest import PASSWORD, populate
from web import create_app
from web.cli import main

GOOD_KEY = "a test key that nobody published, 40+ chars"


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("AFTERSALES_DATABASE_URL", db_url)
    monkeypatch.delenv("AFTERSALES_SECRET_KEY", raising=False)
    monkeypatch.delenv("AFTERSALES_SECRET_KEY_FILE", raising=False)
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)
    return run


def key_file(db_url: str):
    return Path(db_url.removeprefix("sqlite:///")).parent / "secret_key"


# ------------------------------------------------------------------ the secret key

def test_init_writes_a_private_random_key_beside_the_database_once(cli, db_url):
    result = cli("init")
    assert result.exit_code == 0, result.output
    path = key_file(db_url)
    assert f"secret key written: {path}" in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) >= 32 and key != "dev-only-change-me"
    again = cli("init")
    assert "secret key written" not in again.output and path.read_text().strip() == key


def test_init_writes_no_file_when_the_key_comes_from_the_environment(cli, db_url, monkeypatch):
    monkeypatch.setenv("AFTERSALES_SECRET_KEY", GOOD_KEY)
    assert cli("init").exit_code == 0
    assert not key_file(db_url).exists()


def serve(db_url, **env):
    """`aftersales serve` in a process of its own, as an operator starts it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_SECRET")}
    environ.update(AFTERSALES_DATABASE_URL=db_url, **env)
    return subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", "1"], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env, problem", [
    ({}, "no secret key is set"),
    ({"AFTERSALES_SECRET_KEY": "dev-only-change-me"}, "a published one"),
    ({"AFTERSALES_SECRET_KEY": "short-key"}, "shorter than 32 characters"),
])
def test_serve_refuses_to_start_without_a_key_of_its_own(db_url, env, problem):
    result = serve(db_url, **env)
    assert result.returncode == 1
    assert problem in result.stderr
    assert "aftersales init" in result.stderr and "AFTERSALES_SECRET_KEY" in result.stderr
    assert "serving on" not in result.stdout


def test_serve_refuses_a_published_key_in_the_key_file(db_url):
    key_file(db_url).write_text("dev-only-change-me\n")
    result = serve(db_url)
    assert result.returncode == 1 and "a published one" in result.stderr


def test_the_scheduler_refuses_too(cli):
    result = cli("scheduler")
    assert result.exit_code == 1 and "no secret key is set" in result.output


def test_the_app_factory_refuses_outside_tests_and_reads_the_key_file(cli, db_url):
    with pytest.raises(Exception, match="refusing to start: no secret key is set"):
        create_app({"database_url": db_url})
    cli("init")
    app = create_app({"database_url": db_url})
    try:
        assert app.config["SECRET_KEY"] == key_file(db_url).read_text().strip()
    finally:
        app.extensions["aftersales"].engine.dispose()


# ------------------------------------------------------------------ accounts

@pytest.fixture
def app(cli, db_url, tmp_path):
    """The app the users reach over HTTP, on the database the commands change."""
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "TESTING": True, "SQL_DURABLE": False})
    populate(app.extensions["aftersales"])
    yield app
    app.extensions["aftersales"].engine.dispose()


def login(app, username, password=PASSWORD):
    return app.test_client().post("/api/auth/token",
                                  json={"username": username, "password": password})


def works(app, token) -> bool:
    return app.test_client().get("/api/tasks", headers={
        "Authorization": f"Bearer {token}"}).status_code == 200


def test_user_deactivate_ends_the_sign_ins_and_activate_lets_them_in_again(cli, app):
    token = login(app, "finance_1").get_json()["token"]
    result = cli("user", "deactivate", "finance_1")
    assert result.exit_code == 0 and "user finance_1 deactivated" in result.output
    assert not works(app, token) and login(app, "finance_1").status_code == 401
    assert cli("user", "activate", "finance_1").exit_code == 0
    assert login(app, "finance_1").status_code == 200


def test_user_reset_password_ends_the_sign_ins_made_with_the_old_one(cli, app):
    token = login(app, "finance_1").get_json()["token"]
    result = cli("user", "reset-password", "finance_1", input="another secret\nanother secret\n")
    assert result.exit_code == 0, result.output
    assert not works(app, token)
    assert login(app, "finance_1").status_code == 401
    assert login(app, "finance_1", "another secret").status_code == 200


def test_user_revoke_tokens_counts_what_it_ended(cli, app):
    tokens = [login(app, "finance_1").get_json()["token"] for _ in range(2)]
    result = cli("user", "revoke-tokens", "finance_1")
    assert result.exit_code == 0 and "2 sign-in(s) of finance_1 ended" in result.output
    assert not any(works(app, t) for t in tokens)


def test_an_unknown_user_is_named(cli, app):
    result = cli("user", "deactivate", "nobody")
    assert result.exit_code == 1 and result.stderr.splitlines() == ["Error: no user 'nobody'"]


def test_user_locks_and_unlock(cli, app):
    for _ in range(5):
        login(app, "finance_1", "wrong password")
    listed = cli("user", "locks")
    assert listed.output.startswith("account finance_1: 5 failures, locked until ")
    assert login(app, "finance_1").status_code == 429
    result = cli("user", "unlock", "finance_1")
    assert result.exit_code == 0 and "lockout of user finance_1 lifted" in result.output
    assert login(app, "finance_1").status_code == 200
    assert "no lockouts" in cli("user", "locks").output
    assert "was not locked out" in cli("user", "unlock", "--address", "10.1.1.1").output
