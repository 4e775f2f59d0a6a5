"""Scenario tests: a fixed clock, a customer, actions and clock moves, exact invoice lines."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.invoicing.services.bill_runs import bill_run_execute
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import BillingEvent, Invoice, InvoiceLine
from billing.subscriptions.services import subscription_pause, subscription_resume
from billing.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def lines(**filters) -> list[tuple]:
    """(period start, period end, kind, amount) of every line, in billing order."""
    return [
        (ln.period_start.date().isoformat(), ln.period_end.date().isoformat(), ln.kind, ln.amount)
        for ln in InvoiceLine.objects.filter(**filters).order_by("period_start", "pk")
    ]


def run(*args):
    return bill_run_execute(as_of=utc(*args), at=utc(*args))


def test_month_end_anchor_across_a_year():
    customer = factories.customer()
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=utc(2027, 1, 31, 9))
    for month in range(2, 13):
        run(2027, month, 28, 12)
        run(2027, month, 31 if month in (3, 5, 7, 8, 10, 12) else 30 if month != 2 else 28, 12)
    starts = [ln[0] for ln in lines(subscription=sub)]
    assert starts == [
        "2027-01-31",
        "2027-02-28",
        "2027-03-31",
        "2027-04-30",
        "2027-05-31",
        "2027-06-30",
        "2027-07-31",
        "2027-08-31",
        "2027-09-30",
        "2027-10-31",
        "2027-11-30",
        "2027-12-31",
    ]
    assert {ln[3] for ln in lines(subscription=sub)} == {Decimal("30.00")}
    # One invoice per run that billed something, numbered without gaps.
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-2027-{n:06d}" for n in range(1, 13)]


def test_leap_year_stub_with_billing_day():
    customer = factories.customer()
    sub = factories.subscription(
        customer=customer,
        plan=factories.plan(amount="29.00"),
        at=utc(2028, 2, 15, 10),
        billing_day=1,
    )
    run(2028, 3, 1, 0)
    assert lines(subscription=sub) == [
        ("2028-02-15", "2028-03-01", "subscription", Decimal("15.00")),  # 29 × 15/29
        ("2028-03-01", "2028-04-01", "subscription", Decimal("29.00")),
    ]


def test_trial_then_paid():
    customer = factories.customer()
    sub = factories.subscription(
        customer=customer, plan=factories.plan(trial_days=14), at=utc(2027, 3, 10, 15)
    )
    assert sub.status == "trialing"
    assert not InvoiceLine.objects.exists()
    run(2027, 3, 20)
    assert not InvoiceLine.objects.exists()
    run(2027, 3, 24)
    sub.refresh_from_db()
    assert sub.status == "active"
    assert lines(subscription=sub) == [
        ("2027-03-24", "2027-04-24", "subscription", Decimal("30.00"))
    ]
    kinds = list(BillingEvent.objects.filter(subject_id=str(sub.pk)).values_list("kind", flat=True))
    assert kinds[:3] == [
        "subscription.created",
        "subscription.trial_started",
        "subscription.activated",
    ]


def test_cancel_during_trial_bills_nothing():
    customer = factories.customer()
    sub = factories.subscription(
        customer=customer, plan=factories.plan(trial_days=14), at=utc(2027, 3, 10)
    )
    subscription_cancel(
        subscription=sub, at=utc(2027, 3, 12), when="period_end", reason="too_expensive"
    )
    run(2027, 6, 1)
    sub.refresh_from_db()
    assert sub.status == "canceled"
    assert not InvoiceLine.objects.exists()


def test_cancel_at_period_end_stops_renewal():
    customer = factories.customer()
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=utc(2027, 1, 10))
    subscription_cancel(subscription=sub, at=utc(2027, 1, 20), when="period_end")
    sub.refresh_from_db()
    assert (sub.status, sub.cancel_at_period_end) == ("active", True)
    run(2027, 2, 10)
    run(2027, 3, 10)
    sub.refresh_from_db()
    assert sub.status == "canceled"
    assert sub.ended_at == utc(2027, 2, 10)
    assert lines(subscription=sub) == [
        ("2027-01-10", "2027-02-10", "subscription", Decimal("30.00"))
    ]


def test_backdated_start_bills_its_first_period_and_a_run_catches_up():
    customer = factories.customer()
    sub = factories.subscription(
        customer=customer, plan=factories.plan(), at=utc(2027, 4, 15), start_at=utc(2027, 1, 5)
    )
    assert [ln[0] for ln in lines(subscription=sub)] == ["2027-01-05"]
    assert Invoice.objects.get().total == Decimal("30.00")
    run(2027, 4, 15)
    assert [ln[0] for ln in lines(subscription=sub)] == [
        "2027-01-05",
        "2027-02-05",
        "2027-03-05",
        "2027-04-05",
    ]
    run(2027, 4, 15)
    assert InvoiceLine.objects.count() == 4


def test_pay_in_arrears_bills_at_period_end():
    customer = factories.customer()
    sub = factories.subscription(
        customer=customer, plan=factories.plan(pay_in_advance=False), at=utc(2027, 1, 10)
    )
    assert not InvoiceLine.objects.exists()
    run(2027, 2, 9, 23)
    assert not InvoiceLine.objects.exists()
    run(2027, 2, 10)
    assert lines(subscription=sub) == [
        ("2027-01-10", "2027-02-10", "subscription", Decimal("30.00"))
    ]


def test_pause_resume_skips_paused_periods():
    customer = factories.customer()
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=utc(2027, 1, 10))
    subscription_pause(subscription=sub, at=utc(2027, 1, 20))
    run(2027, 3, 1)
    assert len(lines(subscription=sub)) == 1
    subscription_resume(subscription=sub, at=utc(2027, 3, 15))
    run(2027, 3, 15)
    assert [ln[0] for ln in lines(subscription=sub)] == ["2027-01-10", "2027-03-10"]


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("JPY", "1000", Decimal("516")),  # 1000 × 16/31 = 516.129 → 516
        ("KWD", "10.000", Decimal("5.161")),  # 10 × 16/31 = 5.16129 → 5.161
        ("USD", "10.00", Decimal("5.16")),
    ],
)
def test_stub_rounding_in_currency_precision(currency, amount, expected):
    customer = factories.customer(currency=currency)
    sub = factories.subscription(
        customer=customer,
        plan=factories.plan(currency=currency, amount=amount),
        at=utc(2027, 1, 16),
        billing_day=1,
    )
    assert lines(subscription=sub)[0] == ("2027-01-16", "2027-02-01", "subscription", expected)


def test_customer_timezone_sets_the_period_dates():
    customer = factories.customer(timezone="America/New_York")
    # 2027-03-01 03:00 UTC is still Feb 28 in New York.
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=utc(2027, 3, 1, 3))
    line = InvoiceLine.objects.get(subscription=sub)
    assert line.period_start == utc(2027, 2, 28, 5)  # local midnight, EST
    assert line.period_end == utc(2027, 3, 28, 4)  # local midnight, EDT


def test_consolidated_invoice_per_customer_and_currency():
    customer = factories.customer()
    usd_a = factories.plan(code="a", amount="10.00")
    usd_b = factories.plan(code="b", amount="5.00")
    eur = factories.plan(code="c", amount="7.00", currency="EUR")
    for plan in (usd_a, usd_b, eur):
        factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 1))
    Invoice.objects.all().delete()  # drop the three checkout invoices
    InvoiceLine.objects.all().delete()
    run(2027, 2, 1)
    invoices = {i.currency: i for i in Invoice.objects.all()}
    assert set(invoices) == {"USD", "EUR"}
    assert invoices["USD"].total == Decimal("15.00")
    assert invoices["USD"].lines.count() == 2


def test_bill_run_twice_bills_nothing_twice():
    customer = factories.customer()
    factories.subscription(customer=customer, plan=factories.plan(), at=utc(2027, 1, 1))
    first = run(2027, 5, 1)
    second = run(2027, 5, 1)
    assert (first.lines_created, second.lines_created) == (4, 0)
    assert InvoiceLine.objects.count() == 5
