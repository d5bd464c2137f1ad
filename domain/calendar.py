"""A business calendar in Asia/Shanghai, so service-level deadlines count working time only.

A triage SLA of 24 working hours opened on the eve of the Spring Festival must not expire
during the holiday; and China's make-up working days (调休) put some Saturdays and Sundays
back to work. The holiday tables come from a maintained source (the `holidays` package), as
data, not logic.

Asia/Shanghai is a fixed UTC+08:00 (China has had no daylight saving time since 1991), so the
zone is a named fixed offset rather than a zoneinfo lookup: no tz database file is read inside
a workflow, and the Temporal sandbox (which proxies zoneinfo.ZoneInfo, so that datetime rejects
it as a tzinfo) is not involved.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta, tzinfo

import holidays
from holidays.countries.china import ChinaStaticHolidays
from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.vocabulary import SHANGHAI

TIMEZONE = "Asia/Shanghai"


def shanghai() -> tzinfo:
    """The calendar's time zone: UTC+08:00 named Asia/Shanghai (exact for dates after 1991)."""
    return SHANGHAI


# The PRC public holidays and make-up working days (调休) come from the `holidays` package,
# which keeps the General Office of the State Council's yearly notices (国务院办公厅关于部分节假
# 日安排的通知) as data. A year past the last published notice has its statutory holidays
# only, not yet the days off and working Saturdays the notice will add: warn before that.
PUBLISHED_THROUGH: int = max(ChinaStaticHolidays.special_public_holidays)
"""The last year whose State Council notice the installed `holidays` package holds."""


@functools.cache
def prc_days(first_year: int, last_year: int) -> tuple[frozenset[date], frozenset[date]]:
    """Days off (public holidays and the rest days swapped for them) and make-up working days
    of the PRC from `first_year` to `last_year`, inclusive."""
    prc = holidays.China(years=range(first_year, last_year + 1))
    days_off = frozenset(prc)
    make_up = frozenset(d for d in prc.weekend_workdays if first_year <= d.year <= last_year)
    return days_off - make_up, make_up


# A claim's policy carries its calendar (history holds it), so the default spans only the
# years its clocks can reach: the last published year, the one before, and the next one.
DEFAULT_YEARS = (PUBLISHED_THROUGH - 1, PUBLISHED_THROUGH + 1)


class BusinessCalendar(BaseModel):
    """Working hours on business days, in Asia/Shanghai. Weekdays: Monday is 0, Sunday 6."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # persisted in ServicePolicy

    working_start: time = time(9, 0)
    working_end: time = time(18, 0)
    weekend: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[date] = Field(default_factory=lambda: prc_days(*DEFAULT_YEARS)[0])
    make_up_workdays: frozenset[date] = Field(
        default_factory=lambda: prc_days(*DEFAULT_YEARS)[1]
    )

    @model_validator(mode="after")
    def _sane(self) -> BusinessCalendar:
        if self.working_start.tzinfo is not None or self.working_end.tzinfo is not None:
            raise ValueError("working hours are local Asia/Shanghai times, without a tzinfo")
        if self.working_start >= self.working_end:
            raise ValueError("working_start must be before working_end")
        if not self.weekend <= set(range(7)) or len(self.weekend) == 7:
            raise ValueError("weekend holds weekday numbers 0..6 and leaves a working day")
        if self.holidays & self.make_up_workdays:
            raise ValueError("a day cannot be both a holiday and a make-up working day")
        return self

    @property
    def known_through(self) -> int | None:
        """The last year with make-up working days: the last whose notice the calendar holds."""
        return max((d.year for d in self.make_up_workdays), default=None)

    def warning(self, today: date, ahead: timedelta = timedelta(days=60)) -> str | None:
        """Why this calendar needs attention within `ahead` of `today`, or None."""
        through = self.known_through
        if through is not None and today + ahead <= date(through, 12, 31):
            return None
        return (
            f"the business calendar knows the PRC's holidays and make-up working days through "
            f"{through}: later deadlines count statutory holidays at most; upgrade the "
            f"`holidays` package once the State Council publishes the next year, or set "
            f"CLAIMFLOW_BUSINESS_CALENDAR"
        )

    def is_business_day(self, d: date) -> bool:
        """Holidays are off, make-up working days are on, otherwise the weekend is off."""
        if d in self.holidays:
            return False
        if d in self.make_up_workdays:
            return True
        return d.weekday() not in self.weekend

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of working time after `start` (aware, in Asia/Shanghai)."""
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        cursor = _local(start, "start")
        remaining = duration
        if not remaining:
            return cursor
        day = cursor.date()
        while True:
            if self.is_business_day(day):
                opens, closes = self._hours(day)
                begin = max(cursor, opens)
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(0), shanghai())

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from a to b; negative when b is before a."""
        a, b = _local(a, "a"), _local(b, "b")
        if b < a:
            return -self.business_time_between(b, a)
        total = timedelta(0)
        day = a.date()
        while day <= b.date():
            if self.is_business_day(day):
                opens, closes = self._hours(day)
                lo, hi = max(a, opens), min(b, closes)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def _hours(self, d: date) -> tuple[datetime, datetime]:
        tz = shanghai()
        opens = datetime.combine(d, self.working_start, tz)
        return opens, datetime.combine(d, self.working_end, tz)


def _local(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(shanghai())
