"""Drafts in the engine (engine/definitions/drafts.py): what a draft starts from, and two
owners saving the same revision at once on PostgreSQL (row locks): one revision, one Conflict."""
from __future__ import annotations

import threading

import pytest

from engine.access import Actor
from engine.definitions import catalog, drafts
from engine.definitions.bundle import Bundle
from engine.errors import Conflict, InvalidInput
from tests.conftest import DATA

OWNER = Actor("owner", "process_owner")


def test_a_draft_starts_from_the_closure_deploy_would_version(sessions, deploy):
    deploy(DATA / "simple")
    with sessions() as session:
        files, base = drafts.deployed_files(session, "simple")
    assert base == {"simple": 1}
    assert sorted(files) == ["forms/confirm.json", "forms/review.json",
                             "messages/refund_result.json", "simple.bpmn"]
    # Deploying the files unchanged versions nothing.
    with sessions.begin() as session:
        deployed = catalog.deploy(session, drafts.bundle_of(files), "owner")
    assert [(d.process_key, d.version, d.created) for d in deployed] == [("simple", 1, False)]


@pytest.mark.parametrize("files, says", [
    ({"simple.bpmn": "x", "../x.bpmn": "y"}, "is not a file name"),
    ({"a/b/c.bpmn": "x"}, "is not a file name"),
    ({"forms/only.json": "{}"}, "no .bpmn or .dmn file"),
    ({"simple.bpmn": "x" * 50}, "larger than 40 bytes"),
])
def test_files_that_cannot_be_a_bundle_are_refused(files, says):
    with pytest.raises(InvalidInput) as refused:
        drafts.checked_files(files, 40)
    assert refused.value.field == "files" and says in refused.value.message


def test_two_saves_of_one_revision_at_once_make_one_revision_and_one_conflict(pg_sessions):
    with pg_sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(DATA / "simple"), "owner")
        files, base = drafts.deployed_files(session, "simple")
        draft_id = drafts.create(session, OWNER, "race", files, base=base).id
    barrier, outcomes = threading.Barrier(2), []

    def save(note):
        try:
            with pg_sessions.begin() as session:
                drafts.get(session, OWNER, draft_id)
                barrier.wait(timeout=10)
                drafts.save(session, OWNER, draft_id, files, base_revision=1, note=note)
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "saved"]
    with pg_sessions() as session:
        shown = drafts.show(session, drafts.get(session, OWNER, draft_id))
    assert [h["revision"] for h in shown["history"]] == [2, 1]
