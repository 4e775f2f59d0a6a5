"""Add-ons on subscriptions: exact lines with their periods and amounts (scenario style).

The book (the `book` fixture, conftest.py): a customer (UTC) on "Basic", 30.00 a month paid
in advance, from 2027-01-01. January has 31 days. Add-ons: storage 10.00 a month, support
120.00 a year, setup 50.00 once.
"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import Invoice, InvoiceLine, SubscriptionAddOn
from billing.subscriptions.tests.addons_helpers import (
    addon,
    invoice_lines,
    latest_invoice,
    pending,
    run,
    subscribe,
    summary,
    utc,
)
from billing.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


def test_monthly_addon_from_the_start_is_billed_every_period_with_the_base_fee(book):
    sub = subscribe(book, addons=[(book["storage"], 2)])
    row = SubscriptionAddOn.objects.get()
    assert invoice_lines(Invoice.objects.get()) == [
        ("2027-01-01", "2027-02-01", "subscription", Decimal("30.00"), "Basic"),
        ("2027-01-01", "2027-02-01", "addon", Decimal("20.00"), "Storage × 2"),  # 10 × 2
    ]
    run(2027, 2, 1)
    run(2027, 3, 1)
    assert invoice_lines(latest_invoice()) == [
        ("2027-03-01", "2027-04-01", "subscription", Decimal("30.00"), "Basic"),
        ("2027-03-01", "2027-04-01", "addon", Decimal("20.00"), "Storage × 2"),
    ]
    assert Invoice.objects.count() == 3
    keys = InvoiceLine.objects.filter(kind="addon").order_by("pk").values_list("billing_key")
    assert [k for (k,) in keys] == [
        f"sub:{sub.pk}:addon:{row.pk}:2027-01-01",
        f"sub:{sub.pk}:addon:{row.pk}:2027-02-01",
        f"sub:{sub.pk}:addon:{row.pk}:2027-03-01",
    ]
    row.refresh_from_db()
    assert row.billed_through == utc(2027, 4, 1)
    run(2027, 3, 1)  # again: nothing twice
    assert InvoiceLine.objects.count() == 6


def test_addon_on_a_billing_day_stub_is_prorated_like_the_base_fee(book):
    subscribe(book, addons=[(book["storage"], 1)], at=utc(2027, 1, 16), billing_day=1)
    assert invoice_lines(Invoice.objects.get()) == [
        # 30 × 16/31 = 15.4838… and 10 × 16/31 = 5.1612…
        (
            "2027-01-16",
            "2027-02-01",
            "subscription",
            Decimal("15.48"),
            "Basic (prorated 16/31 days)",
        ),
        ("2027-01-16", "2027-02-01", "addon", Decimal("5.16"), "Storage (prorated 16/31 days)"),
    ]


def test_one_time_addon_is_on_the_next_invoice_only_once(book):
    sub = subscribe(book)
    result = subscription_change(
        subscription=sub, addons=[{"addon": book["setup"], "quantity": 1}], at=utc(2027, 1, 10)
    )
    row = SubscriptionAddOn.objects.get()
    assert summary(result.proration_lines) == [(None, None, "addon", Decimal("50.00"), "Setup")]
    assert pending() == [(None, None, "addon", Decimal("50.00"), "Setup")]
    assert InvoiceLine.objects.get(kind="addon").billing_key == f"sub:{sub.pk}:addon:{row.pk}:once"
    run(2027, 2, 1)
    assert invoice_lines(latest_invoice()) == [
        (None, None, "addon", Decimal("50.00"), "Setup"),
        ("2027-02-01", "2027-03-01", "subscription", Decimal("30.00"), "Basic"),
    ]
    run(2027, 3, 1)
    assert invoice_lines(latest_invoice()) == [
        ("2027-03-01", "2027-04-01", "subscription", Decimal("30.00"), "Basic")
    ]
    # It stays on the subscription; echoing the set back bills nothing again.
    with pytest.raises(ValidationError) as error:
        subscription_change(
            subscription=sub, addons=[{"addon": book["setup"], "quantity": 1}], at=utc(2027, 3, 5)
        )
    assert error.value.error_dict["addons"][0].code == "no_change"
    # Two more units: the two are billed; removing it credits nothing.
    more = subscription_change(
        subscription=sub, addons=[{"addon": book["setup"], "quantity": 3}], at=utc(2027, 3, 5)
    )
    assert summary(more.proration_lines) == [(None, None, "addon", Decimal("100.00"), "Setup × 2")]
    gone = subscription_change(subscription=sub, addons=[], at=utc(2027, 3, 6))
    assert gone.proration_lines == []


def test_one_time_addon_at_creation_is_on_the_first_invoice(book):
    subscribe(book, addons=[(book["setup"], 1), (book["storage"], 1)])
    assert invoice_lines(Invoice.objects.get()) == [
        (None, None, "addon", Decimal("50.00"), "Setup"),
        ("2027-01-01", "2027-02-01", "subscription", Decimal("30.00"), "Basic"),
        ("2027-01-01", "2027-02-01", "addon", Decimal("10.00"), "Storage"),
    ]
    assert Invoice.objects.get().total == Decimal("90.00")


def test_one_time_addon_alone_on_a_free_plan_still_makes_the_first_invoice(book):
    free = factories.plan(code="free", amount="0")
    subscribe(book, plan=free, addons=[(book["setup"], 1)])
    assert invoice_lines(Invoice.objects.get()) == [
        (None, None, "addon", Decimal("50.00"), "Setup")
    ]


def test_addon_added_mid_month_charges_the_rest_and_credits_nothing(book):
    sub = subscribe(book)
    result = subscription_change(
        subscription=sub, addons=[{"addon": book["storage"], "quantity": 1}], at=utc(2027, 1, 16)
    )
    row = SubscriptionAddOn.objects.get()
    # From Jan 16 (that day included) 16 of 31 days are left: 10 × 16/31 = 5.1612… → 5.16.
    assert summary(result.proration_lines) == [
        (
            "2027-01-16",
            "2027-02-01",
            "proration",
            Decimal("5.16"),
            "Remaining time on Storage (prorated 16/31 days)",
        ),
    ]
    assert result.proration_lines[0].billing_key == f"sub:{sub.pk}:addon:{row.pk}:2027-01-16"
    row.refresh_from_db()
    assert (row.started_at, row.billed_through) == (utc(2027, 1, 16), utc(2027, 2, 1))
    run(2027, 2, 1)
    assert invoice_lines(latest_invoice()) == [
        (
            "2027-01-16",
            "2027-02-01",
            "proration",
            Decimal("5.16"),
            "Remaining time on Storage (prorated 16/31 days)",
        ),
        ("2027-02-01", "2027-03-01", "subscription", Decimal("30.00"), "Basic"),
        ("2027-02-01", "2027-03-01", "addon", Decimal("10.00"), "Storage"),
    ]
    assert latest_invoice().total == Decimal("45.16")


def test_addon_removed_mid_month_is_credited(book):
    sub = subscribe(book, addons=[(book["storage"], 1)])
    result = subscription_change(subscription=sub, addons=[], at=utc(2027, 1, 16, 9))
    # Billed 10.00 for January; Jan 16..31 unused: -10 × 16/31 = -5.16.
    assert summary(result.proration_lines) == [
        (
            "2027-01-16",
            "2027-02-01",
            "proration",
            Decimal("-5.16"),
            "Unused time on Storage × 1 from 2027-01-16",
        ),
    ]
    row = SubscriptionAddOn.objects.get()
    assert row.ended_at == utc(2027, 1, 16, 9)
    run(2027, 2, 1)
    assert invoice_lines(latest_invoice()) == [
        (
            "2027-01-16",
            "2027-02-01",
            "proration",
            Decimal("-5.16"),
            "Unused time on Storage × 1 from 2027-01-16",
        ),
        ("2027-02-01", "2027-03-01", "subscription", Decimal("30.00"), "Basic"),
    ]


def test_addon_quantity_raised_mid_month(book):
    sub = subscribe(book, addons=[(book["storage"], 1)])
    result = subscription_change(
        subscription=sub, addons=[{"addon": book["storage"], "quantity": 3}], at=utc(2027, 1, 22)
    )
    # Jan 22..31 is 10 days of 31: credit -10 × 10/31 = -3.2258… → -3.23,
    # charge 30 × 10/31 = 9.6774… → 9.68.
    assert summary(result.proration_lines) == [
        (
            "2027-01-22",
            "2027-02-01",
            "proration",
            Decimal("-3.23"),
            "Unused time on Storage × 1 from 2027-01-22",
        ),
        (
            "2027-01-22",
            "2027-02-01",
            "proration",
            Decimal("9.68"),
            "Remaining time on Storage × 3 (prorated 10/31 days)",
        ),
    ]
    old, new = SubscriptionAddOn.objects.order_by("pk")
    assert (old.quantity, old.ended_at, new.quantity, new.ended_at) == (
        1,
        utc(2027, 1, 22),
        3,
        None,
    )
    run(2027, 2, 1)
    assert invoice_lines(latest_invoice())[2:] == [
        ("2027-02-01", "2027-03-01", "subscription", Decimal("30.00"), "Basic"),
        ("2027-02-01", "2027-03-01", "addon", Decimal("30.00"), "Storage × 3"),
    ]
    # Lowered again the same month: the credit is what the new row billed for the days left.
    lower = subscription_change(
        subscription=sub, addons=[{"addon": book["storage"], "quantity": 2}], at=utc(2027, 2, 15)
    )
    # February has 28 days, 14 left: -30 × 14/28 = -15.00, 20 × 14/28 = 10.00.
    assert [ln.amount for ln in lower.proration_lines] == [Decimal("-15.00"), Decimal("10.00")]


def test_plan_change_does_not_credit_or_recharge_the_addons(book):
    sub = subscribe(book, addons=[(book["storage"], 1)])
    pro = factories.plan(code="pro", amount="90.00")
    result = subscription_change(subscription=sub, plan=pro, at=utc(2027, 1, 16, 12))
    assert [(ln.kind, ln.amount) for ln in result.proration_lines] == [
        ("proration", Decimal("-15.48")),  # -30 × 16/31: the base fee only
        ("proration", Decimal("46.45")),  # 90 × 16/31
    ]
    # And the other way round: an add-on change leaves the base fee alone.
    again = subscription_change(subscription=sub, addons=[], at=utc(2027, 1, 20))
    # Jan 20..31: 12 days of 31, -10 × 12/31 = -3.87.
    assert [(ln.kind, ln.amount) for ln in again.proration_lines] == [
        ("proration", Decimal("-3.87"))
    ]


def test_plan_and_addons_change_together(book):
    sub = subscribe(book)
    pro = factories.plan(code="pro", amount="90.00")
    result = subscription_change(
        subscription=sub,
        plan=pro,
        addons=[{"addon": book["storage"], "quantity": 1}],
        at=utc(2027, 1, 16),
    )
    assert [(ln.period_start.day, ln.amount) for ln in result.proration_lines] == [
        (16, Decimal("-15.48")),  # -30 × 16/31
        (16, Decimal("46.45")),  # 90 × 16/31
        (16, Decimal("5.16")),  # 10 × 16/31
    ]


def test_addon_changes_in_arrears():
    customer = factories.customer()
    plan = factories.plan(code="metered", amount="31.00", pay_in_advance=False)
    storage = addon("storage", "31.00")
    sub = factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 1))
    added = subscription_change(
        subscription=sub, addons=[{"addon": storage, "quantity": 1}], at=utc(2027, 1, 11)
    )
    assert added.proration_lines == []  # nothing used yet, nothing billed in advance
    run(2027, 2, 1)
    # At the period end: the base fee for January and the add-on from Jan 11: 31 × 21/31.
    assert invoice_lines(latest_invoice()) == [
        ("2027-01-01", "2027-02-01", "subscription", Decimal("31.00"), "Metered"),
        ("2027-01-11", "2027-02-01", "addon", Decimal("21.00"), "Storage (prorated 21/31 days)"),
    ]
    removed = subscription_change(subscription=sub, addons=[], at=utc(2027, 2, 8))
    # Feb 1..7 used: 31 × 7/28 = 7.75, charged now; nothing for it at the period end.
    assert summary(removed.proration_lines) == [
        ("2027-02-01", "2027-02-08", "proration", Decimal("7.75"), "Storage × 1 until 2027-02-08")
    ]
    run(2027, 3, 1)
    assert invoice_lines(latest_invoice()) == [
        ("2027-02-01", "2027-02-08", "proration", Decimal("7.75"), "Storage × 1 until 2027-02-08"),
        ("2027-02-01", "2027-03-01", "subscription", Decimal("31.00"), "Metered"),
    ]


def test_addon_with_proration_none_starts_billing_next_period(book):
    sub = subscribe(book)
    result = subscription_change(
        subscription=sub,
        addons=[{"addon": book["storage"], "quantity": 1}],
        at=utc(2027, 1, 16),
        proration="none",
    )
    assert result.proration_lines == []
    run(2027, 2, 1)
    assert [ln[2:4] for ln in invoice_lines(latest_invoice())] == [
        ("subscription", Decimal("30.00")),
        ("addon", Decimal("10.00")),
    ]
    assert latest_invoice().period_start == utc(2027, 2, 1)


def test_addons_on_a_trial_start_billing_when_it_ends(book):
    trial = factories.plan(code="trial", amount="30.00", trial_days=14)
    sub = subscribe(book, plan=trial, addons=[(book["storage"], 1)])
    assert not InvoiceLine.objects.exists()
    subscription_change(
        subscription=sub, addons=[{"addon": book["storage"], "quantity": 2}], at=utc(2027, 1, 5)
    )
    assert not InvoiceLine.objects.exists()  # nothing to prorate during a trial
    run(2027, 1, 15)
    assert invoice_lines(latest_invoice()) == [
        ("2027-01-15", "2027-02-15", "subscription", Decimal("30.00"), "Trial"),
        ("2027-01-15", "2027-02-15", "addon", Decimal("20.00"), "Storage × 2"),
    ]


def test_yearly_addon_on_a_yearly_plan(book):
    yearly = factories.plan(code="annual", amount="300.00", interval="year")
    sub = subscribe(book, plan=yearly, addons=[(book["support"], 1)])
    assert [ln[2:4] for ln in invoice_lines(Invoice.objects.get())] == [
        ("subscription", Decimal("300.00")),
        ("addon", Decimal("120.00")),
    ]
    result = subscription_change(subscription=sub, addons=[], at=utc(2027, 7, 2))
    # Jul 2 2027 .. Jan 1 2028 is 183 days of 365: -120 × 183/365 = -60.1643… → -60.16.
    assert summary(result.proration_lines) == [
        (
            "2027-07-02",
            "2028-01-01",
            "proration",
            Decimal("-60.16"),
            "Unused time on Support × 1 from 2027-07-02",
        ),
    ]


def test_cancel_at_period_end_ends_the_addons(book):
    sub = subscribe(book, addons=[(book["storage"], 1)])
    subscription_cancel(subscription=sub, at=utc(2027, 1, 20), when="period_end")
    run(2027, 2, 1)
    run(2027, 3, 1)
    row = SubscriptionAddOn.objects.get()
    assert row.ended_at == utc(2027, 2, 1)
    assert InvoiceLine.objects.count() == 2  # January's base fee and add-on only


def test_added_and_removed_the_same_day_nets_to_nothing(book):
    sub = subscribe(book)
    item = [{"addon": book["storage"], "quantity": 1}]
    subscription_change(subscription=sub, addons=item, at=utc(2027, 1, 16, 9))
    subscription_change(subscription=sub, addons=[], at=utc(2027, 1, 16, 17))
    subscription_change(subscription=sub, addons=item, at=utc(2027, 1, 16, 20))
    assert [ln[3] for ln in pending()] == [Decimal("5.16"), Decimal("-5.16"), Decimal("5.16")]
    run(2027, 2, 1)
    assert latest_invoice().total == Decimal("45.16")  # 5.16 + 30.00 + 10.00


def test_change_before_the_bill_run_of_the_period_bills_what_is_due(book):
    sub = subscribe(book, addons=[(book["storage"], 1)])
    # No bill run on Feb 1; on Feb 10 the add-on is removed. February was not billed yet, so
    # nothing is credited: Feb 1..9 of the add-on is charged (10 × 9/28 = 3.2142…), and
    # February's base fee is billed as usual.
    result = subscription_change(subscription=sub, addons=[], at=utc(2027, 2, 10))
    assert summary(result.proration_lines) == [
        ("2027-02-01", "2027-02-10", "proration", Decimal("3.21"), "Storage × 1 until 2027-02-10"),
        ("2027-02-01", "2027-03-01", "subscription", Decimal("30.00"), "Basic"),
    ]
    run(2027, 3, 1)
    assert [ln[:4] for ln in invoice_lines(latest_invoice())] == [
        ("2027-02-01", "2027-02-10", "proration", Decimal("3.21")),
        ("2027-02-01", "2027-03-01", "subscription", Decimal("30.00")),
        ("2027-03-01", "2027-04-01", "subscription", Decimal("30.00")),
    ]


def test_pause_and_resume_skip_the_addons_too(book):
    from billing.subscriptions.services import subscription_pause, subscription_resume

    sub = subscribe(book, addons=[(book["storage"], 1)])
    subscription_pause(subscription=sub, at=utc(2027, 1, 20))
    run(2027, 3, 1)
    subscription_resume(subscription=sub, at=utc(2027, 3, 15))
    run(2027, 3, 15)
    # January, then March (the current period on resuming), each with its add-on.
    assert [ln[:3] for ln in summary(InvoiceLine.objects.order_by("period_start", "pk"))] == [
        ("2027-01-01", "2027-02-01", "subscription"),
        ("2027-01-01", "2027-02-01", "addon"),
        ("2027-03-01", "2027-04-01", "subscription"),
        ("2027-03-01", "2027-04-01", "addon"),
    ]
