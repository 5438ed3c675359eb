"""The heatmap's hours per element come from the element spans the write-back keeps (a span
opens when an element takes a token, closes when it gives it up), and agree with what a replay
of the same history says; instances without spans are replayed."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from engine import clock
from engine.access import SYSTEM
from engine.history import heatmap
from engine.models import ElementSpan, HumanTask
from tests.conftest import DATA


@pytest.fixture
def reviewed(deploy, run, sessions, staff):
    """A `simple` instance whose review took 2 hours (its timeout timer waiting alongside), then
    waiting 3 hours for the refund's result."""
    deploy(DATA / "simple")
    started = clock.now()
    instance = run("start", "simple", {"request_no": "AS-H1", "amount": 120.5}, SYSTEM)
    with sessions() as session:
        [review] = session.scalars(select(HumanTask.task_id).where(
            HumanTask.instance_id == instance.id))
    clock.advance(timedelta(hours=2))
    run("complete", review, {"approved": True, "note": "ok"}, staff["customer_service"])
    clock.advance(timedelta(hours=3))
    return instance, started


def hours(sessions, runtime, started):
    with sessions() as session:
        return heatmap.element_hours(session, runtime, "simple", started - timedelta(days=1),
                                     started + timedelta(days=1), clock.now())


def test_spans_open_and_close_with_the_tokens(reviewed, sessions):
    instance, started = reviewed
    with sessions() as session:
        spans = {s.bpmn_id: (s.started_at, s.ended_at) for s in session.scalars(
            select(ElementSpan).where(ElementSpan.instance_id == instance.id))}
    assert spans["review"] == spans["review_timeout"] == (started, started + timedelta(hours=2))
    assert spans["wait_refund"] == (started + timedelta(hours=2), None)      # still open


def test_hours_from_spans_agree_with_a_replay(reviewed, sessions, runtime):
    instance, started = reviewed
    average, visits, counted = hours(sessions, runtime, started)
    assert (average["review"], average["wait_refund"]) == (2.0, 3.0) and counted == 1
    with sessions.begin() as session:                  # as an instance from before spans
        session.execute(delete(ElementSpan).where(ElementSpan.instance_id == instance.id))
    assert hours(sessions, runtime, started)[:2] == (average, visits)
