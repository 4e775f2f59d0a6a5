"""The console's reads: MRR per currency (Decimal, normalised to a month, only what is paid
for), the overdue invoices, drift and churn figures (the dashboard's date-range reads:
test_dashboard.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import Subscription
from billing.subscriptions.services import subscription_pause
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from catalog import services as catalog
from provisioning.models import DriftAuditRun, DriftFinding
from reports.selectors import (
    churn_recent,
    drift_latest,
    invoices_overdue,
    monthly_amount,
    mrr_by_currency,
    subscription_mrr,
)
from reports.tests.console_helpers import AT

pytestmark = pytest.mark.django_db


def active(customer, plan, **kwargs) -> Subscription:
    sub = factories.subscription(customer=customer, plan=plan, at=AT, **kwargs)
    assert sub.status == "active"
    return sub


def test_monthly_amount_normalises_every_interval():
    assert monthly_amount(Decimal("120"), "year", 1) == Decimal("10")
    assert monthly_amount(Decimal("30"), "month", 3) == Decimal("10")
    assert monthly_amount(Decimal("12"), "week", 1) == Decimal("52")
    assert monthly_amount(Decimal("1"), "day", 1) == Decimal("365") / Decimal("12")


def test_mrr_per_currency_counts_paying_subscriptions_only():
    usd = factories.customer("usd-co")
    eur = factories.customer("eur-co", currency="EUR")
    jpy = factories.customer("jpy-co", currency="JPY")
    monthly = factories.plan("monthly", amount="30.00")
    yearly = factories.plan("yearly", amount="100.00", interval="year")
    euro = factories.plan("euro", amount="19.99", currency="EUR")
    yen = factories.plan("yen", amount="1000", currency="JPY", interval="year")
    active(usd, monthly, quantity=2)  # 60.00
    active(usd, yearly)  # 100 / 12 = 8.333…
    active(eur, euro)
    active(jpy, yen)  # 1000 / 12 = 83.33… -> 83 yen
    trial = factories.plan("trial", amount="50.00", trial_days=14)
    factories.subscription(customer=usd, plan=trial, at=AT)  # trialing: not yet paying
    paused = active(usd, factories.plan("paused", amount="7.00"))
    subscription_pause(subscription=paused, at=AT)
    ended = active(usd, factories.plan("ended", amount="9.00"))
    subscription_cancel(subscription=ended, at=AT, when="immediately", reason="test")

    mrr = mrr_by_currency()

    assert mrr == {"EUR": Decimal("19.99"), "JPY": Decimal("83"), "USD": Decimal("68.33")}
    assert all(isinstance(v, Decimal) for v in mrr.values())
    assert mrr_by_currency(customer=eur) == {"EUR": Decimal("19.99")}


def test_mrr_adds_recurring_addons_not_one_time_ones():
    customer = factories.customer()
    monthly = catalog.addon_create(
        code="extra", name="Extra", currency="USD", amount=Decimal("5.00"), interval="month"
    )
    setup = catalog.addon_create(
        code="setup", name="Setup", currency="USD", amount=Decimal("99.00"), interval="one_time"
    )
    sub = active(
        customer,
        factories.plan("base", amount="20.00"),
        addons=[{"addon": monthly, "quantity": 3}, {"addon": setup, "quantity": 1}],
    )
    assert mrr_by_currency() == {"USD": Decimal("35.00")}
    assert subscription_mrr(sub) == Decimal("35.00")


def test_past_due_counts_and_mrr_of_nothing_is_empty():
    assert mrr_by_currency() == {}
    sub = active(factories.customer(), factories.plan("p", amount="10.00"))
    Subscription.objects.filter(pk=sub.pk).update(status="past_due")
    assert mrr_by_currency() == {"USD": Decimal("10.00")}


def test_invoices_overdue_per_currency():
    usd = factories.customer("usd-co")
    eur = factories.customer("eur-co", currency="EUR")
    open_invoice(usd, amount="25.00", at=AT - timedelta(days=60))
    open_invoice(usd, amount="10.50", at=AT - timedelta(days=60))
    open_invoice(eur, amount="7.00", at=AT - timedelta(days=60))
    open_invoice(usd, amount="99.00", at=AT)  # not due yet
    rows = invoices_overdue(at=AT)
    assert [(r.currency, r.count, r.amount) for r in rows] == [
        ("EUR", 1, Decimal("7.00")),
        ("USD", 2, Decimal("35.50")),
    ]


def test_drift_latest_counts_open_findings_of_the_latest_run():
    assert drift_latest().run is None
    customer = factories.customer()
    old = DriftAuditRun.objects.create(started_at=AT - timedelta(days=1), findings_count=1)
    DriftFinding.objects.create(run=old, customer=customer, kind="seats_over", detail="x")
    run = DriftAuditRun.objects.create(started_at=AT, findings_count=3)
    for kind in ("seats_over", "seats_over", "paid_without_access"):
        DriftFinding.objects.create(run=run, customer=customer, kind=kind, detail="x")
    DriftFinding.objects.create(
        run=run, customer=customer, kind="access_without_payment", detail="x", repaired_at=AT
    )
    summary = drift_latest()
    assert summary.run == run
    assert summary.open_findings == 3
    assert summary.by_kind == [("paid_without_access", 1), ("seats_over", 2)]


def test_churn_of_the_last_30_days_by_kind_and_reason():
    plan = factories.plan("p", amount="10.00")
    reasons = ["too_expensive", "too_expensive", "unused", "a free-text reason", ""]
    for n, reason in enumerate(reasons):
        sub = active(factories.customer(f"c{n}"), plan)
        subscription_cancel(
            subscription=sub, at=AT + timedelta(days=n), when="immediately", reason=reason
        )
    old = active(factories.customer("old"), plan)
    subscription_cancel(subscription=old, at=AT - timedelta(days=40), when="immediately")
    dunned = active(factories.customer("dunned"), plan)
    dunned.cancel(at=AT, reason="nonpayment", involuntary=True)
    dunned.save()
    active(factories.customer("stays"), plan)

    churn = churn_recent(at=AT + timedelta(days=10))

    assert (churn.voluntary, churn.involuntary) == (5, 1)
    assert churn.reasons == [
        ("It is too expensive", 2),
        ("No reason given", 1),
        ("Not paid (dunning)", 1),
        ("We don't use it enough", 1),
        ("a free-text reason", 1),
    ]
