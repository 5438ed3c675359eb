"""A process that refunds as it starts (a process owner's instant refund): the filing writes its
request row once the process's first steps have run (on PostgreSQL outside the transaction)
but before the payment book checks what they ask, so the refund is reserved against the
request's own amount."""
from __future__ import annotations

import pytest

from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from tests.conftest import bundle_variant
from tests.web.conftest import FIXTURE_BUNDLE, file_request


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, db_url):
    return db_url if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_a_process_that_refunds_as_it_starts_finds_its_request(auth, platform, tmp_path):
    variant = bundle_variant(FIXTURE_BUNDLE, tmp_path / "aftersales", [(
        '<bpmn:sequenceFlow id="f_return" sourceRef="which_type" targetRef="review"/>',
        '<bpmn:sequenceFlow id="f_return" sourceRef="which_type" targetRef="issue_refund"/>')],
        main="aftersales_request.bpmn")
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(variant), "owner")
    filed = file_request(auth, "alice", order_id="O-1001", type="return_refund")
    payments = auth.as_("finance_1").get(f"/api/requests/{filed['number']}/payments")
    assert [(p["kind"], p["amount"], p["status"]) for p in payments.get_json()["items"]] == \
        [("refund", "299.00", "pending")]
