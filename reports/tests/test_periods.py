"""The report periods: each preset as of a day, and the period it is compared with."""

from __future__ import annotations

import datetime as dt

import pytest

from reports.periods import Period, Preset, preset_period

D = dt.date


CASES = [
    ("this_month", D(2027, 1, 15), (D(2027, 1, 1), D(2027, 1, 31)), (D(2026, 12, 1), D(2026, 12, 31)), "January 2027"),
    ("last_month", D(2027, 1, 15), (D(2026, 12, 1), D(2026, 12, 31)), (D(2026, 11, 1), D(2026, 11, 30)), "December 2026"),
    ("this_month", D(2024, 3, 31), (D(2024, 3, 1), D(2024, 3, 31)), (D(2024, 2, 1), D(2024, 2, 29)), "March 2024"),
    ("this_quarter", D(2027, 1, 1), (D(2027, 1, 1), D(2027, 3, 31)), (D(2026, 10, 1), D(2026, 12, 31)), "Q1 2027"),
    ("last_quarter", D(2027, 2, 28), (D(2026, 10, 1), D(2026, 12, 31)), (D(2026, 7, 1), D(2026, 9, 30)), "Q4 2026"),
    ("this_quarter", D(2026, 6, 30), (D(2026, 4, 1), D(2026, 6, 30)), (D(2026, 1, 1), D(2026, 3, 31)), "Q2 2026"),
    ("this_year", D(2026, 12, 31), (D(2026, 1, 1), D(2026, 12, 31)), (D(2025, 1, 1), D(2025, 12, 31)), "2026"),
    ("last_year", D(2027, 1, 1), (D(2026, 1, 1), D(2026, 12, 31)), (D(2025, 1, 1), D(2025, 12, 31)), "2026"),
]  # fmt: skip


@pytest.mark.parametrize(("preset", "today", "period", "previous", "label"), CASES)
def test_each_preset_and_the_period_before_it(preset, today, period, previous, label):
    chosen = preset_period(preset, today=today)

    assert (chosen.start, chosen.end) == period
    assert (chosen.previous().start, chosen.previous().end) == previous
    assert chosen.label == label


def test_the_cases_cover_every_preset_but_custom_dates():
    assert {case[0] for case in CASES} == {choice.value for choice in Preset} - {Preset.CUSTOM}


def test_custom_dates_are_compared_with_as_many_days_just_before():
    period = Period(D(2026, 2, 20), D(2026, 3, 5))  # 14 days across a short February

    assert period.days == 14
    assert (period.previous().start, period.previous().end) == (D(2026, 2, 6), D(2026, 2, 19))
    assert period.label == "Feb 20, 2026 – Mar 5, 2026"
