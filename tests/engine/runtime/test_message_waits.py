"""The message buffer's drain asks the database for kept messages only while the instance
waits for one (engine.message_buffer.Drain): `projection.waits_for_a_message` must say so
exactly when the projection has a message subscription, at every step of the shipped flows."""
from __future__ import annotations

import pytest

from engine.runtime import projection
from tests.engine.runtime.test_flows import desk  # noqa: F401  (the flows' fixture)
from tests.engine.runtime.test_task_walk import FLOWS


@pytest.fixture
def compared(monkeypatch) -> list[bool]:
    """Every projection the test makes is checked against waits_for_a_message; yields the
    answers."""
    answers: list[bool] = []
    project = projection.project

    def checked(workflow):
        found = project(workflow)
        waits = any(not name.startswith(projection.SIGNAL_PREFIX)
                    for _task_id, name in found.messages)
        assert projection.waits_for_a_message(workflow) is waits
        answers.append(waits)
        return found
    monkeypatch.setattr(projection, "project", checked)
    return answers


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.__name__[5:45])
def test_a_workflow_waits_for_a_message_when_its_projection_subscribes_to_one(
        compared, desk, flow):  # noqa: F811
    flow(desk)
    assert True in compared and False in compared
