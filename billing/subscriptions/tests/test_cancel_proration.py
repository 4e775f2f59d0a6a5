"""Cancel immediately with a prorated credit (in advance) or charge (in arrears).

A customer in UTC on "Pro", 30.00 a month, from 2027-01-01; January has 31 days, February 28.
The lines wait, pending, for the customer's next invoice.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from billing.invoicing.services.bill_runs import bill_run_execute
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import BillingEvent, InvoiceLine, SubscriptionAddOn
from billing.subscriptions.services import subscription_pause
from billing.tests import factories
from catalog import services as catalog

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def pending() -> list[tuple]:
    """(period start, period end, kind, amount, description) of each pending line."""
    return [
        (
            ln.period_start.date().isoformat(),
            ln.period_end.date().isoformat(),
            ln.kind,
            ln.amount,
            ln.description,
        )
        for ln in InvoiceLine.objects.filter(invoice__isnull=True).order_by("pk")
    ]


@pytest.fixture
def customer():
    return factories.customer()


@pytest.fixture
def sub(customer):
    return factories.subscription(
        customer=customer, plan=factories.plan(code="pro", amount="30.00"), at=utc(2027, 1, 1)
    )


def test_immediate_cancel_mid_month_credits_the_unused_days(sub):
    canceled = subscription_cancel(subscription=sub, at=utc(2027, 1, 16, 10), when="immediately")
    assert (canceled.status, canceled.ended_at) == ("canceled", utc(2027, 1, 16, 10))
    # Jan 16..31 (the day of the cancel included) is 16 of 31 days: -30 × 16/31 = -15.4838….
    assert pending() == [
        (
            "2027-01-16",
            "2027-02-01",
            "proration",
            Decimal("-15.48"),
            "Unused time on Pro × 1 from 2027-01-16",
        )
    ]
    event = BillingEvent.objects.get(kind="subscription.canceled")
    assert event.payload["proration_total"] == "-15.48"


def test_immediate_cancel_credits_the_addons_too(customer):
    storage = catalog.addon_create(
        code="storage", name="Storage", currency="USD", amount=Decimal("10.00"), interval="month"
    )
    sub = factories.subscription(
        customer=customer,
        plan=factories.plan(code="pro", amount="30.00"),
        at=utc(2027, 1, 1),
        addons=[{"addon": storage, "quantity": 2}],
    )
    subscription_cancel(subscription=sub, at=utc(2027, 1, 16), when="immediately")
    assert pending() == [
        (
            "2027-01-16",
            "2027-02-01",
            "proration",
            Decimal("-15.48"),
            "Unused time on Pro × 1 from 2027-01-16",
        ),
        (  # -20 × 16/31 = -10.3225…
            "2027-01-16",
            "2027-02-01",
            "proration",
            Decimal("-10.32"),
            "Unused time on Storage × 2 from 2027-01-16",
        ),
    ]
    assert SubscriptionAddOn.objects.get().ended_at == utc(2027, 1, 16)


def test_cancel_credits_every_period_billed_ahead(sub):
    bill_run_execute(as_of=utc(2027, 3, 1), at=utc(2027, 3, 1))  # February and March billed
    subscription_cancel(subscription=sub, at=utc(2027, 1, 16), when="immediately")
    # 30 × 16/31 of January plus February and March in full: -75.4838… → -75.48.
    assert pending() == [
        (
            "2027-01-16",
            "2027-04-01",
            "proration",
            Decimal("-75.48"),
            "Unused time on Pro × 1 from 2027-01-16",
        )
    ]


def test_cancel_on_the_first_day_of_a_period_credits_all_of_it(sub):
    bill_run_execute(as_of=utc(2027, 2, 1), at=utc(2027, 2, 1))
    subscription_cancel(subscription=sub, at=utc(2027, 2, 1, 8), when="immediately")
    assert [ln[:4] for ln in pending()] == [
        ("2027-02-01", "2027-03-01", "proration", Decimal("-30.00"))
    ]


def test_arrears_cancel_charges_the_used_days(customer):
    plan = factories.plan(code="metered", amount="31.00", pay_in_advance=False)
    sub = factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 1))
    subscription_cancel(subscription=sub, at=utc(2027, 1, 11, 15), when="immediately")
    # Jan 1..10 used (the day of the cancel is not): 31 × 10/31 = 10.00.
    assert pending() == [
        ("2027-01-01", "2027-01-11", "proration", Decimal("10.00"), "Metered × 1 until 2027-01-11")
    ]


def test_arrears_cancel_also_bills_a_period_the_bill_run_has_not_billed_yet(customer):
    plan = factories.plan(code="metered", amount="31.00", pay_in_advance=False)
    sub = factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 1))
    subscription_cancel(subscription=sub, at=utc(2027, 2, 8), when="immediately")
    assert pending() == [
        ("2027-01-01", "2027-02-01", "subscription", Decimal("31.00"), "Metered"),
        # Feb 1..7: 31 × 7/28 = 7.75.
        ("2027-02-01", "2027-02-08", "proration", Decimal("7.75"), "Metered × 1 until 2027-02-08"),
    ]
    bill_run_execute(as_of=utc(2027, 3, 1), at=utc(2027, 3, 1))
    assert InvoiceLine.objects.filter(subscription=sub).count() == 2  # nothing billed twice


def test_cancel_with_proration_none_creates_no_line(sub):
    subscription_cancel(subscription=sub, at=utc(2027, 1, 16), when="immediately", proration="none")
    assert pending() == []
    sub.refresh_from_db()
    assert sub.status == "canceled"


def test_cancel_of_a_trial_or_a_paused_subscription_creates_no_line(customer, sub):
    trial = factories.subscription(
        customer=customer,
        plan=factories.plan(code="trial", trial_days=14),
        at=utc(2027, 1, 1),
    )
    subscription_cancel(subscription=trial, at=utc(2027, 1, 5), when="immediately")
    subscription_pause(subscription=sub, at=utc(2027, 1, 10))
    subscription_cancel(subscription=sub, at=utc(2027, 1, 16), when="immediately")
    assert pending() == []


def test_cancel_at_period_end_is_not_prorated(sub):
    subscription_cancel(subscription=sub, at=utc(2027, 1, 16), when="period_end")
    assert pending() == []


def test_invalid_proration_refused(sub):
    with pytest.raises(ValidationError) as error:
        subscription_cancel(
            subscription=sub, at=utc(2027, 1, 16), when="immediately", proration="half"
        )
    assert error.value.error_dict["proration"][0].code == "invalid_choice"


def test_api_cancel_with_proration(api, customer):
    factories.plan(code="pro", amount="30.00")
    with time_machine.travel(utc(2027, 1, 1, 9), tick=False):
        first = api.post("/api/v1/subscriptions/", {"customer": "acme", "plan": "pro"}, "json")
        second = api.post("/api/v1/subscriptions/", {"customer": "acme", "plan": "pro"}, "json")
    prorated = api.post(
        f"/api/v1/subscriptions/{first.json()['id']}/cancel/",
        {"when": "immediately", "at": "2027-01-16T10:00:00Z"},
        format="json",
    )
    assert prorated.status_code == 200, prorated.json()
    assert prorated.json()["status"] == "canceled"
    assert [ln[2:4] for ln in pending()] == [("proration", Decimal("-15.48"))]
    none = api.post(
        f"/api/v1/subscriptions/{second.json()['id']}/cancel/",
        {"when": "immediately", "proration": "none", "at": "2027-01-16T10:00:00Z"},
        format="json",
    )
    assert none.json()["status"] == "canceled"
    assert len(pending()) == 1
    refused = api.post(
        f"/api/v1/subscriptions/{second.json()['id']}/cancel/",
        {"when": "immediately", "proration": "half"},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "proration"
