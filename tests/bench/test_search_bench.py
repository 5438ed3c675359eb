"""bench/search.py keeps working (at a tiny size; its figures are printed, not asserted)."""
from __future__ import annotations

from bench import search


def test_the_search_benchmark_runs_and_finds_every_key():
    figures = search.measure(200, queries=10)
    assert figures["found"] == 10 and set(figures["by_kind"]) == set(search.KINDS)
    assert figures["p95_ms"] > 0
