"""bench/editor_checks.py keeps working (a few runs; its figures are printed, not asserted)."""
from __future__ import annotations

from bench import editor_checks


def test_the_editor_benchmark_validates_the_changed_draft():
    figures = editor_checks.measure(2)
    assert figures["files"] > 1 and figures["validate_p95_ms"] > 0 and figures["check_p95_ms"] > 0
