import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from engine.business_time import BusinessCalendar, parse_duration
from engine.config import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
# China's 2024 National Day: 1-7 October off, Sunday 29 September and Saturday 12 October worked.
NATIONAL_DAY = tuple(f"2024-10-0{d}" for d in range(1, 8))
MAKE_UP = ("2024-09-29", "2024-10-12")


def sh(*args):
    return datetime(2024, *args, tzinfo=SHANGHAI)


@pytest.fixture
def cal():
    return BusinessCalendar()


def test_within_a_day(cal):
    due = cal.add(sh(3, 4, 10), "PT4H")            # Monday 10:00
    assert due == sh(3, 4, 14)
    assert due.utcoffset() == timedelta(0)
    assert due.tzinfo is timezone.utc


def test_spanning_the_evening_continues_next_morning(cal):
    assert cal.add(sh(3, 4, 16), "PT4H") == sh(3, 5, 11)
    assert cal.add(sh(3, 4, 17, 30), "PT30M") == sh(3, 4, 18)   # due at closing, not next opening


def test_start_on_weekend_or_at_night_counts_from_next_opening(cal):
    assert cal.add(sh(3, 2, 11), "PT4H") == sh(3, 4, 13)         # Saturday -> Monday
    assert cal.add(sh(3, 5, 3), "PT30M") == sh(3, 5, 9, 30)      # Tuesday 03:00
    assert cal.add(sh(3, 4, 20), "PT1H") == sh(3, 5, 10)         # Monday evening
    assert cal.add(sh(3, 8, 18), "PT1H") == sh(3, 11, 10)        # Friday at closing


def test_start_given_in_another_zone(cal):
    start = datetime(2024, 3, 4, 2, tzinfo=timezone.utc)         # 10:00 in Shanghai
    assert cal.add(start, "PT4H") == datetime(2024, 3, 4, 6, tzinfo=timezone.utc)


def test_p2d_across_a_weekend(cal):
    assert cal.add(sh(3, 1, 15), "P2D") == sh(3, 5, 15)          # Friday -> Tuesday
    assert cal.add(sh(3, 1, 17), "P1DT2H") == sh(3, 5, 10)
    assert cal.add(sh(3, 2, 12), "P1D") == sh(3, 4, 18)          # Saturday: one full Monday
    assert cal.add(sh(3, 4, 9), "P2D") == sh(3, 5, 18)


def test_holidays_are_skipped():
    cal = BusinessCalendar(holidays=("2024-03-05", date(2024, 3, 6)))
    assert cal.add(sh(3, 4, 16), "PT4H") == sh(3, 7, 11)
    assert not cal.is_working_time(sh(3, 5, 10))
    assert cal.working_time_between(sh(3, 4, 9), sh(3, 8, 9)) == timedelta(hours=18)


def test_national_day_and_make_up_workdays():
    cal = BusinessCalendar(holidays=NATIONAL_DAY, extra_workdays=MAKE_UP)
    assert cal.add(sh(9, 30, 15), "P2D") == sh(10, 9, 15)
    assert cal.add(sh(10, 11, 15), "P1D") == sh(10, 12, 15)      # Saturday 12 October is worked
    assert cal.is_working_time(sh(9, 29, 10))                    # and so is Sunday 29 September
    without_make_up = BusinessCalendar(holidays=NATIONAL_DAY)
    assert without_make_up.add(sh(10, 11, 15), "P1D") == sh(10, 14, 15)


def test_is_working_time_boundaries(cal):
    assert cal.is_working_time(sh(3, 4, 9))
    assert not cal.is_working_time(sh(3, 4, 8, 59))
    assert not cal.is_working_time(sh(3, 4, 18))
    assert not cal.is_working_time(sh(3, 9, 12))                 # Saturday


def test_dst_zone_across_the_march_change():
    cal = BusinessCalendar(tz="Europe/Berlin")
    friday = datetime(2024, 3, 29, 15, tzinfo=BERLIN)            # CET, UTC+1
    assert cal.add(friday, "P1D") == datetime(2024, 4, 1, 13, tzinfo=timezone.utc)   # 15:00 CEST
    assert cal.add(datetime(2024, 3, 29, 16, tzinfo=BERLIN), "PT4H") == datetime(
        2024, 4, 1, 11, tzinfo=BERLIN)
    assert cal.working_time_between(friday, datetime(2024, 4, 1, 15, tzinfo=BERLIN)) == timedelta(hours=9)


def test_dst_free_zone_keeps_wall_clock_all_year(cal):
    assert cal.add(sh(3, 29, 15), "P1D") == datetime(2024, 4, 1, 7, tzinfo=timezone.utc)


@pytest.mark.parametrize("calendar", [
    BusinessCalendar(holidays=NATIONAL_DAY, extra_workdays=MAKE_UP),
    BusinessCalendar(tz="Europe/Berlin", start_hour=8, end_hour=17),
], ids=["shanghai", "berlin"])
def test_working_time_between_is_the_inverse_of_add(calendar):
    rng = random.Random(20240301)
    year = datetime(2024, 1, 1, tzinfo=timezone.utc)
    day_length = timedelta(hours=calendar.end_hour - calendar.start_hour)
    for _ in range(600):
        start = year + timedelta(minutes=rng.randrange(366 * 24 * 60))
        duration = timedelta(minutes=rng.randrange(60 * 60))
        due = calendar.add(start, duration)
        assert due >= start
        assert calendar.working_time_between(start, due) == duration, (start, duration)
        assert calendar.working_time_between(start, calendar.add(start, "P2D")) == 2 * day_length
        end = start + timedelta(minutes=rng.randrange(10 * 24 * 60))
        if calendar.is_working_time(end) and calendar.is_working_time(end - timedelta(minutes=1)) \
                and start < end - timedelta(minutes=1):
            assert calendar.add(start, calendar.working_time_between(start, end)) == end, (start, end)


def test_working_time_between_is_signed(cal):
    assert cal.working_time_between(sh(3, 4, 17), sh(3, 5, 10)) == timedelta(hours=2)
    assert cal.working_time_between(sh(3, 5, 10), sh(3, 4, 17)) == -timedelta(hours=2)
    assert cal.working_time_between(sh(3, 9, 10), sh(3, 10, 23)) == timedelta(0)   # weekend


def test_sla_status_in_its_three_states(cal):
    created = sh(3, 4, 10)
    due = cal.add(created, "PT4H")                               # 14:00
    assert cal.at_risk_at(created, due, 0.8) == sh(3, 4, 13, 12)
    assert cal.sla_status(created, due, sh(3, 4, 11)) == "on_time"
    assert cal.sla_status(created, due, sh(3, 4, 13, 12)) == "at_risk"
    assert cal.sla_status(created, due, sh(3, 4, 13, 30)) == "at_risk"
    assert cal.sla_status(created, due, sh(3, 4, 14)) == "breached"
    assert cal.sla_status(created, due, sh(3, 4, 13, 30), at_risk_fraction=0.9) == "on_time"


def test_sla_risk_is_measured_in_business_time_not_wall_time(cal):
    created = sh(3, 4, 16)
    due = cal.add(created, "PT4H")                               # Tuesday 11:00
    # 16 of the 19 wall-clock hours have passed, but only 2 of the 4 working hours.
    assert cal.sla_status(created, due, sh(3, 5, 8)) == "on_time"
    assert cal.at_risk_at(created, due, 0.8) == sh(3, 5, 10, 12)


@pytest.mark.parametrize("text, expected", [
    ("PT4H", (0, timedelta(hours=4))),
    ("P2D", (2, timedelta(0))),
    ("PT30M", (0, timedelta(minutes=30))),
    ("P1DT2H", (1, timedelta(hours=2))),
    ("PT1.5H", (0, timedelta(minutes=90))),
    (" pt45s ", (0, timedelta(seconds=45))),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "4H", "P", "PT", "P1W", "P1Y", "P1M", "-PT4H", "PT4X",
                                  "P1.5D", "PT4H30", "P2DT", "PT99999999999999H"])
def test_bad_durations_are_rejected_with_the_text(cal, text):
    with pytest.raises(ValueError) as excinfo:
        parse_duration(text)
    assert repr(text) in str(excinfo.value)
    with pytest.raises(ValueError):
        cal.add(sh(3, 4, 10), text)


def test_bad_inputs_are_rejected(cal):
    with pytest.raises(ValueError, match="naive"):
        cal.add(datetime(2024, 3, 4, 10), "PT1H")
    with pytest.raises(ValueError, match="non-negative"):
        cal.add(sh(3, 4, 10), timedelta(hours=-1))
    with pytest.raises(ValueError, match="Mars/Olympus"):
        BusinessCalendar(tz="Mars/Olympus")
    with pytest.raises(ValueError, match="2024-13-01"):
        BusinessCalendar(holidays=("2024-13-01",))
    with pytest.raises(ValueError, match="2024-10-12"):
        BusinessCalendar(holidays=("2024-10-12",), extra_workdays=("2024-10-12",))
    with pytest.raises(ValueError, match="start < end"):
        BusinessCalendar(start_hour=18, end_hour=9)
    with pytest.raises(ValueError, match="fraction"):
        cal.at_risk_at(sh(3, 4, 10), sh(3, 4, 14), 1.5)


def test_from_settings():
    settings = Settings(timezone="Europe/Berlin", work_start_hour=8, work_end_hour=16,
                        holidays=("2024-04-01",))
    cal = BusinessCalendar.from_settings(settings)
    assert cal.add(datetime(2024, 3, 29, 15, tzinfo=BERLIN), "PT2H") == datetime(
        2024, 4, 2, 9, tzinfo=BERLIN)


def test_long_durations_step_day_by_day(cal):
    # 250 working days is about a year; fast because each step is a whole day.
    due = cal.add(sh(1, 2, 10), "P250D")
    assert cal.working_time_between(sh(1, 2, 10), due) == timedelta(hours=9 * 250)
    assert due.astimezone(SHANGHAI).hour == 10


@pytest.mark.parametrize("text", ["P3661D", "PT8785H", "P3000000D", "PT527041M",
                                  "P" + "9" * 5000 + "D"])
def test_durations_past_the_bound_are_refused_at_once(cal, text):
    # P3000000D used to be stepped day by day for seconds before an OverflowError.
    with pytest.raises(ValueError, match="too long: the business calendar counts at most P3660D"):
        parse_duration(text)
    with pytest.raises(ValueError, match="too long"):
        cal.add(sh(3, 4, 10), text)


def test_the_longest_durations_still_get_a_due_time():
    # Even in a calendar of one working hour a week (about 170 years of Mondays for PT8784H).
    sparse = BusinessCalendar(start_hour=9, end_hour=10, workdays=(0,))
    start = sh(3, 4, 10)
    assert parse_duration("P3660DT8784H") == (3660, timedelta(hours=8784))
    due = sparse.add(start, "PT8784H")
    assert sparse.working_time_between(start, due) == timedelta(hours=8784)
    assert BusinessCalendar().add(start, "P3660D").year == 2038


# -- holidays and make-up workdays from the settings and a calendar file ----------------------

def test_make_up_workdays_by_setting_and_holidays_by_file_both_count(tmp_path):
    from engine.config import from_env
    listed = tmp_path / "calendar.txt"
    listed.write_text("# 国庆节 National Day\n2026-10-01 holiday\n2026-10-02 Holiday  # 节\n\n"
                      "2026-10-10 workday\n", encoding="utf-8")
    settings = from_env({"AFTERSALES_EXTRA_WORKDAYS": "2026-09-27, 2026-10-11",
                         "AFTERSALES_CALENDAR_FILE": str(listed),
                         "AFTERSALES_HOLIDAYS": "2026-10-05"})
    cal = BusinessCalendar.from_settings(settings)
    assert [cal.is_workday(date(2026, 10, d)) for d in (1, 2, 5, 10, 11)] == [
        False, False, False, True, True]
    assert cal.is_workday(date(2026, 9, 27))                   # a Sunday, worked
    # Friday 09-25 17:00 + 4 business hours: 1 on Friday, 3 on the make-up Sunday.
    assert cal.add(datetime(2026, 9, 25, 17, tzinfo=SHANGHAI), "PT4H") == datetime(
        2026, 9, 27, 12, tzinfo=SHANGHAI)
    assert cal.special_days(date(2026, 9, 27), date(2026, 10, 5)) == [
        (date(2026, 9, 27), "extra_workday"), (date(2026, 10, 1), "holiday"),
        (date(2026, 10, 2), "holiday"), (date(2026, 10, 5), "holiday")]


def test_a_json_calendar_file(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_text('{"holidays": ["2027-01-01"], "extra_workdays": ["2027-01-04"]}')
    cal = BusinessCalendar.from_settings(Settings(calendar_file=path))
    assert not cal.is_workday(date(2027, 1, 1)) and cal.is_workday(date(2027, 1, 4))


@pytest.mark.parametrize("content, message", [
    ("2026-10-01 vacation\n", "line 1: expected a date and 'holiday' or 'workday'"),
    ("\n2026-13-01 holiday\n", "invalid date on line 2"),
    ('{"holidays": "2026-10-01"}', "holidays must be a list"),
    ('{"holiday": []}', "unknown keys"),
    ("2026-10-01 holiday\n2026-10-01 workday\n", "both holiday and extra workday"),
])
def test_a_calendar_file_that_cannot_be_read_names_the_problem(tmp_path, content, message):
    path = tmp_path / "calendar.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.from_settings(Settings(calendar_file=path))
    with pytest.raises(ValueError, match="cannot be read"):
        BusinessCalendar.from_settings(Settings(calendar_file=tmp_path / "missing.txt"))
