"""The recognition reports (reports/revenue/selectors.py) with worked numbers, and the
roll-forward identity as a property.

The derived rows (schedules, recognition lines, reversals, usage accruals) are made here
directly from the pure engine (reports/revenue/schedules.py), as the consumer's booking
would: a line recognises over its own days, also before it was invoiced, except that what
falls in closed months (before `first_open`) is recognised in the first open month; a
credit comes off deferred first, and what it takes off revenue (`from_revenue`) is on the
reversal, not in the lines. One test books through reports/revenue/booking.py itself.

The contract's example, used throughout: 1,200.00 over 2026-01-15 → 2027-01-15 (365 days)
recognises 55.89 in January (17 days), 92.06 in February (to date 45 days: 147.95) and
leaves 1,052.05 deferred at the end of February.
"""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Invoice, InvoiceLine, LineKind
from billing.tests import factories
from reports.revenue.models import (
    RecognitionLine,
    RevenueReversal,
    RevenueSchedule,
    UsageAccrual,
)
from reports.revenue.schedules import Month, reverse, schedule
from reports.revenue.selectors import (
    deferred_roll_forward,
    deferred_roll_forward_csv,
    month_before,
    months_between,
    recognition_report,
    recognition_report_csv,
    revenue_waterfall,
    revenue_waterfall_csv,
)

pytestmark = pytest.mark.django_db

D = Decimal
JAN, FEB, MAR = Month(2026, 1), Month(2026, 2), Month(2026, 3)
YEAR = (date(2026, 1, 15), date(2027, 1, 15))


# -- Rows as the consumer's booking makes them ---------------------------------------------


def _moment(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


def _folded(months: list[tuple[str, Decimal]], first_open: date | None):
    if first_open is None:
        return months
    key = str(Month.of(first_open))
    early = sum((amount for month, amount in months if month < key), D(0))
    rest = dict((month, amount) for month, amount in months if month >= key)
    rest[key] = rest.get(key, D(0)) + early
    return sorted(rest.items())


def _write_lines(sched: RevenueSchedule, months: list[tuple[str, Decimal]]) -> None:
    RecognitionLine.objects.filter(schedule=sched).delete()
    RecognitionLine.objects.bulk_create(
        RecognitionLine(
            schedule=sched,
            invoice_id=sched.invoice_id,
            customer_id=sched.customer_id,
            currency=sched.currency,
            booking_month=sched.booking_month,
            month=Month.parse(key).first_day,
            amount=amount,
        )
        for key, amount in _folded(months, sched.first_open)
    )


def book(
    customer,
    amount: str,
    start: date | None,
    end: date | None,
    on: date,
    currency="EUR",
    first_open: date | None = None,
):
    """A finalized invoice line of `amount` over [start, end) (None: at once), booked on
    `on`; the months before `first_open` are closed."""
    invoice = Invoice.objects.create(customer=customer, currency=currency)
    line = InvoiceLine.objects.create(
        customer=customer,
        currency=currency,
        invoice=invoice,
        kind=LineKind.SUBSCRIPTION if start else LineKind.ONE_TIME,
        description="Line",
        amount=D(amount),
        period_start=_moment(start),
        period_end=_moment(end),
    )
    sched = RevenueSchedule.objects.create(
        invoice_line=line,
        invoice=invoice,
        customer=customer,
        currency=currency,
        kind=line.kind,
        amount=D(amount),
        start=start or on,
        end=end or on,
        booked_on=on,
        booking_month=Month.of(on).first_day,
        basis_amount=D(amount),
        basis_start=start or on,
    )
    sched.first_open = first_open  # not stored: how this test books it
    _write_lines(sched, schedule(D(amount), currency, start, end, point_in_time=on))
    return sched


def credit(sched: RevenueSchedule, amount: str, on: date) -> RevenueReversal:
    """The schedule's (first) credit of `amount` on `on`: off deferred first."""
    on = max(on, sched.booked_on)
    result = reverse(sched.amount, sched.currency, sched.start, sched.end, D(amount), on)
    key = str(Month.of(on))
    months = dict(result.schedule)
    months[key] += result.from_revenue  # the part off revenue is on the reversal only
    _write_lines(sched, sorted(months.items()))
    return RevenueReversal.objects.create(
        schedule=sched,
        customer_id=sched.customer_id,
        currency=sched.currency,
        source=f"credit_note:{sched.pk}",
        on=on,
        month=Month.of(on).first_day,
        amount=D(amount),
        from_deferred=result.from_deferred,
        from_revenue=result.from_revenue,
    )


def accrue(customer, month: Month, amount: str, currency="EUR") -> UsageAccrual:
    return UsageAccrual.objects.create(
        customer=customer, currency=currency, month=month.first_day, amount=D(amount)
    )


def table(report: dict) -> dict[str, tuple]:
    return {
        row["month"]: (row["billed"], row["recognized"], row["deferred_end"])
        for row in report["months"]
    }


@pytest.fixture
def acme():
    return factories.customer("acme", currency="EUR")


# -- recognition_report ----------------------------------------------------------------------


def test_the_contract_example(acme):
    book(acme, "1200.00", *YEAR, on=YEAR[0])
    report = recognition_report(currency="EUR", first=JAN, last=FEB)
    assert report["currency"] == "EUR"
    assert table(report) == {
        "2026-01": (D("1200.00"), D("55.89"), D("1144.11")),
        "2026-02": (D("0"), D("92.06"), D("1052.05")),
    }
    assert report["total_recognized"] == D("147.95")
    assert all(isinstance(v, Decimal) for row in table(report).values() for v in row)


def test_the_opening_balance_is_everything_before_the_range(acme):
    book(acme, "1200.00", *YEAR, on=YEAR[0])
    report = recognition_report(currency="EUR", first=FEB, last=FEB)
    assert table(report) == {"2026-02": (D("0"), D("92.06"), D("1052.05"))}
    # Before anything was booked: nothing; the whole year: all of it, nothing left.
    empty = recognition_report(currency="EUR", first=Month(2025, 11), last=Month(2025, 12))
    assert [row["deferred_end"] for row in empty["months"]] == [D(0), D(0)]
    year = recognition_report(currency="EUR", first=JAN, last=Month(2027, 1))
    assert year["total_recognized"] == D("1200.00")
    assert table(year)["2027-01"] == (D(0), D("46.03"), D(0))
    assert len(year["months"]) == 13


def test_a_leap_year_line(acme):
    # 2024-01-01 -> 2025-01-01 is 366 days: January 1200 x 31 / 366 = 101.64; to 1 March
    # (60 days) 196.72, so February 95.08 and 1,003.28 deferred; December 101.64.
    book(acme, "1200.00", date(2024, 1, 1), date(2025, 1, 1), on=date(2024, 1, 1))
    report = recognition_report(currency="EUR", first=Month(2024, 1), last=Month(2024, 12))
    rows = table(report)
    assert rows["2024-01"] == (D("1200.00"), D("101.64"), D("1098.36"))
    assert rows["2024-02"] == (D(0), D("95.08"), D("1003.28"))
    assert rows["2024-12"] == (D(0), D("101.64"), D(0))
    assert report["total_recognized"] == D("1200.00")


def test_a_line_billed_late_is_recognised_over_its_own_days(acme):
    # Billed on 10 March for the year from 15 January, no month closed: January and
    # February recognise their days before anything is billed (deferred is negative:
    # unbilled); March 249.86 - 147.95 = 101.91 (to 1 April, 76 days: 249.86).
    book(acme, "1200.00", *YEAR, on=date(2026, 3, 10))
    rows = table(recognition_report(currency="EUR", first=JAN, last=MAR))
    assert rows == {
        "2026-01": (D(0), D("55.89"), D("-55.89")),
        "2026-02": (D(0), D("92.06"), D("-147.95")),
        "2026-03": (D("1200.00"), D("101.91"), D("950.14")),
    }
    roll = deferred_roll_forward(currency="EUR", first=JAN, last=MAR)
    assert roll["balanced"]
    assert [row["closing"] for row in roll["months"]] == [D("-55.89"), D("-147.95"), D("950.14")]


def test_a_line_billed_late_catches_up_in_the_first_open_month(acme):
    # The same, January and February closed: to 1 April is 76 days,
    # 1200 x 76 / 365 = 249.86, all in March; nothing in January or February.
    book(acme, "1200.00", *YEAR, on=date(2026, 3, 10), first_open=date(2026, 3, 1))
    rows = table(recognition_report(currency="EUR", first=JAN, last=Month(2026, 4)))
    assert rows["2026-01"] == rows["2026-02"] == (D(0), D(0), D(0))
    assert rows["2026-03"] == (D("1200.00"), D("249.86"), D("950.14"))
    # April: 30 days; to 1 May 106 days: 348.49, so 98.63.
    assert rows["2026-04"] == (D(0), D("98.63"), D("851.51"))


def test_a_credit_note_reverses_deferred_first(acme):
    # 600.00 credited on 1 March, when 1,052.05 is deferred: all of it off deferred; the
    # 452.05 left over the 320 days to 2027-01-15: March 452.05 x 31 / 320 = 43.79.
    sched = book(acme, "1200.00", *YEAR, on=YEAR[0])
    reversal = credit(sched, "600.00", date(2026, 3, 1))
    assert (reversal.from_deferred, reversal.from_revenue) == (D("600.00"), D("0.00"))
    report = recognition_report(currency="EUR", first=JAN, last=MAR)
    assert table(report) == {
        "2026-01": (D("1200.00"), D("55.89"), D("1144.11")),
        "2026-02": (D(0), D("92.06"), D("1052.05")),
        "2026-03": (D(0), D("43.79"), D("408.26")),  # 1052.05 - 600 - 43.79
    }
    whole = recognition_report(currency="EUR", first=JAN, last=Month(2027, 1))
    assert whole["total_recognized"] == D("600.00")
    assert whole["months"][-1]["deferred_end"] == D(0)


def test_a_credit_beyond_deferred_comes_off_revenue(acme):
    # 1,100.00 credited on 1 March: 1,052.05 off deferred, 47.95 off March's revenue.
    sched = book(acme, "1200.00", *YEAR, on=YEAR[0])
    reversal = credit(sched, "1100.00", date(2026, 3, 1))
    assert (reversal.from_deferred, reversal.from_revenue) == (D("1052.05"), D("47.95"))
    report = recognition_report(currency="EUR", first=JAN, last=Month(2026, 4))
    rows = table(report)
    assert rows["2026-03"] == (D(0), D("-47.95"), D(0))
    assert rows["2026-04"] == (D(0), D(0), D(0))
    assert report["total_recognized"] == D("100.00")  # 1200 - 1100


def test_usage_is_revenue_of_the_month_consumed(acme):
    # January's usage, 40.00, is not invoiced when January closes: accrued at its end, then
    # invoiced on 2 February (its period in closed January: recognised in February);
    # February's, 25.00, the same in March. Revenue: January 40, February 40 + 25 - 40 =
    # 25, March 25 - 25 = 0.
    accrue(acme, JAN, "40.00")
    book(
        acme,
        "40.00",
        date(2026, 1, 1),
        date(2026, 2, 1),
        on=date(2026, 2, 2),
        first_open=FEB.first_day,
    )
    accrue(acme, FEB, "25.00")
    book(
        acme,
        "25.00",
        date(2026, 2, 1),
        date(2026, 3, 1),
        on=date(2026, 3, 2),
        first_open=MAR.first_day,
    )
    report = recognition_report(currency="EUR", first=JAN, last=MAR)
    assert table(report) == {
        "2026-01": (D(0), D("40.00"), D(0)),
        "2026-02": (D("40.00"), D("25.00"), D(0)),
        "2026-03": (D("25.00"), D(0), D(0)),
    }
    assert report["total_recognized"] == D("65.00")
    # From February on: January's accrual still comes off February (it is reversed then).
    assert table(recognition_report(currency="EUR", first=FEB, last=FEB)) == {
        "2026-02": (D("40.00"), D("25.00"), D(0))
    }


def test_one_currency_and_one_customer(acme):
    other = factories.customer("other", currency="EUR")
    book(acme, "1200.00", *YEAR, on=YEAR[0])
    book(other, "31.00", date(2026, 1, 1), date(2026, 2, 1), on=date(2026, 1, 1))
    book(acme, "999.00", date(2026, 1, 1), date(2026, 2, 1), on=date(2026, 1, 1), currency="USD")
    accrue(other, JAN, "5.00")
    everyone = recognition_report(currency="EUR", first=JAN, last=JAN)
    assert table(everyone)["2026-01"] == (D("1231.00"), D("91.89"), D("1144.11"))
    only = recognition_report(currency="EUR", first=JAN, last=JAN, customer_id=acme.pk)
    assert table(only)["2026-01"] == (D("1200.00"), D("55.89"), D("1144.11"))
    usd = recognition_report(currency="USD", first=JAN, last=JAN)
    assert table(usd)["2026-01"] == (D("999.00"), D("999.00"), D(0))
    assert recognition_report(currency="JPY", first=JAN, last=JAN)["total_recognized"] == 0


def test_a_one_time_fee_is_revenue_on_its_day(acme):
    book(acme, "50.00", None, None, on=date(2026, 2, 14))
    assert table(recognition_report(currency="EUR", first=FEB, last=FEB)) == {
        "2026-02": (D("50.00"), D("50.00"), D(0))
    }


def test_a_fixed_number_of_queries(acme, django_assert_num_queries):
    for n in range(5):
        sched = book(acme, "1200.00", *YEAR, on=YEAR[0] + timedelta(days=20 * n))
        credit(sched, "100.00", date(2026, 6, 1))
    accrue(acme, JAN, "3.00")
    with django_assert_num_queries(4):
        recognition_report(currency="EUR", first=JAN, last=Month(2026, 12))
    with django_assert_num_queries(3):
        revenue_waterfall(currency="EUR", first=JAN, last=Month(2026, 12))
    with django_assert_num_queries(3):
        deferred_roll_forward(currency="EUR", first=JAN, last=Month(2026, 12))


def test_months_between():
    assert months_between(Month(2026, 11), Month(2027, 2)) == [
        Month(2026, 11),
        Month(2026, 12),
        Month(2027, 1),
        Month(2027, 2),
    ]
    assert month_before(JAN) == Month(2025, 12)
    with pytest.raises(ValueError, match="ends"):
        recognition_report(currency="EUR", first=FEB, last=JAN)


# -- Waterfall ------------------------------------------------------------------------------


def test_the_waterfall(acme):
    # A: the contract's year, booked in January, 600.00 credited on 1 March.
    # B: 300.00 over 2026-02-01 -> 2026-05-01 (89 days), booked in February:
    #    February 300 x 28 / 89 = 94.38; to 1 April (59 days) 198.88, so March 104.50;
    #    April 101.12.
    credit(book(acme, "1200.00", *YEAR, on=YEAR[0]), "600.00", date(2026, 3, 1))
    book(acme, "300.00", date(2026, 2, 1), date(2026, 5, 1), on=date(2026, 2, 1))
    report = revenue_waterfall(currency="EUR", first=JAN, last=FEB)
    assert report["through"] == "2026-02"
    assert report["months"] == [str(m) for m in months_between(JAN, Month(2027, 1))]
    january, february = report["rows"]
    assert january["booking_month"] == "2026-01"
    assert list(january["recognized"].items())[:3] == [
        ("2026-01", D("55.89")),
        ("2026-02", D("92.06")),
        ("2026-03", D("43.79")),
    ]
    assert (january["billed"], january["reversed"]) == (D("1200.00"), D("600.00"))
    assert (january["recognized_to_date"], january["remaining"]) == (D("147.95"), D("452.05"))
    assert february["recognized"] == {
        "2026-02": D("94.38"),
        "2026-03": D("104.50"),
        "2026-04": D("101.12"),
    }
    assert (february["recognized_to_date"], february["remaining"]) == (D("94.38"), D("205.62"))
    for row in report["rows"]:
        assert row["billed"] == row["recognized_to_date"] + row["remaining"] + row["reversed"]
    totals = report["totals"]
    assert (totals["billed"], totals["reversed"]) == (D("1500.00"), D("600.00"))
    assert totals["recognized"]["2026-03"] == D("148.29")
    assert (totals["recognized_to_date"], totals["remaining"]) == (D("242.33"), D("657.67"))
    # Recognised to date through April instead.
    later = revenue_waterfall(currency="EUR", first=JAN, last=FEB, through=Month(2026, 4))
    assert later["rows"][1]["remaining"] == D(0)
    # A range with no bookings still has its rows.
    quiet = revenue_waterfall(currency="EUR", first=Month(2025, 6), last=Month(2025, 7))
    assert [row["booking_month"] for row in quiet["rows"]] == ["2025-06", "2025-07"]
    assert quiet["months"] == []
    assert quiet["totals"]["billed"] == 0


def test_the_waterfall_csv(acme):
    book(acme, "300.00", date(2026, 2, 1), date(2026, 5, 1), on=date(2026, 2, 1))
    text = revenue_waterfall_csv(revenue_waterfall(currency="EUR", first=JAN, last=FEB))
    assert text.split("\r\n") == [
        "booking_month,currency,billed,2026-02,2026-03,2026-04,reversed,"
        "recognized_to_date,remaining",
        "2026-01,EUR,0.00,0.00,0.00,0.00,0.00,0.00,0.00",
        "2026-02,EUR,300.00,94.38,104.50,101.12,0.00,94.38,205.62",
        "total,EUR,300.00,94.38,104.50,101.12,0.00,94.38,205.62",
        "",
    ]


# -- Roll-forward -----------------------------------------------------------------------------


def test_the_roll_forward(acme):
    credit(book(acme, "1200.00", *YEAR, on=YEAR[0]), "600.00", date(2026, 3, 1))
    book(acme, "300.00", date(2026, 2, 1), date(2026, 5, 1), on=date(2026, 2, 1))
    report = deferred_roll_forward(currency="EUR", first=FEB, last=MAR)
    assert report["balanced"] is True
    february, march = report["months"]
    assert february == {
        "month": "2026-02",
        "opening": D("1144.11"),
        "billed": D("300.00"),
        "recognized": D("186.44"),  # 92.06 + 94.38
        "reversed": D(0),
        "closing": D("1257.67"),  # 1052.05 + 205.62
        "balanced": True,
        "difference": D(0),
    }
    assert (march["opening"], march["recognized"], march["reversed"]) == (
        D("1257.67"),
        D("148.29"),  # 43.79 + 104.50
        D("600.00"),
    )
    assert march["closing"] == D("509.38")  # 408.26 + 101.12
    # The recognition report's deferred balance is the same.
    rows = table(recognition_report(currency="EUR", first=FEB, last=MAR))
    assert [rows[m["month"]][2] for m in report["months"]] == [D("1257.67"), D("509.38")]


def test_a_broken_schedule_is_flagged(acme, caplog):
    sched = book(acme, "1200.00", *YEAR, on=YEAR[0])
    RecognitionLine.objects.filter(schedule=sched, month=date(2026, 6, 1)).delete()  # 98.63 gone
    report = deferred_roll_forward(currency="EUR", first=JAN, last=Month(2026, 12))
    assert report["balanced"] is False
    bad = [row for row in report["months"] if not row["balanced"]]
    assert [row["month"] for row in bad] == ["2026-01"]  # booked then: lines short of billed
    assert bad[0]["difference"] == D("98.63")
    assert "does not roll forward" in caplog.text


def test_the_roll_forward_csv(acme):
    book(acme, "1200.00", *YEAR, on=YEAR[0])
    report = deferred_roll_forward(currency="EUR", first=JAN, last=FEB)
    assert deferred_roll_forward_csv(report).split("\r\n") == [
        "month,currency,opening,billed,recognized,reversed,closing,balanced",
        "2026-01,EUR,0.00,1200.00,55.89,0.00,1144.11,true",
        "2026-02,EUR,1144.11,0.00,92.06,0.00,1052.05,true",
        "",
    ]
    out = io.StringIO()
    assert (
        recognition_report_csv(recognition_report(currency="EUR", first=JAN, last=JAN), out) is None
    )
    assert out.getvalue() == (
        "month,currency,billed,recognized,deferred_end\r\n2026-01,EUR,1200.00,55.89,1144.11\r\n"
    )


def test_booked_by_the_consumers_booking(acme):
    """The same figures when reports/revenue/booking.py books an invoice and credits it."""
    from reports.revenue import booking

    invoice = Invoice.objects.create(customer=acme, currency="EUR")
    InvoiceLine.objects.create(
        customer=acme,
        currency="EUR",
        invoice=invoice,
        kind=LineKind.SUBSCRIPTION,
        description="Yearly",
        amount=D("1200.00"),
        period_start=_moment(YEAR[0]),
        period_end=_moment(YEAR[1]),
    )
    (sched,) = booking.invoice_book(invoice=invoice, on=YEAR[0])
    booking.schedule_credit(sched=sched, credit=D("600.00"), on=date(2026, 3, 1), source="cn:1")
    report = recognition_report(currency="EUR", first=JAN, last=MAR)
    assert table(report)["2026-03"] == (D(0), D("43.79"), D("408.26"))
    assert deferred_roll_forward(currency="EUR", first=JAN, last=Month(2027, 1))["balanced"]


# -- The roll-forward identity, as a property -------------------------------------------------

line = st.fixed_dictionaries(
    {
        "cents": st.integers(-50_000, 500_000).filter(bool),
        "start": st.integers(0, 500),  # days after 2025-01-01
        "days": st.integers(0, 366),  # 0: at once
        "booked": st.integers(-60, 90),  # days after start (before: in advance)
        "closed": st.booleans(),  # the months before the booking month are closed
        "credit": st.none() | st.tuples(st.integers(1, 120), st.integers(-30, 450)),
    }
)
BASE = date(2025, 1, 1)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines=st.lists(line, min_size=1, max_size=6), cut=st.integers(0, 40))
def test_the_roll_forward_identity_holds(acme, lines, cut):
    """Whatever the lines and credits: every month balances (opening + billed − recognised −
    reversed = closing, the balances measured apart), the recognition report's deferred
    balance equals the roll-forward's, and in the end everything billed is recognised or
    credited."""
    with transaction.atomic():
        billed = credited = D(0)
        for spec in lines:
            amount = D(spec["cents"]) / 100
            start = BASE + timedelta(days=spec["start"])
            end = start + timedelta(days=spec["days"])
            on = start + timedelta(days=spec["booked"])
            first_open = Month.of(on).first_day if spec["closed"] else None
            if spec["days"]:
                sched = book(acme, str(amount), start, end, on=on, first_open=first_open)
            else:
                sched = book(acme, str(amount), None, None, on=start)
            billed += amount
            if spec["credit"]:
                percent, after = spec["credit"]
                part = (amount * percent / 100).quantize(D("0.01"))
                if part and abs(part) <= abs(amount):
                    credit(sched, str(part), sched.booked_on + timedelta(days=after))
                    credited += part
        first, last = Month(2024, 10), Month(2028, 6)
        middle = months_between(first, last)[cut]
        roll = deferred_roll_forward(currency="EUR", first=middle, last=last)
        assert roll["balanced"], [m for m in roll["months"] if not m["balanced"]]
        report = recognition_report(currency="EUR", first=middle, last=last)
        assert [m["deferred_end"] for m in report["months"]] == [
            m["closing"] for m in roll["months"]
        ]
        whole = recognition_report(currency="EUR", first=first, last=last)
        assert whole["months"][-1]["deferred_end"] == 0
        assert whole["total_recognized"] == billed - credited
        assert sum(m["billed"] for m in whole["months"]) == billed
        waterfall = revenue_waterfall(currency="EUR", first=first, last=last)
        for row in waterfall["rows"]:
            assert row["billed"] == row["recognized_to_date"] + row["remaining"] + row["reversed"]
        transaction.set_rollback(True)
