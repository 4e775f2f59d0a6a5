"""Receivables ageing (reports/ledger/ageing.py) with worked numbers on the day boundaries.

Invoices are made through billing's services; with INVOICE_DUE_DAYS = 0 an invoice is due at
the instant it is issued, so "due N days ago" is an invoice issued then. As of 2026-06-30:

    acme (USD)   due                        amount due   bucket
    not due      2026-07-09 (issued 25 Jun)  1000.00     current
    today        2026-06-30 08:00               1.00     current
    1 day        2026-06-29 23:59               2.00     1–30
    30 days      2026-05-31 00:00               4.00     1–30
    31 days      2026-05-30 23:59               8.00     31–60
    60 days      2026-05-01 12:00              16.00     31–60
    61 days      2026-04-30 12:00   40.00 − 8.00 paid = 32.00   61–90
    90 days      2026-04-01 12:00              64.00     61–90
    91 days      2026-03-31 12:00             128.00     over 90
                 current 1001.00, 1–30 6.00, 31–60 24.00, 61–90 96.00, over 90 128.00;
                 total 1255.00

Not receivables: a paid, a void and a written-off invoice, and one issued on 1 July (after
the day). beta (USD) owes 5.00 due 45 days ago; euro (EUR) 7.50 due 100 days ago, in its
own currency."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.invoicing.services.invoices import (
    invoice_mark_paid,
    invoice_mark_uncollectible,
    invoice_void,
)
from billing.payments.services.allocations import payment_record_received
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from reports.ledger.ageing import receivables_ageing, receivables_ageing_csv

pytestmark = pytest.mark.django_db
D = Decimal
AS_OF = date(2026, 6, 30)


def days_ago(days: int, hour: int = 12, minute: int = 0) -> datetime:
    day = AS_OF - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def invoices(settings):
    settings.INVOICE_DUE_DAYS = 0
    acme = factories.customer("acme")
    beta = factories.customer("beta")
    euro = factories.customer("euro", currency="EUR")
    open_invoice(acme, "1.00", at=days_ago(0, hour=8))
    open_invoice(acme, "2.00", at=days_ago(1, hour=23, minute=59))
    open_invoice(acme, "4.00", at=days_ago(30, hour=0))
    open_invoice(acme, "8.00", at=days_ago(31, hour=23, minute=59))
    open_invoice(acme, "16.00", at=days_ago(60))
    partly = open_invoice(acme, "40.00", at=days_ago(61))
    payment_record_received(
        customer=acme, amount=D("8.00"), currency="USD", at=days_ago(50), invoices=[partly]
    )
    open_invoice(acme, "64.00", at=days_ago(90))
    open_invoice(acme, "128.00", at=days_ago(91))
    open_invoice(beta, "5.00", at=days_ago(45))
    open_invoice(euro, "7.50", at=days_ago(100))
    # Not receivables
    invoice_mark_paid(invoice=open_invoice(acme, "256.00", at=days_ago(20)), at=days_ago(10))
    invoice_void(invoice=open_invoice(acme, "512.00", at=days_ago(20)), at=days_ago(10))
    invoice_mark_uncollectible(
        invoice=open_invoice(acme, "999.00", at=days_ago(200)), at=days_ago(5)
    )
    open_invoice(acme, "77.00", at=days_ago(-1))  # issued after the day
    settings.INVOICE_DUE_DAYS = 14
    open_invoice(acme, "1000.00", at=days_ago(5))  # due 9 July: not due yet


def test_buckets_on_the_day_boundaries(invoices):
    eur, usd = receivables_ageing(as_of=AS_OF)  # currencies in alphabetical order
    assert usd["currency"] == "USD"
    acme, beta = usd["customers"]
    assert (acme["customer"], acme["name"]) == ("acme", "Acme")
    assert {key: acme[key] for key in acme if key not in ("customer_id", "customer", "name")} == {
        "current": D("1001.00"),
        "days_1_30": D("6.00"),
        "days_31_60": D("24.00"),
        "days_61_90": D("96.00"),
        "over_90": D("128.00"),
        "total": D("1255.00"),
    }
    assert (beta["customer"], beta["days_31_60"], beta["total"]) == ("beta", D("5.00"), D("5.00"))
    assert usd["totals"] == {
        "current": D("1001.00"),
        "days_1_30": D("6.00"),
        "days_31_60": D("29.00"),
        "days_61_90": D("96.00"),
        "over_90": D("128.00"),
        "total": D("1260.00"),
    }
    assert eur["currency"] == "EUR"
    assert eur["totals"]["over_90"] == eur["totals"]["total"] == D("7.50")


@pytest.mark.parametrize(
    ("as_of", "bucket"),
    [
        (date(2026, 5, 31), "current"),  # due that day
        (date(2026, 6, 1), "days_1_30"),
        (date(2026, 6, 30), "days_1_30"),  # 30 days
        (date(2026, 7, 1), "days_31_60"),  # 31 days
        (date(2026, 7, 30), "days_31_60"),  # 60 days
        (date(2026, 7, 31), "days_61_90"),  # 61 days
        (date(2026, 8, 29), "days_61_90"),  # 90 days
        (date(2026, 8, 30), "over_90"),  # 91 days
    ],
)
def test_one_invoice_moves_bucket_the_day_after_each_boundary(settings, as_of, bucket):
    settings.INVOICE_DUE_DAYS = 0
    customer = factories.customer("solo")
    open_invoice(customer, "10.00", at=datetime(2026, 5, 31, 23, 59, tzinfo=UTC))
    (usd,) = receivables_ageing(as_of=as_of)
    buckets = {key: value for key, value in usd["totals"].items() if key != "total" and value}
    assert buckets == {bucket: D("10.00")}


def test_filters_and_an_earlier_day(invoices):
    (eur,) = receivables_ageing(as_of=AS_OF, currency="EUR")
    assert eur["customers"][0]["customer"] == "euro"
    # As of 1 May only the invoices issued by then, aged at that day: 16.00 (due that day),
    # 32.00 (1 day), 64.00 (30 days), 128.00 (31 days); beta's and the others came later.
    (usd,) = receivables_ageing(as_of=date(2026, 5, 1), currency="USD")
    assert [row["customer"] for row in usd["customers"]] == ["acme"]
    assert usd["totals"] == {
        "current": D("16.00"),
        "days_1_30": D("96.00"),
        "days_31_60": D("128.00"),
        "days_61_90": D("0.00"),
        "over_90": D("0.00"),
        "total": D("240.00"),
    }
    assert receivables_ageing(as_of=AS_OF, currency="JPY") == []


def test_csv(invoices):
    lines = receivables_ageing_csv(receivables_ageing(as_of=AS_OF)).split("\r\n")
    assert lines == [
        "as_of,currency,customer,customer_name,current,days_1_30,days_31_60,days_61_90,"
        "over_90,total",
        "2026-06-30,EUR,euro,Euro,0.00,0.00,0.00,0.00,7.50,7.50",
        "2026-06-30,EUR,total,,0.00,0.00,0.00,0.00,7.50,7.50",
        "2026-06-30,USD,acme,Acme,1001.00,6.00,24.00,96.00,128.00,1255.00",
        "2026-06-30,USD,beta,Beta,0.00,0.00,5.00,0.00,0.00,5.00",
        "2026-06-30,USD,total,,1001.00,6.00,29.00,96.00,128.00,1260.00",
        "",
    ]
