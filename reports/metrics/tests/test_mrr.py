"""MRR and ARR of subscriptions; plain functions, no database."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.metrics.mrr import (
    Discount,
    RecurringAddon,
    Terms,
    monthly_amount,
    recurring_revenue,
    subscription_mrr,
)

D = Decimal
FAST = settings(max_examples=300, deadline=None, database=None)


def mrr(**terms):
    terms = {"currency": "USD", "interval": "month"} | terms
    return recurring_revenue([Terms(**terms)], terms["currency"]).mrr


# MRR of one subscription: worked numbers ----------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "interval", "count", "expected"),
    [
        ("1200", "year", 1, "100.00"),  # 1,200 ÷ 12
        ("2000", "year", 1, "166.67"),  # 166.666…
        ("300", "month", 3, "100.00"),  # quarterly: 300 ÷ 3
        ("10", "week", 1, "43.33"),  # 10 × 52 ÷ 12 = 43.333…
        ("1", "day", 1, "30.42"),  # 1 × 365 ÷ 12 = 30.4166…
        ("49", "month", 1, "49.00"),
        ("600", "month", 6, "100.00"),
        ("100", "week", 2, "216.67"),  # 100 × 52 ÷ 24 = 216.666…
    ],
)
def test_normalised_to_a_month(amount, interval, count, expected):
    assert mrr(amount=D(amount), interval=interval, interval_count=count) == D(expected)


def test_seats_with_a_ten_percent_forever_coupon():
    # 49 × 3 = 147; 147 × 0.90 = 132.30
    assert mrr(amount=D(49), quantity=3, discounts=(Discount("percent", D(10)),)) == D("132.30")


def test_arr_is_twelve_times_the_unrounded_mrr():
    revenue = recurring_revenue([Terms(D(2000), "USD", "year")], "USD")
    assert (revenue.mrr, revenue.arr) == (D("166.67"), D("2000.00"))
    revenue = recurring_revenue([Terms(D(10), "USD", "week")], "USD")
    assert (revenue.mrr, revenue.arr) == (D("43.33"), D("520.00"))  # 10 × 52


@pytest.mark.parametrize(
    ("status", "trialing", "expected"),
    [
        ("active", False, "100.00"),
        ("past_due", False, "100.00"),  # still a paying customer until dunning ends it
        ("active", True, "0.00"),  # a trial
        ("trialing", False, "0.00"),
        ("paused", False, "0.00"),
        ("canceled", False, "0.00"),
        ("incomplete", False, "0.00"),
        ("pending", False, "0.00"),
    ],
)
def test_statuses(status, trialing, expected):
    assert mrr(amount=D(100), status=status, trialing=trialing) == D(expected)


def test_recurring_addons_count_one_time_ones_do_not():
    addons = (
        RecurringAddon(D(120), "year", quantity=2),  # 20.00 a month
        RecurringAddon(D(5), "month", quantity=3),  # 15.00
        RecurringAddon(D(500), "one_time"),  # a setup fee: 0
    )
    assert mrr(amount=D(50), recurring_addons=addons) == D("85.00")


def test_percent_discount_covers_addons_and_fixed_is_per_billing_interval():
    addons = (RecurringAddon(D(20), "month"),)
    # base 80 + 20 = 100; 25 % → 75
    assert mrr(amount=D(80), recurring_addons=addons, discounts=(Discount("percent", D(25)),)) == D(
        "75.00"
    )
    # yearly 1,200 with 120 off each (yearly) invoice: (1200 − 120) ÷ 12 = 90
    assert mrr(amount=D(1200), interval="year", discounts=(Discount("fixed", D(120)),)) == D(
        "90.00"
    )


def test_one_off_discounts_do_not_reduce_mrr():
    once = Discount("percent", D(50), applies_to_recurring=False)
    assert mrr(amount=D(100), discounts=(once,)) == D("100.00")


def test_full_discounts_give_zero_never_negative():
    assert mrr(amount=D(100), discounts=(Discount("percent", D(100)),)) == D("0.00")
    assert mrr(amount=D(100), discounts=(Discount("fixed", D(150)),)) == D("0.00")
    two = (Discount("percent", D(60)), Discount("percent", D(60)))
    assert mrr(amount=D(100), discounts=two) == D("0.00")


def test_full_precision_inside_rounded_once():
    weekly = Terms(D(10), "USD", "week")
    assert subscription_mrr(weekly) == D(520) / D(12)
    # three × 43.333… = 130.00, not 3 × 43.33 = 129.99
    assert recurring_revenue([weekly] * 3, "USD").mrr == D("130.00")


def test_currency_precision_and_no_mixing():
    assert recurring_revenue([Terms(D(10000), "JPY", "year")], "JPY").mrr == D(833)
    assert recurring_revenue([Terms(D(10), "KWD", "week")], "KWD").mrr == D("43.333")
    assert recurring_revenue([], "EUR").mrr == D("0.00")
    with pytest.raises(ValueError, match="per currency"):
        recurring_revenue([Terms(D(1), "USD", "month"), Terms(D(1), "EUR", "month")], "USD")


def test_bad_terms():
    with pytest.raises(TypeError):
        Terms(10.0, "USD", "month")
    with pytest.raises(ValueError, match="Interval"):
        Terms(D(10), "USD", "quarter")
    with pytest.raises(ValueError, match="interval_count"):
        Terms(D(10), "USD", "month", interval_count=0)
    with pytest.raises(ValueError, match="percent"):
        Discount("percent", D(101))
    with pytest.raises(ValueError, match="kind"):
        Discount("amount", D(1))
    with pytest.raises(TypeError):
        Terms(D(10), "USD", "month", quantity=1.5)


@FAST
@given(
    amount=st.decimals(min_value=0, max_value=100_000, places=4),
    interval=st.sampled_from(["day", "week", "month", "year"]),
    count=st.integers(1, 24),
    quantity=st.integers(0, 1000),
)
def test_mrr_is_linear_in_quantity_and_arr_is_twelve_mrr(amount, interval, count, quantity):
    one = subscription_mrr(Terms(amount, "USD", interval, count))
    many = subscription_mrr(Terms(amount, "USD", interval, count, quantity=quantity))
    assert abs(many - one * quantity) < D("1e-15")
    revenue = recurring_revenue([Terms(amount, "USD", interval, count, quantity)], "USD")
    assert abs(revenue.arr - 12 * revenue.mrr) <= D("0.06")  # 12 × half a cent
    assert monthly_amount(amount, interval, count) >= 0
