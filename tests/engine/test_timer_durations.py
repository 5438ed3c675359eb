"""Timer durations are bounded (at most ten years, never negative) before SpiffWorkflow reads
them: it counts a duration's months one by one ('P999999999Y' looped for minutes)."""
import pytest

from engine.business_time import timer_cycle_error, timer_duration_error


@pytest.mark.parametrize("text", ["P1D", "PT4H", "P1W", "PT1.5H", "P10Y", "P120M", "P3660D",
                                  "PT87840H", "p2d", "P1,5D"])
def test_durations_within_ten_years_pass(text):
    assert timer_duration_error(text) is None


@pytest.mark.parametrize("text, reason", [
    ("P11Y", "too long"), ("P999999999Y", "too long"), ("P3000000D", "too long"),
    ("PT87841H", "too long"), ("P" + "9" * 5000 + "Y", "too long a text"),
    ("-P1D", "negative"), ("P-1D", "negative"), ("PT-4H", "negative"),
    (5, "not int"), (None, "not NoneType"),
])
def test_long_negative_and_non_text_durations_are_refused(text, reason):
    assert reason in timer_duration_error(text)


@pytest.mark.parametrize("text", ["R3/PT1H", "R/PT1H", "R/2030-01-31T09:00:00+08:00/P1D",
                                  "R3/P1D/2030-01-02T00:00:00Z", "R0/PT1M"])
def test_cycles_with_bounded_intervals_pass(text):
    assert timer_cycle_error(text) is None


@pytest.mark.parametrize("text, reason", [
    ("R/PT0S", "longer than nothing"), ("R3/P0D", "longer than nothing"),
    ("R-1/PT1H", "negative number of times"), ("R3/P11Y", "too long"),
    ("R/2030-01-01T00:00:00Z/-P1D", "negative"), (3, "not int"),
])
def test_cycles_that_would_spin_or_overrun_are_refused(text, reason):
    assert reason in timer_cycle_error(text)
