"""A business calendar in Asia/Shanghai, so service-level deadlines count working time only.

A triage SLA of 24 working hours opened on the eve of the Spring Festival must not expire
during the holiday; and China's make-up working days (调休) put some Saturdays and Sundays
back to work. The holiday tables are configuration kept as data, not logic.

Asia/Shanghai is a fixed UTC+08:00 (China has had no daylight saving time since 1991), so the
zone is a named fixed offset rather than a zoneinfo lookup: no tz database file is read inside
a workflow, and the Temporal sandbox (which proxies zoneinfo.ZoneInfo, so that datetime rejects
it as a tzinfo) is not involved.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from pydantic import BaseModel, ConfigDict, model_validator

from domain.vocabulary import SHANGHAI

TIMEZONE = "Asia/Shanghai"


def shanghai() -> tzinfo:
    """The calendar's time zone: UTC+08:00 named Asia/Shanghai (exact for dates after 1991)."""
    return SHANGHAI


def _span(first: date, last: date) -> frozenset[date]:
    return frozenset(first + timedelta(days=n) for n in range((last - first).days + 1))


# Configuration: the 2026 PRC public holidays and make-up working days, as published by the
# General Office of the State Council on 2025-11-04 (国务院办公厅关于2026年部分节假日安排的通知).
# Check them against the notice each year, and add the next year's when it is published.
PRC_HOLIDAYS_2026: frozenset[date] = frozenset().union(
    _span(date(2026, 1, 1), date(2026, 1, 3)),  # New Year's Day 元旦
    _span(date(2026, 2, 15), date(2026, 2, 23)),  # Spring Festival 春节
    _span(date(2026, 4, 4), date(2026, 4, 6)),  # Qingming 清明节
    _span(date(2026, 5, 1), date(2026, 5, 5)),  # Labour Day 劳动节
    _span(date(2026, 6, 19), date(2026, 6, 21)),  # Dragon Boat Festival 端午节
    _span(date(2026, 9, 25), date(2026, 9, 27)),  # Mid-Autumn Festival 中秋节
    _span(date(2026, 10, 1), date(2026, 10, 7)),  # National Day 国庆节
)

PRC_MAKE_UP_WORKDAYS_2026: frozenset[date] = frozenset(
    {
        date(2026, 1, 4),  # Sunday, for New Year's Day
        date(2026, 2, 14),  # Saturday, for the Spring Festival
        date(2026, 2, 28),  # Saturday, for the Spring Festival
        date(2026, 5, 9),  # Saturday, for Labour Day
        date(2026, 9, 20),  # Sunday, for National Day
        date(2026, 10, 10),  # Saturday, for National Day
    }
)


class BusinessCalendar(BaseModel):
    """Working hours on business days, in Asia/Shanghai. Weekdays: Monday is 0, Sunday 6."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # persisted in ServicePolicy

    working_start: time = time(9, 0)
    working_end: time = time(18, 0)
    weekend: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[date] = PRC_HOLIDAYS_2026
    make_up_workdays: frozenset[date] = PRC_MAKE_UP_WORKDAYS_2026

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
