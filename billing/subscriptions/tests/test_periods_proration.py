"""Billing periods: proration (split_days, prorate), schedule validation, and properties
checked with Hypothesis."""

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.subscriptions.periods import (
    Period,
    Schedule,
    boundary,
    first_period,
    full_period_days,
    local_date,
    next_period,
    period,
    period_containing,
    prorate,
    schedule_for,
    split_days,
)
from billing.subscriptions.tests.periods_helpers import CENT, monthly, utc

# --- Proration -------------------------------------------------------------------------


def test_split_days():
    p = period(monthly(date(2027, 1, 31)), 1)  # Feb 28 .. Mar 31, 31 days
    assert split_days(p, date(2027, 2, 28)) == (0, 31)  # first day: all new terms
    assert split_days(p, date(2027, 3, 30)) == (30, 1)  # last day counts for the new terms
    assert split_days(p, date(2027, 3, 31)) == (31, 0)
    assert split_days(p, date(2027, 3, 10)) == (10, 21)
    for outside in (date(2027, 2, 27), date(2027, 4, 1)):
        with pytest.raises(ValueError, match="outside the period"):
            split_days(p, outside)


def test_prorate():
    assert prorate(Decimal(3000), 10, 30) == Decimal(1000)  # JPY-like integers
    assert prorate(Decimal(1000), 1, 3).quantize(Decimal(1), ROUND_HALF_UP) == Decimal(333)
    assert prorate(Decimal(1000), 2, 3).quantize(Decimal(1), ROUND_HALF_UP) == Decimal(667)
    third = prorate(Decimal("10.00"), 1, 3)
    assert str(third) == "3." + "3" * 49  # 50 significant digits
    assert third.quantize(CENT, ROUND_HALF_UP) == Decimal("3.33")
    assert prorate(Decimal("10.00"), 2, 3).quantize(CENT, ROUND_HALF_UP) == Decimal("6.67")
    assert prorate(Decimal("49.99"), 31, 31) == Decimal("49.99")
    assert prorate(Decimal("49.99"), 0, 31) == 0
    assert prorate(Decimal("-12.34"), 1, 2) == Decimal("-6.17")  # credits too


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((49.99, 1, 2), TypeError),
        ((Decimal("NaN"), 1, 2), ValueError),
        ((Decimal(1), 3, 2), ValueError),
        ((Decimal(1), -1, 2), ValueError),
        ((Decimal(1), 0, 0), ValueError),
        ((Decimal(1), 1.0, 2), ValueError),
    ],
)
def test_prorate_rejects(args, error):
    with pytest.raises(error):
        prorate(*args)


# --- Validation ------------------------------------------------------------------------


def test_validation():
    start = utc(2027, 1, 15)
    with pytest.raises(ValueError, match="naive"):
        schedule_for(start_at=datetime(2027, 1, 15), tz="UTC", interval="month")
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2027, 1, 15), "UTC")
    with pytest.raises(ValueError, match="naive"):
        period_containing(monthly(date(2027, 1, 15)), datetime(2027, 2, 1))
    with pytest.raises(ValueError, match="interval_count"):
        schedule_for(start_at=start, tz="UTC", interval="month", interval_count=0)
    with pytest.raises(ValueError, match="Unknown interval"):
        schedule_for(start_at=start, tz="UTC", interval="quarter")
    for tz in ("Mars/Olympus_Mons", "", "America", "../etc/passwd", None):
        with pytest.raises(ValueError, match="time zone"):
            schedule_for(start_at=start, tz=tz, interval="month")
    with pytest.raises(ValueError, match="Period indexes"):
        period(monthly(date(2027, 1, 15)), -2)


def test_schedule_checks_its_own_consistency():
    fields = {"interval": "month", "interval_count": 1, "start_date": date(2027, 1, 31)}
    with pytest.raises(ValueError, match="anchor_day"):
        Schedule(anchor=date(2027, 1, 31), anchor_day=30, tz="UTC", **fields)
    with pytest.raises(ValueError, match="within one interval"):
        Schedule(**{**fields, "start_date": date(2026, 12, 1)}, anchor=date(2027, 1, 31),
                 anchor_day=31, tz="UTC")  # fmt: skip
    with pytest.raises(ValueError, match="within one interval"):  # Jan 31 is boundary -1
        Schedule(anchor=date(2027, 2, 28), anchor_day=31, tz="UTC", **fields)
    stub = {**fields, "start_date": date(2027, 2, 1)}
    Schedule(anchor=date(2027, 2, 28), anchor_day=31, tz="UTC", **stub)  # a valid stub


# --- Properties ------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "America/Santiago",
    "Asia/Beirut",
    "America/Havana",
    "Atlantic/Azores",
    "Asia/Tokyo",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@st.composite
def schedules(draw, intervals=("day", "week", "month", "year")):
    interval = draw(st.sampled_from(intervals))
    aligned = interval in ("month", "year") and draw(st.booleans())
    return schedule_for(
        start_at=draw(instants),
        tz=draw(st.sampled_from(ZONES)),
        interval=interval,
        interval_count=draw(st.integers(1, 3)),
        billing_day=draw(st.integers(1, 31)) if aligned else None,
    )


def _month_length(d: date) -> int:
    following = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return (following - d.replace(day=1)).days


@settings(max_examples=200, deadline=None)
@given(schedules())
def test_periods_are_contiguous_and_never_empty(schedule):
    current = first_period(schedule)
    assert current.start_date == schedule.start_date
    for _ in range(25):
        following = next_period(schedule, current)
        assert current.days >= 1
        assert current.start < current.end
        assert current.end_date == following.start_date
        assert current.end == following.start
        if not current.is_stub:
            assert full_period_days(schedule, current.end_date) == current.days
        current = following


@settings(max_examples=200, deadline=None)
@given(schedules(intervals=("month",)), st.integers(-24, 1200))
def test_monthly_periods_and_boundaries(schedule, n):
    length = _month_length(boundary(schedule, n))
    assert boundary(schedule, n).day == min(schedule.anchor_day, length)
    if schedule.interval_count == 1:
        assert 28 <= period(schedule, max(n, 0)).days <= 31


@settings(max_examples=200, deadline=None)
@given(schedules(intervals=("year",)), st.integers(-5, 60))
def test_yearly_boundaries_keep_the_month_and_clamp_the_day(schedule, n):
    found = boundary(schedule, n)
    assert found.month == schedule.anchor.month
    assert found.day == min(schedule.anchor_day, _month_length(found))


@settings(max_examples=200, deadline=None)
@given(schedules(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=365 * 40)))
def test_period_containing_contains(schedule, offset):
    at = first_period(schedule).start + offset
    found = period_containing(schedule, at)
    assert found.start <= at < found.end
    assert found.start_date <= local_date(at, schedule.tz) < found.end_date
    assert found == period(schedule, found.index)


@settings(max_examples=200, deadline=None)
@given(
    schedules(),
    st.integers(0, 40),
    st.data(),
    st.decimals(min_value=0, max_value=1_000_000, places=2),
)
def test_split_and_prorate_add_up(schedule, index, data, amount):
    p = period(schedule, index)
    change = p.start_date + timedelta(days=data.draw(st.integers(0, p.days)))
    old, new = split_days(p, change)
    assert old + new == p.days
    old_amount, new_amount = prorate(amount, old, p.days), prorate(amount, new, p.days)
    # Exact at the precision of the default context (28 digits): each part carries 50
    # significant digits, so their error is far below the last digit of any amount.
    assert old_amount + new_amount == amount
    # Rounding each part separately can add a cent: two parts ending in half a cent (or
    # more) both round up, e.g. 0.01 split 1:1 gives 0.005 + 0.005 -> 0.01 + 0.01.
    rounded = old_amount.quantize(CENT, ROUND_HALF_UP) + new_amount.quantize(CENT, ROUND_HALF_UP)
    assert amount - CENT <= rounded <= amount + CENT


def test_rounded_parts_can_exceed_the_amount_by_one_cent():
    half = prorate(Decimal("0.01"), 1, 2)
    assert half.quantize(CENT, ROUND_HALF_UP) * 2 == Decimal("0.02")


@settings(max_examples=200, deadline=None)
@given(schedules(intervals=("month", "year")), st.integers(1, 31))
def test_a_stub_is_no_longer_than_its_full_period(schedule, billing_day):
    start_at = first_period(schedule).start
    aligned = schedule_for(
        start_at=start_at,
        tz=schedule.tz,
        interval=schedule.interval,
        interval_count=schedule.interval_count,
        billing_day=billing_day,
    )
    first = first_period(aligned)
    assert first.start_date == schedule.start_date
    assert first.end_date.day == min(billing_day, _month_length(first.end_date))
    assert first.days <= full_period_days(aligned, first.end_date)
    if first.is_stub:
        assert first.days < full_period_days(aligned, first.end_date)
        assert first.days <= 30  # a stub stops at the first billing day


def test_period_dataclasses_are_frozen():
    p = period(monthly(date(2027, 1, 31)), 0)
    assert isinstance(p, Period)
    with pytest.raises(AttributeError):
        p.index = 3
