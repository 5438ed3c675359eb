"""bench/group_commit.py keeps working (at a tiny size; its figures are printed, not asserted)."""
from __future__ import annotations

from bench import group_commit


def test_the_group_commit_benchmark_runs():
    figures = group_commit.measure(n=6, clients=3)
    assert set(figures) == {"one_step", "two_step"}
    for runs in figures.values():
        assert set(runs) == set(group_commit.SETUPS)
        assert all(r["rate"] > 0 and r["commits_per_flush"] > 0 for r in runs.values())
