"""engine/runtime/collector.py: a process that builds the product's runtime collects its young
generation every 20,000 allocations, and keeps a higher threshold it set itself."""
from __future__ import annotations

import gc

import pytest

from engine import platform
from engine.runtime import collector


@pytest.fixture
def threshold():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_building_the_runtime_raises_the_young_generations_threshold(threshold):
    gc.set_threshold(700, 10, 10)
    platform.runtime()
    assert gc.get_threshold() == (collector.YOUNG, 10, 10)


def test_a_higher_threshold_of_the_process_stays(threshold):
    gc.set_threshold(100_000, 20, 5)
    collector.tune()
    assert gc.get_threshold() == (100_000, 20, 5)
