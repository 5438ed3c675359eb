"""A process that calls itself, directly or through others, is refused at validation: SpiffWorkflow
would start it again at each call and `start` would never return."""
from __future__ import annotations

from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from engine.definitions.validation import validate_bundle
from tests.conftest import DATA

RECURSIVE = DATA / "recursive"
NO_END = "a process may not call itself, directly or through others"


def bundle_of(*names):
    return Bundle.from_paths([RECURSIVE / name for name in names])


def located(problems):
    return [(p.file, p.line, p.element_id) for p in problems]


def test_a_process_calling_itself_is_refused_at_its_call_activity():
    problems = catalog.validate(bundle_of("self_calling.bpmn"))
    assert located(problems) == [("self_calling.bpmn", 7, "call_self_calling")]
    assert "calls its own process (self_calling -> self_calling)" in problems[0].message
    assert NO_END in problems[0].message


def test_two_processes_calling_each_other_are_refused_in_both_files():
    problems = catalog.validate(bundle_of("ping.bpmn", "pong.bpmn"))
    assert located(problems) == [("ping.bpmn", 7, "call_pong"), ("pong.bpmn", 7, "call_ping")]
    assert "(ping -> pong -> ping)" in problems[0].message
    assert "(pong -> ping -> pong)" in problems[1].message


def test_a_cycle_through_a_deployed_process_is_refused_when_its_calls_are_known():
    ping = {"ping.bpmn": (RECURSIVE / "ping.bpmn").read_bytes()}
    assert validate_bundle(ping, {}, known_processes=["pong"]) == []
    problems = validate_bundle(ping, {}, known_processes={"pong": ["ping"]})
    assert located(problems) == [("ping.bpmn", 7, "call_pong")]
    assert "calls back (ping -> pong -> ping)" in problems[0].message


def test_the_upload_replaces_the_deployed_process_of_the_same_id():
    # Deployed pong called ping; the uploaded pong no longer does.
    pong = (RECURSIVE / "pong.bpmn").read_text().replace('calledElement="ping"',
                                                         'calledElement="other"')
    files = {"ping.bpmn": (RECURSIVE / "ping.bpmn").read_bytes(), "pong.bpmn": pong.encode()}
    assert validate_bundle(files, {}, known_processes={"pong": ["ping"], "other": []}) == []


def test_a_process_calling_into_a_cycle_is_not_itself_on_it():
    caller = (RECURSIVE / "self_calling.bpmn").read_text().replace(
        'calledElement="self_calling"', 'calledElement="ping"').replace("self_calling", "caller")
    files = {name: (RECURSIVE / name).read_bytes() for name in ("ping.bpmn", "pong.bpmn")}
    files["caller.bpmn"] = caller.encode()
    problems = validate_bundle(files, {})
    assert [p.element_id for p in problems] == ["call_pong", "call_ping"]


def test_a_cycle_through_what_is_deployed_is_refused(sessions):
    """Deployed: pong calls ping, ping calls nothing. Uploading a ping that calls pong closes
    the circle through the database."""
    ping_v1 = (RECURSIVE / "ping.bpmn").read_text().replace(
        '<bpmn:callActivity id="call_pong" name="Call pong" calledElement="pong"/>',
        '<bpmn:task id="call_pong" name="Call pong"/>')
    pong = (RECURSIVE / "pong.bpmn").read_bytes()
    with sessions.begin() as session:
        catalog.deploy(session, Bundle(files={"ping.bpmn": ping_v1.encode(), "pong.bpmn": pong}),
                       "owner")
    with sessions() as session:
        problems = catalog.validate_against_deployed(session, bundle_of("ping.bpmn"))
    # The deployed pong is read from its newest version, and shown as such.
    assert [(file, element) for file, _line, element in located(problems)] == [
        ("ping.bpmn", "call_pong"), ("pong.bpmn (deployed pong v1)", "call_ping")]
    assert "calls back (ping -> pong -> ping)" in problems[0].message
