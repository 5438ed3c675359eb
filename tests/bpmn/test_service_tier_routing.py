"""The routing table's service_tier (bpmn/routing.dmn) on raw SpiffWorkflow, with and without a
save/restore (the fixtures of test_flows_raw)."""
from __future__ import annotations

import pytest

from tests.bpmn.test_flows_raw import frozen_clock, specs, start  # noqa: F401  (fixtures)


@pytest.mark.parametrize("request_data, tier", [
    ({}, "L1"),
    ({"category": "3c", "amount": 5999.0}, "L2"),
    ({"customer_tier": "vip"}, "L2"),
    ({"type": "complaint", "customer_tier": "vip"}, "L2"),
    ({"type": "complaint"}, "L1"),
    ({"type": "repair", "category": "3c"}, "expert"),
    ({"type": "repair", "category": "appliance"}, "L1"),
    ({"category": "fresh", "damage": True, "amount": 88.0}, "L1"),
])
def test_the_routing_table_gives_the_tier_a_request_needs(start, request_data, tier):  # noqa: F811
    assert start(**request_data).data("classify_request")["service_tier"] == tier
