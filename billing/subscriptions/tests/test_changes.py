"""Mid-cycle changes: exact proration lines, with their periods (scenario style)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.invoicing.services.bill_runs import bill_run_execute
from billing.invoicing.services.changes import subscription_change
from billing.models import Invoice, InvoiceLine
from billing.subscriptions.services import subscription_pause
from billing.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def summary(lines) -> list[tuple]:
    return [
        (ln.period_start.date().isoformat(), ln.period_end.date().isoformat(), ln.kind, ln.amount)
        for ln in lines
    ]


@pytest.fixture
def book():
    customer = factories.customer()
    basic = factories.plan(code="basic", amount="30.00")
    pro = factories.plan(code="pro", amount="90.00")
    sub = factories.subscription(customer=customer, plan=basic, at=utc(2027, 1, 1))
    return sub, basic, pro


def test_upgrade_mid_month(book):
    sub, basic, pro = book
    # Jan has 31 days; from Jan 16 on, 16 days are left.
    result = subscription_change(subscription=sub, plan=pro, at=utc(2027, 1, 16, 12))
    assert summary(result.proration_lines) == [
        ("2027-01-16", "2027-02-01", "proration", Decimal("-15.48")),  # -30 × 16/31
        ("2027-01-16", "2027-02-01", "proration", Decimal("46.45")),  # 90 × 16/31
    ]
    sub.refresh_from_db()
    assert (sub.plan, sub.billed_through) == (pro, utc(2027, 2, 1))
    # The lines wait for the next invoice, which also bills February on the new plan.
    bill_run_execute(as_of=utc(2027, 2, 1), at=utc(2027, 2, 1))
    invoice = Invoice.objects.latest("pk")
    assert summary(invoice.lines.order_by("position")) == [
        ("2027-01-16", "2027-02-01", "proration", Decimal("-15.48")),
        ("2027-01-16", "2027-02-01", "proration", Decimal("46.45")),
        ("2027-02-01", "2027-03-01", "subscription", Decimal("90.00")),
    ]
    assert invoice.total == Decimal("120.97")


def test_downgrade_mid_month_and_two_changes_the_same_day(book):
    sub, basic, pro = book
    subscription_change(subscription=sub, plan=pro, at=utc(2027, 1, 16))
    result = subscription_change(subscription=sub, plan=basic, at=utc(2027, 1, 16, 18))
    # The second change credits what is now billed for Jan 16..31: the pro charge (46.45)
    # plus the share of the basic fee left after the first credit (15.48 - 15.48 = 0).
    assert summary(result.proration_lines) == [
        ("2027-01-16", "2027-02-01", "proration", Decimal("-46.45")),
        ("2027-01-16", "2027-02-01", "proration", Decimal("15.48")),
    ]
    pending = InvoiceLine.objects.filter(invoice__isnull=True)
    assert sum(ln.amount for ln in pending) == Decimal("0.00")


def test_seat_increase(book):
    sub, basic, _ = book
    result = subscription_change(subscription=sub, quantity=3, at=utc(2027, 1, 22))
    # 10 days left of 31: credit 30 × 10/31, charge 90 × 10/31.
    assert [ln.amount for ln in result.proration_lines] == [Decimal("-9.68"), Decimal("29.03")]
    sub.refresh_from_db()
    assert sub.quantity == 3


def test_preview_saves_nothing_and_matches(book):
    sub, _, pro = book
    preview = subscription_change(subscription=sub, plan=pro, at=utc(2027, 1, 16), preview=True)
    sub.refresh_from_db()
    assert sub.plan.code == "basic"
    assert not InvoiceLine.objects.filter(invoice__isnull=True).exists()
    real = subscription_change(subscription=sub, plan=pro, at=utc(2027, 1, 16))
    assert summary(preview.proration_lines) == summary(real.proration_lines)


def test_change_at_period_end(book):
    sub, _, pro = book
    result = subscription_change(subscription=sub, plan=pro, at=utc(2027, 1, 16), when="period_end")
    assert result.proration_lines == []
    sub.refresh_from_db()
    assert (sub.plan.code, sub.scheduled_plan) == ("basic", pro)
    bill_run_execute(as_of=utc(2027, 2, 1), at=utc(2027, 2, 1))
    sub.refresh_from_db()
    assert (sub.plan, sub.scheduled_plan) == (pro, None)
    assert summary(InvoiceLine.objects.filter(invoice=Invoice.objects.latest("pk"))) == [
        ("2027-02-01", "2027-03-01", "subscription", Decimal("90.00"))
    ]


def test_change_in_arrears():
    customer = factories.customer()
    small = factories.plan(code="small", amount="31.00", pay_in_advance=False)
    large = factories.plan(code="large", amount="62.00", pay_in_advance=False)
    sub = factories.subscription(customer=customer, plan=small, at=utc(2027, 1, 1))
    result = subscription_change(subscription=sub, plan=large, at=utc(2027, 1, 11))
    # Old terms used Jan 1..10 (10 days of 31): 31 × 10/31 = 10.00.
    assert summary(result.proration_lines) == [
        ("2027-01-01", "2027-01-11", "proration", Decimal("10.00"))
    ]
    bill_run_execute(as_of=utc(2027, 2, 1), at=utc(2027, 2, 1))
    # At the period end: the rest on the new terms, 62 × 21/31 = 42.00.
    assert summary(
        InvoiceLine.objects.filter(invoice=Invoice.objects.latest("pk")).order_by("position")
    ) == [
        ("2027-01-01", "2027-01-11", "proration", Decimal("10.00")),
        ("2027-01-11", "2027-02-01", "subscription", Decimal("42.00")),
    ]


def test_interval_change_restarts_the_schedule(book):
    sub, _, _ = book
    yearly = factories.plan(code="yearly", amount="300.00", interval="year")
    result = subscription_change(subscription=sub, plan=yearly, at=utc(2027, 1, 16))
    assert summary(result.proration_lines) == [
        ("2027-01-16", "2027-02-01", "proration", Decimal("-15.48")),
        ("2027-01-16", "2028-01-16", "proration", Decimal("300.00")),
    ]
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.current_period_end) == (
        utc(2027, 1, 16),
        utc(2028, 1, 16),
    )


def test_credit_and_charge_never_exceed_the_full_period(book):
    sub, basic, pro = book
    for day in (2, 9, 17, 31):
        lines = subscription_change(
            subscription=sub, plan=pro, at=utc(2027, 1, day), preview=True
        ).proration_lines
        credit, charge = (-lines[0].amount, lines[1].amount)
        assert credit <= basic.amount
        assert charge <= pro.amount


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"when": "tomorrow"}, "when"),
        ({}, "plan"),
    ],
)
def test_invalid_changes(book, kwargs, field):
    sub, _, _ = book
    with pytest.raises(ValidationError) as error:
        subscription_change(subscription=sub, at=utc(2027, 1, 16), **kwargs)
    assert field in error.value.message_dict


def test_currency_mismatch_and_paused_refused(book):
    from api.errors import StateError

    sub, _, _ = book
    eur = factories.plan(code="eur", currency="EUR")
    with pytest.raises(ValidationError, match="EUR"):
        subscription_change(subscription=sub, plan=eur, at=utc(2027, 1, 16))
    subscription_pause(subscription=sub, at=utc(2027, 1, 17))
    with pytest.raises(StateError):
        subscription_change(subscription=sub, quantity=2, at=utc(2027, 1, 18))
