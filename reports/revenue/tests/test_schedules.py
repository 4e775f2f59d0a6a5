"""The pure recognition engine: worked numbers (computed by hand in comments) and
hypothesis properties. No database."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.money import currency_precision
from reports.revenue.schedules import (
    Month,
    check_roll_forward,
    deferred_at,
    recognized_to_date,
    reverse,
    roll_forward,
    schedule,
    waterfall,
)

D = Decimal
YEAR_START, YEAR_END = date(2026, 1, 15), date(2027, 1, 15)  # 365 days


def test_month_keys_and_order():
    assert str(Month.of(date(2026, 1, 31))) == "2026-01"
    assert Month.parse("2026-12").next() == Month(2027, 1)
    assert Month(2026, 2).first_day == date(2026, 2, 1)
    assert Month(2026, 2) < Month(2026, 10) < Month(2027, 1)


def test_yearly_line_contract_example():
    # N = 365. End of January: 17 days (15..31): 1200 x 17 / 365 = 55.890... -> 55.89.
    # End of February: 45 days: 1200 x 45 / 365 = 147.945... -> 147.95; Feb = 92.06.
    amount = D("1200.00")
    months = schedule(amount, "EUR", YEAR_START, YEAR_END)
    assert months[:2] == [("2026-01", D("55.89")), ("2026-02", D("92.06"))]
    assert recognized_to_date(amount, "EUR", YEAR_START, YEAR_END, date(2026, 3, 1)) == D("147.95")
    assert deferred_at(amount, "EUR", YEAR_START, YEAR_END, date(2026, 3, 1)) == D("1052.05")
    # 2027-01: 14 days; to 2027-01-01 is 351 days: 1200 x 351 / 365 = 1153.97; 46.03 left.
    assert len(months) == 13
    assert months[-1] == ("2027-01", D("46.03"))
    assert sum(value for _, value in months) == amount


def test_credit_line_is_symmetric():
    months = schedule(D("-1200.00"), "EUR", YEAR_START, YEAR_END)
    assert months[:2] == [("2026-01", D("-55.89")), ("2026-02", D("-92.06"))]
    assert sum(value for _, value in months) == D("-1200.00")


def test_leap_year_has_366_days():
    # 2024-01-01 -> 2025-01-01 is 366 days (29 February 2024 inside).
    # January: 1200 x 31 / 366 = 101.639... -> 101.64.
    # To 1 March, 60 days: 1200 x 60 / 366 = 196.721... -> 196.72; February = 95.08.
    # To 1 December, 335 days: 1098.360... -> 1098.36; December = 101.64.
    months = schedule(D("1200.00"), "USD", date(2024, 1, 1), date(2025, 1, 1))
    assert months[0] == ("2024-01", D("101.64"))
    assert months[1] == ("2024-02", D("95.08"))
    assert months[-1] == ("2024-12", D("101.64"))
    assert len(months) == 12
    assert sum(value for _, value in months) == D("1200.00")


def test_monthly_period_from_january_31():
    # 2026-01-31 -> 2026-02-28 is 28 days: 1 in January, 27 in February.
    # 49 x 1 / 28 = 1.75; February = 49 x 27 / 28 = 47.25.
    months = schedule(D("49.00"), "USD", date(2026, 1, 31), date(2026, 2, 28))
    assert months == [("2026-01", D("1.75")), ("2026-02", D("47.25"))]


def test_jpy_has_no_decimals():
    # 10000 x 17 / 365 = 465.75 -> 466; 10000 x 45 / 365 = 1232.87 -> 1233; Feb = 767.
    months = schedule(D("10000"), "JPY", YEAR_START, YEAR_END)
    assert months[:2] == [("2026-01", D("466")), ("2026-02", D("767"))]
    assert all(value.as_tuple().exponent == 0 for _, value in months)
    assert sum(value for _, value in months) == D("10000")


def test_kwd_has_three_decimals():
    # 100 x 17 / 365 = 4.6575... -> 4.658; 100 x 45 / 365 = 12.3287... -> 12.329; Feb 7.671.
    months = schedule(D("100.000"), "KWD", YEAR_START, YEAR_END)
    assert months[:2] == [("2026-01", D("4.658")), ("2026-02", D("7.671"))]
    assert sum(value for _, value in months) == D("100.000")


def test_one_time_fee_is_recognised_on_its_date():
    assert schedule(D("99"), "USD", None, None, point_in_time=date(2026, 3, 10)) == [
        ("2026-03", D("99.00"))
    ]
    # A zero-length period falls on its date too.
    day = date(2026, 3, 10)
    assert schedule(D("99.00"), "USD", day, day) == [("2026-03", D("99.00"))]
    assert recognized_to_date(D("99.00"), "USD", day, day, day) == D("0.00")
    assert recognized_to_date(D("99.00"), "USD", day, day, day + timedelta(days=1)) == D("99.00")
    with pytest.raises(ValueError, match="point_in_time"):
        schedule(D("99.00"), "USD", None, None)


def test_usage_is_recognised_in_the_period_consumed():
    # Usage consumed over March, invoiced in April: all of it is March revenue.
    months = schedule(D("12.34"), "USD", date(2026, 3, 1), date(2026, 4, 1))
    assert months == [("2026-03", D("12.34"))]


def test_mid_month_upgrade_proration_is_prospective():
    # Period 2026-01-15 -> 2026-02-15; upgrade on 2026-01-25: the 20.00 proration charge
    # covers the 21 days left. January has 7 of them (25..31): 20 x 7 / 21 = 6.666 -> 6.67;
    # February the other 14: 13.33. Nothing lands before the upgrade.
    months = schedule(D("20.00"), "USD", date(2026, 1, 25), date(2026, 2, 15))
    assert months == [("2026-01", D("6.67")), ("2026-02", D("13.33"))]
    assert recognized_to_date(
        D("20.00"), "USD", date(2026, 1, 25), date(2026, 2, 15), date(2026, 1, 25)
    ) == D("0.00")


def test_reversal_of_300_takes_from_deferred():
    # On 2026-03-01, 147.95 is recognised and 1052.05 deferred; the 300.00 credit leaves
    # 752.05 over the 320 days 2026-03-01 -> 2027-01-15 (306 to 2027-01-01, then 14).
    # March: 752.05 x 31 / 320 = 72.854... -> 72.85. To 1 May, 61 days: 143.359... -> 143.36,
    # so April = 70.51.
    result = reverse(D("1200.00"), "EUR", YEAR_START, YEAR_END, D("300.00"), date(2026, 3, 1))
    assert result.from_deferred == D("300.00")
    assert result.from_revenue == D("0.00")
    assert result.schedule[:4] == [
        ("2026-01", D("55.89")),
        ("2026-02", D("92.06")),
        ("2026-03", D("72.85")),
        ("2026-04", D("70.51")),
    ]
    assert result.schedule[-1][0] == "2027-01"
    assert sum(value for _, value in result.schedule) == D("900.00")


def test_reversal_beyond_deferred_reduces_revenue_in_its_month():
    # 1100.00 on 2026-03-01: the 1052.05 deferred, then 47.95 off March revenue.
    result = reverse(D("1200.00"), "EUR", YEAR_START, YEAR_END, D("1100.00"), date(2026, 3, 1))
    assert result.from_deferred == D("1052.05")
    assert result.from_revenue == D("47.95")
    assert result.schedule[:3] == [
        ("2026-01", D("55.89")),
        ("2026-02", D("92.06")),
        ("2026-03", D("-47.95")),
    ]
    assert all(value == 0 for _, value in result.schedule[3:])
    assert sum(value for _, value in result.schedule) == D("100.00")


def test_reversal_of_one_time_fee_reduces_revenue():
    # An SLA credit of 10.00 in April against a fee recognised in March.
    result = reverse(
        D("99.00"), "USD", None, None, D("10.00"), date(2026, 4, 2), point_in_time=date(2026, 3, 10)
    )
    assert (result.from_deferred, result.from_revenue) == (D("0.00"), D("10.00"))
    assert result.schedule == [("2026-03", D("99.00")), ("2026-04", D("-10.00"))]


def test_reversal_of_one_time_fee_on_its_own_date():
    # Nothing of a one-date line is recognised before its date, so a credit on that date
    # comes off the (still deferred) fee in the same month.
    day = date(2026, 3, 10)
    result = reverse(D("0.01"), "USD", day, day, D("0.00"), day)
    assert result.schedule == [("2026-03", D("0.01"))]
    result = reverse(D("99.00"), "USD", None, None, D("10.00"), day, point_in_time=day)
    assert (result.from_deferred, result.from_revenue) == (D("10.00"), D("0.00"))
    assert result.schedule == [("2026-03", D("89.00"))]


def test_waterfall_booking_by_recognition_month():
    january = schedule(D("1200.00"), "EUR", YEAR_START, YEAR_END)
    february = schedule(D("49.00"), "EUR", date(2026, 2, 1), date(2026, 3, 1))
    table = waterfall([("2026-02", february), ("2026-01", january), ("2026-01", january)])
    assert list(table) == ["2026-01", "2026-02"]
    assert table["2026-01"]["2026-01"] == D("111.78")
    assert table["2026-01"]["2026-02"] == D("184.12")
    assert table["2026-02"] == {"2026-02": D("49.00")}
    assert sum(table["2026-01"].values()) == D("2400.00")


def test_roll_forward_check():
    assert roll_forward(D("100.00"), D("50.00"), D("30.00"), D("5.00")) == D("115.00")
    check_roll_forward(D("100.00"), D("50.00"), D("30.00"), D("5.00"), D("115.00"))
    with pytest.raises(ValueError, match="does not roll forward"):
        check_roll_forward(D("100.00"), D("50.00"), D("30.00"), D("5.00"), D("115.01"))
    with pytest.raises(TypeError):
        roll_forward(100.0, D("0"), D("0"), D("0"))


def test_bad_input_is_refused():
    with pytest.raises(TypeError):
        schedule(1200.0, "EUR", YEAR_START, YEAR_END)
    with pytest.raises(ValueError, match="decimal places"):
        schedule(D("1.005"), "EUR", YEAR_START, YEAR_END)
    with pytest.raises(ValueError, match="ends"):
        schedule(D("1.00"), "EUR", YEAR_END, YEAR_START)
    with pytest.raises(TypeError, match="dates"):
        schedule(D("1.00"), "EUR", datetime(2026, 1, 1, tzinfo=UTC), YEAR_END)
    with pytest.raises(ValueError, match="sign"):
        reverse(D("1.00"), "EUR", YEAR_START, YEAR_END, D("-1.00"), YEAR_START)


# Properties ------------------------------------------------------------------------------

currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD"])
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
lengths = st.integers(min_value=0, max_value=800)
minor_units = st.integers(min_value=-(10**12), max_value=10**12)


def money(minor: int, currency: str) -> Decimal:
    return D(minor).scaleb(-currency_precision(currency))


def places_ok(months, currency):
    return all(value.as_tuple().exponent == -currency_precision(currency) for _, value in months)


@given(currencies, minor_units, days, lengths)
def test_schedule_sums_exactly_with_currency_places(currency, minor, start, length):
    amount, end = money(minor, currency), start + timedelta(days=length)
    months = schedule(amount, currency, start, end)
    assert sum(value for _, value in months) == amount
    assert places_ok(months, currency)
    keys = [key for key, _ in months]
    assert keys == sorted(set(keys))


@given(currencies, st.integers(min_value=0, max_value=10**12), days, lengths, lengths, lengths)
def test_recognized_to_date_is_monotonic(currency, minor, start, length, first, later):
    amount, end = money(minor, currency), start + timedelta(days=length)
    on = start + timedelta(days=first - 30)
    before = recognized_to_date(amount, currency, start, end, on)
    after = recognized_to_date(amount, currency, start, end, on + timedelta(days=later))
    assert D(0) <= before <= after <= amount


@given(
    currencies,
    minor_units,
    st.integers(min_value=0, max_value=150),
    days,
    lengths,
    st.integers(min_value=-40, max_value=840),
)
def test_reversal_identity(currency, minor, percent, start, length, at_offset):
    amount, end = money(minor, currency), start + timedelta(days=length)
    credit = money(minor * percent // 100, currency)  # same sign, 0 to 150 %
    at = start + timedelta(days=at_offset)
    result = reverse(amount, currency, start, end, credit, at)

    assert result.from_deferred + result.from_revenue == credit
    deferred = deferred_at(amount, currency, start, end, at)
    assert abs(result.from_deferred) <= abs(deferred)
    assert result.from_revenue == 0 or result.from_deferred == deferred
    recognized_after = recognized_to_date(amount, currency, start, end, at) - result.from_revenue
    deferred_after = deferred - result.from_deferred
    assert recognized_after + deferred_after == amount - credit
    assert sum(value for _, value in result.schedule) == amount - credit
    assert places_ok(result.schedule, currency)
    # Nothing recognised before `at` changes: earlier months are as they were.
    at_key = str(Month.of(at))
    original = dict(schedule(amount, currency, start, end))
    for key, value in result.schedule:
        if key < at_key:
            assert value == original[key]


@given(currencies, minor_units, days, lengths)
def test_roll_forward_identity_month_by_month(currency, minor, start, length):
    amount, end = money(minor, currency), start + timedelta(days=length)
    opening, billed = D(0), amount  # billed up front in the first month
    for key, recognized in schedule(amount, currency, start, end):
        closing = roll_forward(opening, billed, recognized, D(0))
        month_end = Month.parse(key).next().first_day
        assert closing == deferred_at(amount, currency, start, end, month_end)
        check_roll_forward(opening, billed, recognized, D(0), closing)
        opening, billed = closing, D(0)
    assert opening == 0
