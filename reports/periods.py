"""The period a report covers, and the one it is compared with.

A period is a range of whole days in TIME_ZONE, first and last day included. The presets are
calendar units (this month, last quarter, …) compared with the unit before them (November
with October, Q4 with Q3); a custom range is compared with the same number of days just
before it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import models
from django.utils import timezone


class Preset(models.TextChoices):
    THIS_MONTH = "this_month", "This month"
    LAST_MONTH = "last_month", "Last month"
    THIS_QUARTER = "this_quarter", "This quarter"
    LAST_QUARTER = "last_quarter", "Last quarter"
    THIS_YEAR = "this_year", "This year"
    LAST_YEAR = "last_year", "Last year"
    CUSTOM = "custom", "Custom dates"


DEFAULT_PRESET = Preset.THIS_QUARTER
# Months in a calendar unit, for the presets.
UNIT_MONTHS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Period:
    start: dt.date  # first day
    end: dt.date  # last day, included
    unit: str = ""  # "month", "quarter" or "year" for a calendar unit; "" for custom dates

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> dt.datetime:
        """The first instant of the period."""
        return day_start(self.start)

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the period (exclusive bound)."""
        return day_start(self.end + dt.timedelta(days=1))

    @property
    def label(self) -> str:
        if self.unit == "month":
            return f"{self.start:%B %Y}"
        if self.unit == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        if self.unit == "year":
            return str(self.start.year)
        return f"{self.start:%b %-d, %Y} – {self.end:%b %-d, %Y}"

    def previous(self) -> Period:
        """The period of the same length just before: the previous calendar unit for a
        preset, as many days for custom dates."""
        if self.unit:
            return calendar_unit(self.unit, add_months(self.start, -UNIT_MONTHS[self.unit]))
        return Period(self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1))

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the current time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def add_months(day: dt.date, months: int) -> dt.date:
    """The first of the month `months` away from `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def calendar_unit(unit: str, day: dt.date) -> Period:
    """The month, quarter or year containing `day`."""
    months = UNIT_MONTHS[unit]
    first_month = (day.month - 1) // months * months + 1
    start = dt.date(day.year, first_month, 1)
    end = add_months(start, months) - dt.timedelta(days=1)
    return Period(start, end, unit)


def preset_period(preset: str, *, today: dt.date) -> Period:
    """The period of a preset other than custom, as of `today`."""
    when, unit = preset.split("_", 1)
    current = calendar_unit(unit, today)
    return current if when == "this" else current.previous()


def quarter_of(day: dt.date) -> Period:
    return calendar_unit("quarter", day)


def month_starts(first: dt.date, count: int) -> list[dt.date]:
    """The first days of `count` months from `first`'s month on."""
    return [add_months(first, offset) for offset in range(count)]
