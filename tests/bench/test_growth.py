"""bench/growth.py keeps working (at a tiny size; its figures are printed, not asserted)."""
from __future__ import annotations

from bench import growth


def test_the_growth_benchmark_runs():
    figures = growth.measure(ages=(0, 3), verbs=2)
    assert set(figures) == {0, 3}
    young, older = figures[0], figures[3]
    assert set(young) == {"verb_ms", "verb_cpu_ms", "raw_ms", "raw_cpu_ms", "ratio",
                          "cpu_ratio", "state_bytes", "replay_s", "events"}
    # Every completion is one event: the start, then 2 timed at age 0, 1 + 2 more by age 3.
    assert (young["events"], older["events"]) == (3, 6)
    assert older["state_bytes"] > young["state_bytes"] > 0
