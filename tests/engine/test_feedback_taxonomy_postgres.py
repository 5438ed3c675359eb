"""Two first classifications at once on PostgreSQL deploy the shipped taxonomy once, and both
go on with version 1 (engine.feedback_taxonomy.current)."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from engine import feedback_taxonomy
from engine.models import FeedbackTaxonomy
from tests.conftest import ROOT


def test_two_first_filings_share_one_deployment(pg_sessions):
    first_inserted, second_done = threading.Event(), threading.Event()
    versions = {}

    def second():
        with pg_sessions.begin() as session:
            first_inserted.wait(10)
            versions["second"] = feedback_taxonomy.current(session, ROOT / "bpmn").version
        second_done.set()

    worker = threading.Thread(target=second)
    worker.start()
    with pg_sessions.begin() as session:
        versions["first"] = feedback_taxonomy.current(session, ROOT / "bpmn").version
        first_inserted.set()
        assert not second_done.wait(0.5)     # its insert waits for this transaction
    worker.join(10)
    assert versions == {"first": 1, "second": 1}
    with pg_sessions() as session:
        assert session.scalar(select(func.count()).select_from(FeedbackTaxonomy)) == 1
