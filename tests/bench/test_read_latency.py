"""bench/read_latency.py keeps working (at a tiny size; its figures are printed, not asserted)."""
from __future__ import annotations

from bench import read_latency


def test_the_read_latency_benchmark_runs():
    figures = read_latency.measure(reads=5, writers=1, per_writer=2)
    assert set(figures) == {"idle_p50", "idle_p95", "loaded_p50", "loaded_p95", "ratio_p95",
                            "writes"}
    assert figures["idle_p95"] > 0 and figures["loaded_p95"] > 0
