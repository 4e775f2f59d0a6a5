"""MRR movements per month and churn/retention rates; plain functions, no database."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.money import round_money
from reports.metrics.movements import (
    CustomerSeries,
    month_range,
    movement_kind,
    mrr_movements,
    mrr_rates,
)

D = Decimal
FAST = settings(max_examples=300, deadline=None, database=None)

# Movements --------------------------------------------------------------------------------

MONTHS = month_range("2026-01", "2026-04")


def series(customer, opening, *ends, paid_before=False, involuntary=()):
    return CustomerSeries(
        customer,
        {month: D(value) for month, value in zip(MONTHS, ends, strict=False)},
        D(opening),
        paid_before,
        frozenset(involuntary),
    )


def test_each_kind_of_movement():
    customers = [
        series("new", 0, 100, 100, 100, 100),  # January: new 100
        series("back", 0, 50, 50, 50, 50, paid_before=True),  # January: reactivation 50
        series("up", 100, 150, 150, 150, 150),  # January: expansion 50
        series("down", 200, 120, 120, 120, 120),  # January: contraction 80 (one of two subs)
        series("gone", 80, 0, 0, 0, 0),  # January: voluntary churn 80
        series("dunned", 40, 0, 0, 0, 0, involuntary={"2026-01"}),  # involuntary churn 40
    ]
    january = mrr_movements(customers, MONTHS, "USD")[0]
    assert (january.start, january.end) == (D(420), D(420))
    assert (january.new, january.reactivation, january.expansion) == (D(100), D(50), D(50))
    assert (january.contraction, january.churn) == (D(80), D(120))
    assert (january.voluntary_churn, january.involuntary_churn) == (D(80), D(40))
    assert D(420) + 100 + 50 + 50 - 80 - 120 == D(420)
    assert (january.customers_at_start, january.customers_at_end) == (4, 4)
    assert (january.new_customers, january.reactivated_customers) == (1, 1)
    assert january.churned_customers == 2


@pytest.mark.parametrize(
    ("start", "end", "paid_before", "kind"),
    [
        (0, 10, False, "new"),
        (0, 10, True, "reactivation"),
        (10, 15, True, "expansion"),
        (10, 5, True, "contraction"),
        (10, 0, True, "churn"),
        (10, 10, True, None),
        (0, 0, False, None),
    ],
)
def test_movement_kind(start, end, paid_before, kind):
    assert movement_kind(D(start), D(end), paid_before=paid_before) == kind


def test_a_customer_who_left_within_the_report_comes_back_as_a_reactivation():
    movements = mrr_movements([series("c", 0, 30, 0, 0, 45)], MONTHS, "USD")
    assert [m.new for m in movements] == [D(30), 0, 0, 0]
    assert [m.churn for m in movements] == [0, D(30), 0, 0]
    assert [m.reactivation for m in movements] == [0, 0, 0, D(45)]


def test_a_full_discount_is_churn_and_its_end_a_reactivation():
    # 100 → 0 (100 % coupon) → 100 again when it ends
    movements = mrr_movements([series("c", 100, 0, 100, 100, 100)], MONTHS, "USD")
    assert movements[0].churn == D(100)
    assert movements[1].reactivation == D(100)


def test_unrounded_mrr_is_rounded_per_customer_first():
    weekly = D(520) / D(12)  # 43.333…
    movements = mrr_movements([series("c", weekly, weekly * 2)], ["2026-01"], "USD")
    assert (movements[0].start, movements[0].expansion, movements[0].end) == (
        D("43.33"),
        D("43.34"),
        D("86.67"),
    )


def test_bad_months():
    with pytest.raises(ValueError, match="consecutive"):
        mrr_movements([], ["2026-01", "2026-03"], "USD")
    with pytest.raises(ValueError, match="outside"):
        mrr_movements([series("c", 0, 1, 1, 1, 1)], ["2026-01"], "USD")
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_range("2026-1", "2026-02")
    assert month_range("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]


# Rates ------------------------------------------------------------------------------------


def test_rates_of_one_month():
    customers = [
        series("a", 100, 0),  # churn 100
        series("b", 200, 150),  # contraction 50
        series("c", 300, 360),  # expansion 60
        series("d", 400, 400),
        series("e", 0, 90, paid_before=True),  # reactivation 90
        series("f", 0, 70),  # new 70
    ]
    rates = mrr_rates(customers, ["2026-01"], "USD")
    assert rates.customer_churn == D("0.2500")  # 1 ÷ 4
    assert rates.gross_mrr_churn == D("0.1500")  # 150 ÷ 1,000
    assert rates.net_mrr_churn == D("0.0000")  # (150 − 60 − 90) ÷ 1,000
    assert rates.nrr == D("0.9100")  # (1,000 − 100 − 50 + 60) ÷ 1,000
    assert rates.grr == D("0.8500")  # (1,000 − 150) ÷ 1,000


def test_rates_over_a_range_use_the_starting_cohort_for_nrr_and_grr():
    customers = [
        series("a", 100, 100, 0, 0, 0),  # cohort: churns in February
        series("b", 300, 330, 330, 330, 330),  # cohort: +30
        series("c", 0, 0, 500, 0, 0),  # joins and leaves within the range
    ]
    rates = mrr_rates(customers, MONTHS, "USD")
    assert rates.customer_churn == D("1.0000")  # 2 churn events ÷ 2 at start
    assert rates.gross_mrr_churn == D("1.5000")  # (100 + 500) ÷ 400
    assert rates.net_mrr_churn == D("1.4250")  # (600 − 30) ÷ 400
    assert rates.nrr == D("0.8250")  # 330 ÷ 400
    assert rates.grr == D("0.7500")  # 300 ÷ 400


def test_rates_are_none_without_a_start():
    rates = mrr_rates([series("new", 0, 10)], ["2026-01"], "USD")
    assert rates == type(rates)(None, None, None, None, None)


def test_rates_round_half_up_to_four_places():
    rates = mrr_rates([series("a", 3, 2), series("b", 0, 0)], ["2026-01"], "USD")
    assert rates.grr == D("0.6667")
    assert rates.gross_mrr_churn == D("0.3333")


amounts = st.one_of(
    st.just(D(0)), st.decimals(min_value=0, max_value=10_000, places=5, allow_nan=False)
)


@st.composite
def customer_series(draw):
    count = draw(st.integers(1, 6))
    months = month_range("2025-11", "2026-12")[:count]
    customers = [
        CustomerSeries(
            f"c{index}",
            {m: draw(amounts) for m in months if draw(st.booleans())},
            draw(amounts),
            draw(st.booleans()),
            frozenset(draw(st.lists(st.sampled_from(months)))),
        )
        for index in range(draw(st.integers(0, 6)))
    ]
    return customers, months


@FAST
@given(customer_series())
def test_movements_identity_holds_every_month(data):
    customers, months = data
    movements = mrr_movements(customers, months, "USD")
    previous_end = None
    for m in movements:
        assert m.end == m.start + m.new + m.expansion + m.reactivation - m.contraction - m.churn
        assert m.churn == m.voluntary_churn + m.involuntary_churn
        assert min(m.new, m.expansion, m.contraction, m.churn, m.reactivation) >= 0
        if previous_end is not None:
            assert m.start == previous_end
        previous_end = m.end
        assert m.customers_at_end == (
            m.customers_at_start + m.new_customers + m.reactivated_customers - m.churned_customers
        )
    last = sum((round_money(c.month_end_mrr.get(months[-1], D(0)), "USD") for c in customers), D(0))
    assert movements[-1].end == last


@FAST
@given(customer_series())
def test_one_month_rates_agree_with_the_cohort(data):
    customers, months = data
    first = [
        CustomerSeries(
            c.customer,
            {m: v for m, v in c.month_end_mrr.items() if m == months[0]},
            c.opening_mrr,
            c.paid_before,
        )
        for c in customers
    ]
    rates = mrr_rates(first, months[:1], "USD")
    if rates.grr is None:
        return
    assert abs(rates.gross_mrr_churn - (1 - rates.grr)) <= D("0.0001")
    assert D(0) <= rates.grr <= 1
    assert rates.nrr + rates.gross_mrr_churn >= 1 - D("0.0001")  # 1 + expansion


@FAST
@given(customer_series())
def test_nrr_and_grr_are_the_starting_cohorts_retention(data):
    customers, months = data
    rates = mrr_rates(customers, months, "USD")
    cohort = [
        (
            round_money(c.opening_mrr, "USD"),
            round_money(c.month_end_mrr.get(months[-1], D(0)), "USD"),
        )
        for c in customers
        if round_money(c.opening_mrr, "USD") > 0
    ]
    start = sum((s for s, _e in cohort), D(0))
    if start == 0:
        assert (rates.nrr, rates.grr) == (None, None)
        return
    assert rates.nrr == (sum((e for _s, e in cohort), D(0)) / start).quantize(
        D("0.0001"), rounding=ROUND_HALF_UP
    )
    kept = sum((min(s, e) for s, e in cohort), D(0))
    assert rates.grr == (kept / start).quantize(D("0.0001"), rounding=ROUND_HALF_UP)
