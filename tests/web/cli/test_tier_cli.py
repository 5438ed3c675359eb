"""`aftersales tier set|list`, as an admin runs it."""
from __future__ import annotations

from tests.web.cli.test_cli import cli  # noqa: F401  (the fixture: the command on a test database)


def test_tier_set_and_list(cli):  # noqa: F811
    assert cli("user", "add", "lin", "--role", "staff", "--department", "customer_service",
               "--password", "correct horse battery").exit_code == 0
    assert cli("tier", "set", "lin", "expert").output == "lin: expert\n"
    assert cli("tier", "list").output == "lin\texpert\n"
    refused = cli("tier", "set", "nobody", "L2")
    assert refused.exit_code == 1 and "user nobody does not exist" in refused.stderr
