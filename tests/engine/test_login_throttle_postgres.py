"""Login throttling on PostgreSQL, where workers really count at the same time: failed logins of
one account from ten workers at once are ten failures (none lost, no duplicate-key error), and
the lockout they cause holds for every worker."""
from __future__ import annotations

import threading

import pytest

from engine import config, login_throttle, users

pytestmark = pytest.mark.postgres
# The tenth failure locks: each of the ten is counted before any lockout can refuse one.
SETTINGS = config.Settings(login_account_failures=10)


def test_ten_failures_at_once_are_ten_and_lock_the_account(pg_sessions):
    with pg_sessions.begin() as session:
        users.create_user(session, "fin_pg", "right password", "staff", "finance",
                          method="pbkdf2:sha256:1000")
    start = threading.Barrier(10)
    errors: list = []

    def guess(i):
        start.wait()
        try:
            with pg_sessions.begin() as session:
                users.sign_in(session, SETTINGS, "fin_pg", "wrong password", f"10.0.0.{i}")
        except Exception as err:          # a lost race would be an IntegrityError here
            errors.append(err)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with pg_sessions.begin() as session:
        [lock] = login_throttle.locks(session)
        assert (lock["kind"], lock["name"], lock["failures"]) == ("account", "fin_pg", 10)
        refused = users.sign_in(session, SETTINGS, "fin_pg", "right password", "10.0.1.1")
        assert refused.user is None and refused.locked_until == lock["locked_until"]
