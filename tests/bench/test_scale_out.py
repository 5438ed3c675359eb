"""bench/scale_out.py keeps working (at a tiny size; its figures are printed, not asserted).
Needs the PostgreSQL server of AFTERSALES_TEST_PG_URL."""
from __future__ import annotations

import os

import pytest

from bench import scale_out

PG_URL = os.environ.get("AFTERSALES_TEST_PG_URL")


@pytest.mark.skipif(not PG_URL, reason="AFTERSALES_TEST_PG_URL is not set")
def test_the_scale_out_benchmark_runs():
    figures = scale_out.measure(PG_URL, n=2, workers=(1,), clients=2, schedulers=1)
    for run in (figures["postgres"][1], figures["sqlite"]):
        assert run["journeys_per_s"] > 0 and run["server_ms"] > 0
    assert "PostgreSQL, 1 worker(s)" in scale_out.report(figures, clients=2)
