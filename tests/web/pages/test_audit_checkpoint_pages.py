"""The auditor pages show the signed checkpoint of the global log: on the search page the
newest one and which instances it covers, on an instance's page whether its events are covered
and still what was checkpointed."""
from __future__ import annotations

from sqlalchemy import text

from engine.history import checkpoints
from tests.web.pages.conftest import select, table_rows
from tests.web.pages.test_audit_pages import html_of


def coverage_of(auditor, instance_id) -> str:
    html = html_of(auditor.get(f"/audit/instances/{instance_id}"))
    [section] = select(html, "section", "id", "checkpoint-coverage")
    return section["text"]


def sign(app):
    platform = app.extensions["aftersales"]
    checkpoints.ensure_key(platform.settings)
    return checkpoints.sign_head(platform.sessions, platform.settings)


def test_before_any_checkpoint_the_pages_say_so(browser, desk):
    filed = desk.file()
    auditor = browser("auditor")
    [head] = select(html_of(auditor.get("/audit")), "section", "id", "log-head")
    assert head["text"].startswith("No signed checkpoint yet")
    assert coverage_of(auditor, filed["instance_id"]).startswith("No signed checkpoint yet")


def test_a_checkpoint_covers_the_instances_until_they_move_on(app, browser, desk):
    first = desk.file()
    checkpoint = sign(app)
    second = desk.file("bob", order_id="O-1002", type="complaint")
    auditor = browser("auditor")
    html = html_of(auditor.get("/audit"))
    [head] = select(html, "section", "id", "log-head")
    assert f"{checkpoint.size} entries of the global log" in head["text"]
    assert checkpoint.key_id in head["text"]
    rows = {r[1]: r[7] for r in table_rows(html)}
    assert rows == {first["number"]: "covered", second["number"]: "waiting"}
    assert coverage_of(auditor, first["instance_id"]).startswith(
        "Covered by a signed checkpoint — all 1 events are in the global log")
    assert coverage_of(auditor, second["instance_id"]).startswith("Not yet checkpointed")


def test_an_event_changed_after_the_checkpoint_shows_on_its_page(app, browser, desk):
    filed = desk.file()
    sign(app)
    with app.extensions["aftersales"].sessions.begin() as session:   # as an attacker could
        session.execute(text("DROP TRIGGER audit_event_append_only"))
        session.execute(text("UPDATE audit_event SET actor = 'mallory' "
                             f"WHERE instance_id = {filed['instance_id']}"))
    [section] = select(html_of(browser("auditor").get(f"/audit/instances/{filed['instance_id']}")),
                       "section", "id", "checkpoint-coverage")
    assert "bad" in section["attrs"]["class"].split()
    assert section["text"].startswith("Differs from the signed checkpoint — event 1 (started) "
                                      "is not the leaf checkpointed at position")
