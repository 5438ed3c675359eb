"""bench/journey.py keeps working (at a tiny size; its figures are printed, not asserted)."""
from __future__ import annotations

from bench import journey


def test_the_journey_benchmark_runs_every_column():
    figures = journey.measure(n=4)     # a journey for each side of in_turn
    assert figures["in_process"]["statements"] > 50 and figures["in_process"]["control"] > 5
    for side in journey.SIDES:
        assert figures["in_turn"][side]["journeys_per_s"] > 0, side
    for floor in journey.FLOORS:
        assert figures["fixed_cost"][floor]["journeys_per_s"] > 0, floor
    for column in ("raw", "in_process", "http_1", "http_16", "http_16_2x2", "http_16_2x1",
                   "at_load_2x8", "at_load_2x1"):
        assert figures[column]["journeys_per_s"] > 0 and figures[column]["cpu_ms"] > 0, column
    assert figures["in_process"]["sign_in_us"] > 0
    report = journey.report(figures)
    assert "HTTP / in process (1 client)" in report and "under load, HTTP" in report
