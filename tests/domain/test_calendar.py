from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.calendar import (
    DEFAULT_YEARS,
    PUBLISHED_THROUGH,
    BusinessCalendar,
    prc_days,
)


def _span(first: date, last: date) -> frozenset[date]:
    return frozenset(first + timedelta(days=n) for n in range((last - first).days + 1))


# The 2026 days off and make-up working days as the State Council published them on 2025-11-04
# (国务院办公厅关于2026年部分节假日安排的通知), written out by hand: the package must agree.
NOTICE_2026_DAYS_OFF = frozenset().union(
    _span(date(2026, 1, 1), date(2026, 1, 3)),  # New Year's Day 元旦
    _span(date(2026, 2, 15), date(2026, 2, 23)),  # Spring Festival 春节
    _span(date(2026, 4, 4), date(2026, 4, 6)),  # Qingming 清明节
    _span(date(2026, 5, 1), date(2026, 5, 5)),  # Labour Day 劳动节
    _span(date(2026, 6, 19), date(2026, 6, 21)),  # Dragon Boat Festival 端午节
    _span(date(2026, 9, 25), date(2026, 9, 27)),  # Mid-Autumn Festival 中秋节
    _span(date(2026, 10, 1), date(2026, 10, 7)),  # National Day 国庆节
)
NOTICE_2026_MAKE_UP = frozenset(
    {date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
     date(2026, 9, 20), date(2026, 10, 10)}
)  # fmt: skip

SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar()
H = timedelta(hours=1)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_business_days() -> None:
    assert CAL.is_business_day(date(2026, 3, 2))  # Monday
    assert not CAL.is_business_day(date(2026, 3, 7))  # Saturday
    assert not CAL.is_business_day(date(2026, 3, 8))  # Sunday
    assert not CAL.is_business_day(date(2026, 10, 1))  # National Day, Thursday
    assert CAL.is_business_day(date(2026, 10, 10))  # make-up Saturday
    assert CAL.is_business_day(date(2026, 1, 4))  # make-up Sunday


def test_the_package_agrees_with_the_2026_notice() -> None:
    days_off, make_up = prc_days(2026, 2026)
    assert make_up == NOTICE_2026_MAKE_UP
    # The package lists the days off that fall on weekdays; a weekend is off anyway.
    assert days_off <= NOTICE_2026_DAYS_OFF
    assert {d for d in NOTICE_2026_DAYS_OFF if d.weekday() < 5} <= days_off
    day = date(2026, 1, 1)
    notice = BusinessCalendar(holidays=NOTICE_2026_DAYS_OFF, make_up_workdays=NOTICE_2026_MAKE_UP)
    while day.year == 2026:
        assert CAL.is_business_day(day) == notice.is_business_day(day), day
        day += timedelta(days=1)


def test_every_published_year() -> None:
    """Every year since 2001 has its notice: the Spring Festival off, some Saturday or Sunday
    worked (a year whose notice moved no weekend would be a gap in the data, not a fact)."""
    for year in range(2001, PUBLISHED_THROUGH + 1):
        days_off, make_up = prc_days(year, year)
        assert any(d.month in (1, 2) for d in days_off), year
        assert make_up and all(d.weekday() >= 5 and d.year == year for d in make_up), year
        assert not days_off & make_up
    assert DEFAULT_YEARS == (PUBLISHED_THROUGH - 1, PUBLISHED_THROUGH + 1)
    assert {d.year for d in CAL.holidays} == set(range(DEFAULT_YEARS[0], DEFAULT_YEARS[1] + 1))


def test_a_warning_before_the_calendar_runs_out() -> None:
    assert CAL.known_through == PUBLISHED_THROUGH
    end = date(PUBLISHED_THROUGH, 12, 31)
    assert CAL.warning(end - timedelta(days=61)) is None
    warning = CAL.warning(end - timedelta(days=59))
    assert warning is not None and f"through {PUBLISHED_THROUGH}" in warning
    assert CAL.warning(end + timedelta(days=1)) is not None
    assert BusinessCalendar(holidays=frozenset(), make_up_workdays=frozenset()).warning(end)


def test_within_one_day() -> None:
    assert CAL.add_business_time(at(2026, 3, 2, 10), 3 * H) == at(2026, 3, 2, 13)
    assert CAL.add_business_time(at(2026, 3, 2, 10), 8 * H) == at(2026, 3, 2, 18)


def test_time_outside_working_hours_is_skipped() -> None:
    assert CAL.add_business_time(at(2026, 3, 2, 17), 2 * H) == at(2026, 3, 3, 10)
    assert CAL.add_business_time(at(2026, 3, 2, 6), 1 * H) == at(2026, 3, 2, 10)
    assert CAL.add_business_time(at(2026, 3, 2, 22), 1 * H) == at(2026, 3, 3, 10)


def test_weekend_is_skipped() -> None:
    # Friday 16:00 + 4h -> Monday 11:00
    assert CAL.add_business_time(at(2026, 3, 6, 16), 4 * H) == at(2026, 3, 9, 11)
    # started on Saturday: counted from Monday 09:00
    assert CAL.add_business_time(at(2026, 3, 7, 12), 1 * H) == at(2026, 3, 9, 10)


def test_holiday_is_skipped() -> None:
    # Wednesday 30 September 17:00 + 2h: National Day runs 1-7 October, back on Thursday 8th
    assert CAL.add_business_time(at(2026, 9, 30, 17), 2 * H) == at(2026, 10, 8, 10)


def test_make_up_workday_is_counted() -> None:
    # Friday 13 February 17:00 + 2h -> Saturday 14 February (make-up day) 10:00
    assert CAL.add_business_time(at(2026, 2, 13, 17), 2 * H) == at(2026, 2, 14, 10)
    # and then the Spring Festival: Saturday 14th 17:00 + 2h -> Tuesday 24th 10:00
    assert CAL.add_business_time(at(2026, 2, 14, 17), 2 * H) == at(2026, 2, 24, 10)


def test_triage_sla_of_24_working_hours() -> None:
    # Monday 09:00 + 24 working hours (9h/day) -> Wednesday 15:00
    assert CAL.add_business_time(at(2026, 3, 2, 9), 24 * H) == at(2026, 3, 4, 15)


def test_result_is_in_shanghai_even_for_utc_input() -> None:
    start = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    end = CAL.add_business_time(start, 1 * H)
    assert end == at(2026, 3, 2, 11)
    assert end.utcoffset() == timedelta(hours=8)
    assert str(end.tzinfo) == "Asia/Shanghai"


def test_zero_duration() -> None:
    start = at(2026, 3, 7, 12)
    assert CAL.add_business_time(start, timedelta(0)) == start
    assert CAL.business_time_between(start, start) == timedelta(0)


def test_between() -> None:
    assert CAL.business_time_between(at(2026, 3, 6, 16), at(2026, 3, 9, 11)) == 4 * H
    assert CAL.business_time_between(at(2026, 3, 9, 11), at(2026, 3, 6, 16)) == -4 * H
    assert CAL.business_time_between(at(2026, 10, 1), at(2026, 10, 8)) == timedelta(0)
    assert CAL.business_time_between(at(2026, 3, 2, 19), at(2026, 3, 3, 8)) == timedelta(0)


def test_naive_is_rejected() -> None:
    with pytest.raises(ValueError):
        CAL.add_business_time(datetime(2026, 3, 2, 10), H)
    with pytest.raises(ValueError):
        CAL.business_time_between(datetime(2026, 3, 2, 10), at(2026, 3, 2, 11))
    with pytest.raises(ValueError):
        CAL.business_time_between(at(2026, 3, 2, 10), datetime(2026, 3, 2, 11))


def test_negative_duration_is_rejected() -> None:
    with pytest.raises(ValueError):
        CAL.add_business_time(at(2026, 3, 2, 10), -H)


def test_calendar_validates() -> None:
    with pytest.raises(ValidationError):
        BusinessCalendar(working_start=time(18), working_end=time(9))
    with pytest.raises(ValidationError):
        BusinessCalendar(weekend=frozenset(range(7)))
    with pytest.raises(ValidationError):
        BusinessCalendar(holidays=frozenset({date(2026, 1, 4)}))


def test_custom_calendar() -> None:
    cal = BusinessCalendar(
        working_start=time(8, 30),
        working_end=time(17, 30),
        weekend=frozenset({6}),
        holidays=frozenset(),
        make_up_workdays=frozenset(),
    )
    assert cal.is_business_day(date(2026, 10, 3))  # Saturday, not a weekend day here
    assert cal.add_business_time(at(2026, 10, 3, 17), H) == at(2026, 10, 5, 9)


def test_calendar_round_trips_through_json() -> None:
    assert BusinessCalendar.model_validate_json(CAL.model_dump_json()) == CAL


# --- properties -------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31), timezones=st.just(SH)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60))


@given(starts, durations)
def test_add_then_between_round_trips(start: datetime, duration: timedelta) -> None:
    end = CAL.add_business_time(start, duration)
    assert end >= start
    assert CAL.business_time_between(start, end) == duration


@given(starts, st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=60)))
def test_deadline_falls_in_working_hours(start: datetime, duration: timedelta) -> None:
    end = CAL.add_business_time(start, duration)
    assert CAL.is_business_day(end.date())
    assert CAL.working_start < end.timetz().replace(tzinfo=None) <= CAL.working_end


@given(starts, durations, durations)
def test_add_is_monotonic_and_composes(start: datetime, d1: timedelta, d2: timedelta) -> None:
    low, high = sorted((d1, d2))
    assert CAL.add_business_time(start, low) <= CAL.add_business_time(start, high)
    assert CAL.add_business_time(CAL.add_business_time(start, d1), d2) == CAL.add_business_time(
        start, d1 + d2
    )


@given(
    st.datetimes(
        min_value=datetime(1992, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
def test_fixed_offset_agrees_with_the_tz_database(value: datetime) -> None:
    from domain.calendar import shanghai

    ours, tzdb = value.astimezone(shanghai()), value.astimezone(SH)
    assert ours.replace(tzinfo=None) == tzdb.replace(tzinfo=None)
    assert ours.utcoffset() == tzdb.utcoffset()
