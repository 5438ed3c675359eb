"""The routing table's service_tier (bpmn/routing.dmn) on raw SpiffWorkflow, with and without a
save/restore (the fixtures of test_flows_raw). Filings always carry repeat_complaints (the
customer's complaints of the last 30 days, engine.service_requests); raw starts of other types
(the benchmarks') may lack it: only the complaint rows read it."""
from __future__ import annotations

import pytest

from tests.bpmn.test_flows_raw import (REQUEST, Run, frozen_clock, specs,  # noqa: F401
                                       start)


@pytest.mark.parametrize("request_data, tier", [
    ({}, "L1"),
    ({"category": "3c", "amount": 5999.0}, "L2"),
    ({"customer_tier": "vip"}, "L2"),
    ({"type": "complaint", "customer_tier": "vip"}, "L2"),
    ({"type": "complaint"}, "L1"),
    ({"type": "complaint", "repeat_complaints": 1}, "L2"),
    ({"type": "complaint", "customer_tier": "vip", "repeat_complaints": 3}, "L2"),
    ({"type": "repair", "category": "3c"}, "expert"),
    ({"type": "repair", "category": "appliance"}, "L1"),
    ({"category": "fresh", "damage": True, "amount": 88.0}, "L1"),
])
def test_the_routing_table_gives_the_tier_a_request_needs(start, request_data, tier):  # noqa: F811
    assert start(**request_data).data("classify_request")["service_tier"] == tier


@pytest.mark.parametrize("save_restore", [False, True])
def test_a_raw_start_of_another_type_needs_no_complaint_count(specs, frozen_clock,  # noqa: F811
                                                              save_restore):
    data = {k: v for k, v in REQUEST.items() if k != "repeat_complaints"}
    run = Run(*specs["aftersales_request"], {**data, "category": "3c", "amount": 5999.0},
              save_restore)
    assert run.data("classify_request")["service_tier"] == "L2"
