"""Billing period schedules: anchors and month-end clamping, billing_day stubs, time zones,
period_containing, periods_between and next_period."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.subscriptions.periods import (
    boundary,
    first_period,
    full_period_days,
    local_date,
    local_midnight,
    next_period,
    period,
    period_containing,
    periods_between,
    prorate,
    schedule_for,
)
from billing.subscriptions.tests.periods_helpers import MICROSECOND, boundaries, monthly, utc

# --- Anchors and clamping ---------------------------------------------------------------


def test_monthly_on_the_31st_clamps_to_month_end_and_returns_to_the_31st():
    schedule = monthly(date(2027, 1, 31))
    assert schedule.anchor == date(2027, 1, 31)
    assert schedule.anchor_day == 31
    assert boundaries(schedule, 14) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
        date(2027, 8, 31),
        date(2027, 9, 30),
        date(2027, 10, 31),
        date(2027, 11, 30),
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),  # leap year
    ]
    assert [period(schedule, n).days for n in range(13)] == [
        28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 29,
    ]  # fmt: skip


def test_monthly_on_the_31st_in_a_leap_year():
    schedule = monthly(date(2028, 1, 31))
    assert boundaries(schedule, 4) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
    ]
    assert period(schedule, 0).days == 29
    assert boundary(schedule, -1) == date(2027, 12, 31)
    assert boundary(schedule, -11) == date(2027, 2, 28)


def test_monthly_on_the_30th_and_29th_return_after_february():
    assert boundaries(monthly(date(2027, 1, 30)), 3) == [
        date(2027, 1, 30),
        date(2027, 2, 28),
        date(2027, 3, 30),
    ]
    assert boundaries(monthly(date(2027, 1, 29)), 3) == [
        date(2027, 1, 29),
        date(2027, 2, 28),
        date(2027, 3, 29),
    ]


def test_quarterly_on_the_31st():
    schedule = monthly(date(2027, 1, 31), interval_count=3)
    assert boundaries(schedule, 5) == [
        date(2027, 1, 31),
        date(2027, 4, 30),
        date(2027, 7, 31),
        date(2027, 10, 31),
        date(2028, 1, 31),
    ]


def test_yearly_on_feb_29():
    schedule = monthly(date(2028, 2, 29), interval="year")
    assert boundaries(schedule, 5) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]
    assert [period(schedule, n).days for n in range(4)] == [365, 365, 365, 366]
    assert boundary(schedule, -1) == date(2027, 2, 28)


def test_daily_and_weekly_boundaries():
    daily = monthly(date(2027, 1, 1), interval="day", interval_count=3)
    assert boundaries(daily, 3) == [date(2027, 1, 1), date(2027, 1, 4), date(2027, 1, 7)]
    weekly = monthly(date(2027, 2, 22), interval="week", interval_count=2)
    assert boundaries(weekly, 3) == [date(2027, 2, 22), date(2027, 3, 8), date(2027, 3, 22)]


# --- billing_day and stubs -------------------------------------------------------------


def test_billing_day_1_started_jan_15():
    schedule = monthly(date(2027, 1, 15), billing_day=1)
    assert (schedule.start_date, schedule.anchor, schedule.anchor_day) == (
        date(2027, 1, 15),
        date(2027, 2, 1),
        1,
    )
    stub = first_period(schedule)
    assert stub == period(schedule, -1)
    assert (stub.index, stub.is_stub) == (-1, True)
    assert (stub.start_date, stub.end_date, stub.days) == (date(2027, 1, 15), date(2027, 2, 1), 17)
    assert full_period_days(schedule, stub.end_date) == 31  # Jan 1 .. Feb 1
    assert prorate(Decimal("31.00"), stub.days, 31) == Decimal("17.00")
    regular = next_period(schedule, stub)
    assert (regular.index, regular.is_stub) == (0, False)
    assert (regular.start_date, regular.end_date) == (date(2027, 2, 1), date(2027, 3, 1))


def test_billing_day_31_started_feb_10():
    schedule = monthly(date(2027, 2, 10), billing_day=31)
    stub = first_period(schedule)
    assert (stub.start_date, stub.end_date, stub.days) == (date(2027, 2, 10), date(2027, 2, 28), 18)
    assert full_period_days(schedule, date(2027, 2, 28)) == 28  # Jan 31 .. Feb 28
    assert [(p.start_date, p.end_date) for p in (period(schedule, 0), period(schedule, 1))] == [
        (date(2027, 2, 28), date(2027, 3, 31)),
        (date(2027, 3, 31), date(2027, 4, 30)),
    ]


def test_billing_day_1_stub_in_a_leap_february():
    schedule = monthly(date(2028, 2, 15), billing_day=1)
    stub = first_period(schedule)
    assert (stub.start_date, stub.end_date, stub.days) == (date(2028, 2, 15), date(2028, 3, 1), 15)
    assert full_period_days(schedule, stub.end_date) == 29


def test_billing_day_on_the_start_day_has_no_stub():
    schedule = monthly(date(2027, 1, 15), billing_day=15)
    assert first_period(schedule).index == 0
    with pytest.raises(ValueError, match="no stub"):
        period(schedule, -1)
    # billing_day 31 started on Feb 28: no stub, and the next boundary is Mar 31 (not Mar 28).
    schedule = monthly(date(2027, 2, 28), billing_day=31)
    first = first_period(schedule)
    assert (first.index, first.start_date, first.end_date) == (
        0,
        date(2027, 2, 28),
        date(2027, 3, 31),
    )


def test_billing_day_passed_this_month_moves_to_next_month_clamped():
    schedule = monthly(date(2027, 1, 31), billing_day=30)
    stub = first_period(schedule)
    assert (stub.start_date, stub.end_date) == (date(2027, 1, 31), date(2027, 2, 28))
    assert full_period_days(schedule, stub.end_date) == 29  # Jan 30 .. Feb 28
    assert boundary(schedule, 1) == date(2027, 3, 30)


def test_yearly_billing_day():
    schedule = monthly(date(2027, 1, 15), interval="year", billing_day=1)
    stub = first_period(schedule)
    assert (stub.start_date, stub.end_date, stub.days) == (date(2027, 1, 15), date(2027, 2, 1), 17)
    assert full_period_days(schedule, stub.end_date) == 365  # Feb 1 2026 .. Feb 1 2027
    regular = period(schedule, 0)
    assert (regular.start_date, regular.end_date) == (date(2027, 2, 1), date(2028, 2, 1))


@pytest.mark.parametrize("interval", ["week", "day"])
def test_billing_day_is_refused_for_week_and_day_plans(interval):
    with pytest.raises(ValueError, match="month and year intervals only"):
        monthly(date(2027, 1, 15), interval=interval, billing_day=1)


@pytest.mark.parametrize("billing_day", [0, 32, -1, True, "1"])
def test_billing_day_out_of_range(billing_day):
    with pytest.raises(ValueError, match="1 to 31"):
        monthly(date(2027, 1, 15), billing_day=billing_day)


def test_full_period_days_of_a_regular_period_and_of_a_non_boundary():
    schedule = monthly(date(2027, 1, 31))
    assert full_period_days(schedule, date(2027, 3, 31)) == 31  # Feb 28 .. Mar 31
    assert full_period_days(schedule, date(2027, 1, 31)) == 31  # Dec 31 .. Jan 31
    with pytest.raises(ValueError, match="not a period boundary"):
        full_period_days(schedule, date(2027, 3, 15))


# --- Time zones ------------------------------------------------------------------------


def test_new_york_evening_start_belongs_to_the_local_date_and_crosses_dst():
    tz = "America/New_York"
    schedule = schedule_for(start_at=utc(2027, 3, 1, 3), tz=tz, interval="month")
    assert schedule.start_date == schedule.anchor == date(2027, 2, 28)  # Feb 28 22:00 local
    first = first_period(schedule)
    assert (first.start_date, first.end_date) == (date(2027, 2, 28), date(2027, 3, 28))
    assert first.start == utc(2027, 2, 28, 5)
    assert first.end == utc(2027, 3, 28, 4)  # DST began Mar 14 2027
    zone = ZoneInfo(tz)
    assert first.start.astimezone(zone).isoformat() == "2027-02-28T00:00:00-05:00"
    assert first.end.astimezone(zone).isoformat() == "2027-03-28T00:00:00-04:00"
    assert first.start.tzinfo is UTC
    assert first.end.tzinfo is UTC
    # Back in November: local midnight is 05:00 UTC again.
    assert period(schedule, 9).start == utc(2027, 11, 28, 5)


def test_tokyo_midnight():
    schedule = schedule_for(start_at=utc(2027, 1, 31, 15), tz="Asia/Tokyo", interval="month")
    assert schedule.anchor == date(2027, 2, 1)
    assert first_period(schedule).start == utc(2027, 1, 31, 15)
    assert local_date(utc(2027, 1, 31, 15) - MICROSECOND, "Asia/Tokyo") == date(2027, 1, 31)
    with pytest.raises(ValueError, match="before the schedule starts"):
        period_containing(schedule, utc(2027, 1, 31, 15) - MICROSECOND)


def test_the_same_instant_is_three_different_days_around_the_date_line():
    at = utc(2027, 3, 1, 10, 30)
    assert local_date(at, "Pacific/Kiritimati") == date(2027, 3, 2)  # UTC+14, 00:30
    assert local_date(at, "UTC") == date(2027, 3, 1)
    assert local_date(at, "Pacific/Pago_Pago") == date(2027, 2, 28)  # UTC-11, 23:30
    east = schedule_for(start_at=at, tz="Pacific/Kiritimati", interval="month")
    west = schedule_for(start_at=at, tz="Pacific/Pago_Pago", interval="month")
    assert (east.anchor, boundary(east, 1)) == (date(2027, 3, 2), date(2027, 4, 2))
    assert (west.anchor, boundary(west, 1)) == (date(2027, 2, 28), date(2027, 3, 28))
    assert first_period(east).start == utc(2027, 3, 1, 10)
    assert first_period(west).start == utc(2027, 2, 28, 11)


def test_midnight_in_a_dst_gap_uses_the_first_existing_instant():
    tz = "America/Santiago"
    zone = ZoneInfo(tz)
    # Verify the gap: 00:00 on Sep 5 2027 does not survive a round trip through UTC.
    wall = datetime(2027, 9, 5, tzinfo=zone)
    assert wall.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != datetime(2027, 9, 5)
    midnight = local_midnight(date(2027, 9, 5), tz)
    assert midnight == utc(2027, 9, 5, 4)
    assert midnight.astimezone(zone).isoformat() == "2027-09-05T01:00:00-03:00"
    assert local_date(midnight - MICROSECOND, tz) == date(2027, 9, 4)  # 23:59:59.999999 -04
    schedule = schedule_for(start_at=utc(2027, 8, 5, 12), tz=tz, interval="month")
    assert period(schedule, 0).end == midnight
    assert period_containing(schedule, midnight - MICROSECOND).index == 0
    assert period_containing(schedule, midnight).index == 1
    daily = schedule_for(start_at=utc(2027, 9, 4, 12), tz=tz, interval="day")
    assert period(daily, 0).end - period(daily, 0).start == timedelta(hours=24)  # Sep 4
    short = period(daily, 1)  # Sep 5 starts at 01:00
    assert (short.days, short.end - short.start) == (1, timedelta(hours=23))


def test_a_gap_straddling_midnight_starts_the_day_at_the_gap_end():
    # Toronto, 1919-03-30: clocks jumped from 23:30 EST to 00:30 EDT, so Mar 31 began at
    # 00:30 local (04:30 UTC), not at "00:00 read with the old offset" (05:00 UTC).
    tz = "America/Toronto"
    zone = ZoneInfo(tz)
    midnight = local_midnight(date(1919, 3, 31), tz)
    assert midnight == utc(1919, 3, 31, 4, 30)
    assert midnight.astimezone(zone).isoformat() == "1919-03-31T00:30:00-04:00"
    before = (midnight - MICROSECOND).astimezone(zone)
    assert before.isoformat() == "1919-03-30T23:29:59.999999-05:00"


def test_midnight_in_a_fold_uses_the_first_occurrence():
    tz = "Atlantic/Azores"
    zone = ZoneInfo(tz)
    # Verify the fold: 00:00 on Oct 31 2027 happens at +00:00 and again at -01:00.
    first, second = (datetime(2027, 10, 31, tzinfo=zone, fold=f) for f in (0, 1))
    assert (first.utcoffset(), second.utcoffset()) == (timedelta(0), timedelta(hours=-1))
    assert local_midnight(date(2027, 10, 31), tz) == utc(2027, 10, 31, 0)
    daily = schedule_for(start_at=utc(2027, 10, 30, 12), tz=tz, interval="day")
    assert period_containing(daily, utc(2027, 10, 31, 0) - MICROSECOND).start_date == date(
        2027, 10, 30
    )
    # The second 00:00..01:00 already belongs to Oct 31.
    assert period_containing(daily, utc(2027, 10, 31, 1)).start_date == date(2027, 10, 31)
    assert period(daily, 1).end - period(daily, 1).start == timedelta(hours=25)


def test_a_skipped_day_samoa_2011():
    # Pacific/Apia skipped Dec 30 2011 entirely: its first instant is Dec 31's midnight.
    tz = "Pacific/Apia"
    assert local_midnight(date(2011, 12, 30), tz) == utc(2011, 12, 30, 10)
    assert local_midnight(date(2011, 12, 31), tz) == utc(2011, 12, 30, 10)
    daily = schedule_for(start_at=utc(2011, 12, 28, 12), tz=tz, interval="day")
    skipped = period(daily, 2)
    assert (skipped.start_date, skipped.days, skipped.start == skipped.end) == (
        date(2011, 12, 30),
        1,
        True,
    )
    assert period_containing(daily, utc(2011, 12, 30, 10)).start_date == date(2011, 12, 31)


# --- period_containing ----------------------------------------------------------------


def test_period_containing_at_boundaries_is_half_open():
    schedule = monthly(date(2027, 1, 31))
    at = utc(2027, 2, 28)
    assert period_containing(schedule, at) == period(schedule, 1)
    assert period_containing(schedule, at - MICROSECOND) == period(schedule, 0)
    assert period_containing(schedule, utc(2027, 1, 31)) == period(schedule, 0)
    with pytest.raises(ValueError, match="before the schedule starts"):
        period_containing(schedule, utc(2027, 1, 31) - MICROSECOND)


def test_period_containing_the_stub():
    schedule = monthly(date(2027, 1, 15), billing_day=1)
    assert period_containing(schedule, utc(2027, 1, 15)).index == -1
    assert period_containing(schedule, utc(2027, 2, 1) - MICROSECOND).index == -1
    assert period_containing(schedule, utc(2027, 2, 1)).index == 0


@pytest.mark.parametrize(
    ("interval", "count", "anchor", "at", "start", "end"),
    [
        ("day", 1, "2027-01-15", "2100-06-15T12:00:00Z", "2100-06-15", "2100-06-16"),
        ("week", 1, "2027-01-15", "2100-06-15T12:00:00Z", "2100-06-11", "2100-06-18"),
        ("month", 1, "2027-01-31", "2100-02-28T00:00:00Z", "2100-02-28", "2100-03-31"),
        ("month", 1, "2027-01-31", "2100-02-27T23:59:59.999999Z", "2100-01-31", "2100-02-28"),
        ("month", 1, "2027-01-31", "2100-12-31T00:00:00Z", "2100-12-31", "2101-01-31"),
        ("month", 3, "2027-01-31", "2100-05-01T00:00:00Z", "2100-04-30", "2100-07-31"),
        ("year", 1, "2028-02-29", "2100-03-01T00:00:00Z", "2100-02-28", "2101-02-28"),
        ("year", 1, "2028-02-29", "2096-02-29T00:00:00Z", "2096-02-29", "2097-02-28"),
        ("year", 1, "2028-02-29", "2096-02-28T23:59:59.999999Z", "2095-02-28", "2096-02-29"),
        ("year", 2, "2028-02-29", "2100-02-27T00:00:00Z", "2098-02-28", "2100-02-28"),
        ("day", 3, "2027-01-01", "2027-01-07T00:00:00Z", "2027-01-07", "2027-01-10"),
        ("day", 3, "2027-01-01", "2027-01-06T23:59:59.999999Z", "2027-01-04", "2027-01-07"),
        ("day", 2, "2027-01-01", "2027-01-04T23:00:00Z", "2027-01-03", "2027-01-05"),
        ("day", 3, "2027-01-01", "2100-01-01T00:00:00Z", "2099-12-30", "2100-01-02"),
        ("week", 2, "2027-01-04", "2027-01-18T00:00:00Z", "2027-01-18", "2027-02-01"),
        ("week", 2, "2027-01-04", "2027-01-17T23:59:59.999999Z", "2027-01-04", "2027-01-18"),
        ("week", 3, "2027-01-04", "2027-02-14T23:00:00Z", "2027-01-25", "2027-02-15"),
        ("week", 2, "2027-01-04", "2100-06-15T00:00:00Z", "2100-06-14", "2100-06-28"),
        ("week", 3, "2027-01-04", "2100-06-15T00:00:00Z", "2100-06-07", "2100-06-28"),
    ],
)
def test_period_containing(interval, count, anchor, at, start, end):
    schedule = monthly(date.fromisoformat(anchor), interval=interval, interval_count=count)
    at = datetime.fromisoformat(at)
    found = period_containing(schedule, at)
    assert found.start_date == date.fromisoformat(start)
    assert found.end_date == date.fromisoformat(end)
    assert found.start <= at < found.end
    assert found == period(schedule, found.index)


def test_period_containing_far_future_daily_index():
    schedule = monthly(date(2027, 1, 15), interval="day")
    assert period_containing(schedule, utc(2100, 6, 15, 12)).index == 26814


# --- periods_between and next_period ----------------------------------------------------


def test_periods_between():
    schedule = monthly(date(2027, 1, 15), billing_day=1)
    found = list(periods_between(schedule, utc(2026, 12, 1), utc(2027, 4, 1)))
    assert [(p.index, p.start_date, p.end_date) for p in found] == [
        (-1, date(2027, 1, 15), date(2027, 2, 1)),
        (0, date(2027, 2, 1), date(2027, 3, 1)),
        (1, date(2027, 3, 1), date(2027, 4, 1)),
    ]
    exact = list(periods_between(schedule, utc(2027, 3, 1), utc(2027, 4, 1)))
    assert [p.index for p in exact] == [1]
    assert [p.index for p in periods_between(schedule, utc(2027, 3, 31), utc(2027, 4, 2))] == [1, 2]
    assert list(periods_between(schedule, utc(2027, 4, 1), utc(2027, 3, 1))) == []
    assert list(periods_between(schedule, utc(2026, 1, 1), utc(2027, 1, 15))) == []


def test_periods_between_rejects_naive_datetimes_at_the_call():
    schedule = monthly(date(2027, 1, 15))
    with pytest.raises(ValueError, match="naive"):
        periods_between(schedule, datetime(2027, 1, 1), utc(2027, 3, 1))


def test_next_period():
    schedule = monthly(date(2027, 1, 31))
    assert next_period(schedule, period(schedule, 0)) == period(schedule, 1)
    other = monthly(date(2027, 1, 30))
    with pytest.raises(ValueError, match="not a period of this schedule"):
        next_period(schedule, period(other, 0))
