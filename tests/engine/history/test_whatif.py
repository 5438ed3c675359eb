"""What-if: finished instances' recorded inputs against a candidate bundle, before deploying it."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.access import SYSTEM, Actor
from engine.definitions.bundle import Bundle
from engine.errors import InvalidDefinition
from engine.history import whatif
from engine.models import Definition
from tests.conftest import DATA, bundle_variant

SIMPLE = DATA / "simple"
V2 = DATA / "versions" / "v2"
V3 = DATA / "versions" / "v3"
CS = Actor("cs_1", "staff", "customer_service")
FIN = Actor("fin_1", "staff", "finance")


@pytest.fixture
def history(sessions, deploy, run, task_of):
    """Three finished refunds on v1: small and paid, large and paid, timed out."""
    deploy(SIMPLE)

    ids = {}
    for no, amount in (("AS-SMALL", 99.0), ("AS-LARGE", 5000.0)):
        ids[no] = run("start", "simple", {"request_no": no, "amount": amount}, SYSTEM).id
        clock.advance(timedelta(minutes=5))
        run("complete", task_of(ids[no]), {"approved": True, "note": "ok"}, CS)
        run("deliver_message", "refund_result", no, {"status": "paid"})
        run("complete", task_of(ids[no]), {"confirmed": True}, FIN)
    ids["AS-LATE"] = run("start", "simple", {"request_no": "AS-LATE", "amount": 5.0}, SYSTEM).id
    clock.advance(timedelta(days=2))
    run("fire_due_timers")
    ids["AS-OPEN"] = run("start", "simple", {"request_no": "AS-OPEN", "amount": 1.0}, SYSTEM).id
    return ids


def compare(sessions, runtime, folder, **kwargs):
    with sessions() as session:
        outcomes = whatif.whatif(session, Bundle.from_folder(folder),
                                 runtime.script_engine, **kwargs)
    return {o.business_key: o for o in outcomes}


def candidate(tmp_path, replacements, name="candidate"):
    return bundle_variant(SIMPLE, tmp_path / name, replacements)


def test_the_deployed_bundle_reproduces_every_finished_instance(sessions, runtime, history):
    outcomes = compare(sessions, runtime, SIMPLE)
    assert sorted(outcomes) == ["AS-LARGE", "AS-LATE", "AS-SMALL"]      # not the open one
    assert [o.divergence for o in outcomes.values()] == [None, None, None]
    assert outcomes["AS-SMALL"].events == 4


def test_stricter_condition_diverges_only_for_large_refunds(sessions, runtime, history):
    outcomes = compare(sessions, runtime, V3)
    assert not outcomes["AS-SMALL"].diverges and not outcomes["AS-LATE"].diverges
    large = outcomes["AS-LARGE"].divergence
    assert (large["seq"], large["kind"], large["element"]) == (2, "task_completed", "review")
    assert large["problem"] == "the candidate takes a different path"
    assert large["recorded"] == {"waiting": ["wait_refund"], "completed": ["refund"]}
    assert large["candidate"] == {"waiting": [], "completed": ["end_rejected"]}


def test_renamed_task_needs_the_mapping_then_the_new_form_and_removed_step_show(
        sessions, runtime, history):
    unmapped = compare(sessions, runtime, V2)["AS-SMALL"].divergence
    assert (unmapped["seq"], unmapped["recorded"], unmapped["candidate"]) == (
        1, {"ready": ["review"]}, {"ready": ["assess"]})
    outcomes = compare(sessions, runtime, V2, mapping={"review": "assess"})
    small = outcomes["AS-SMALL"].divergence
    assert (small["seq"], small["element"]) == (4, "confirm")
    assert small["problem"] == ("the recorded data does not fit the candidate's form: "
                                "reference: 'reference' is a required property")
    late = outcomes["AS-LATE"].divergence
    assert (late["kind"], late["recorded"], late["candidate"]) == (
        "timer_fired", {"completed": ["mark_timeout"]}, {"completed": []})


def test_a_later_timer_is_reported_as_not_due(sessions, runtime, history, tmp_path):
    slow = candidate(tmp_path, [('<bpmn:timeDuration>"P1D"</bpmn:timeDuration>',
                                 '<bpmn:timeDuration>"P3D"</bpmn:timeDuration>')])
    late = compare(sessions, runtime, slow)["AS-LATE"].divergence
    assert late["problem"] == "timer 'review_timeout' would not be due yet in the candidate"


def test_different_outcome_data_on_the_same_path(sessions, runtime, history, tmp_path):
    relabel = candidate(tmp_path, [('label = f"req {request_no}"', 'label = f"request {request_no}"')])
    outcomes = compare(sessions, runtime, relabel, instance_ids=[history["AS-SMALL"]])
    small = outcomes["AS-SMALL"].divergence
    assert small["problem"] == "different outcome data"
    assert (small["recorded"], small["candidate"]) == ({"label": "req AS-SMALL"},
                                                       {"label": "request AS-SMALL"})


def test_choice_of_instances_and_refusals(sessions, runtime, history, tmp_path):
    outcomes = compare(sessions, runtime, SIMPLE, limit=1)
    assert list(outcomes) == ["AS-LATE"]                     # the most recently finished
    open_one = compare(sessions, runtime, SIMPLE, instance_ids=[history["AS-OPEN"]])["AS-OPEN"]
    assert open_one.divergence["problem"] == "instance is running: only finished instances can be compared"
    broken = candidate(tmp_path, [('targetRef="decide"', 'targetRef="nowhere"')], "broken")
    with pytest.raises(InvalidDefinition):
        compare(sessions, runtime, broken)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Definition)) == 2   # nothing deployed


def test_a_candidate_that_asks_another_refund_on_the_same_path_says_how_much(
        sessions, runtime, history, tmp_path):
    """The path is the same, the money is not: the refund's amount rule changed."""
    from engine.history import whatif_report
    cheaper = candidate(tmp_path, [('<spiffworkflow:parameter id="amount" type="number" '
                                    'value="amount"/>', '<spiffworkflow:parameter id="amount" '
                                    'type="number" value="amount - 9"/>')])
    outcomes = compare(sessions, runtime, cheaper)
    assert outcomes["AS-SMALL"].divergence is None
    assert outcomes["AS-SMALL"].asked == {"payment.refund": Decimal("90.00")}
    assert compare(sessions, runtime, SIMPLE)["AS-SMALL"].asked == \
        {"payment.refund": Decimal("99.00")}
    with sessions() as session:
        report = whatif_report.run(session, Bundle.from_folder(cheaper), runtime.script_engine,
                                   days=30, limit=10, now=clock.now())
    assert report["diverging"] == 0
    assert (report["paid_otherwise"], report["refund_difference"]) == (2, Decimal("-18.00"))
