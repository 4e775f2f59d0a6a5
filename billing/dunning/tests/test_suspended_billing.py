"""A suspended subscription is neither renewed nor invoiced until restored; restored, it is
billed again from the period containing the restore date (as a resumed pause is)."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.dunning import jobs as dunning_jobs
from billing.dunning import services as dunning
from billing.invoicing.services.bill_runs import bill_run_execute
from billing.models import BillingEvent, Invoice, InvoiceLine, Subscription
from billing.tests import factories
from billing.tests.payment_helpers import failed

pytestmark = pytest.mark.django_db
AT = datetime(2027, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def suspended():
    customer = factories.customer(external_id="acme")
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=AT)
    Subscription.objects.filter(pk=sub.pk).update(first_invoice=None)  # chased as a renewal
    invoice = Invoice.objects.get(customer=customer)
    case = dunning.dunning_payment_failed(
        invoice=invoice, payment=failed(invoice, "automatic", at=AT), at=AT
    )
    for days in (1, 3, 5, 7):
        at = AT + days * DAY
        dunning.dunning_payment_failed(
            invoice=invoice, payment=failed(invoice, "dunning", at=at), at=at
        )
    assert dunning_jobs.dunning_final_action(case_id=case.pk, at=AT + 7 * DAY)
    sub.refresh_from_db()
    assert sub.status == "suspended"
    return sub, invoice


def starts(sub) -> list[str]:
    return [
        line.period_start.date().isoformat()
        for line in InvoiceLine.objects.filter(subscription=sub).order_by("period_start")
    ]


def test_a_suspended_subscription_is_neither_renewed_nor_invoiced(suspended):
    sub, _ = suspended
    period = (sub.current_period_start, sub.current_period_end)
    for month in (4, 5):
        run = bill_run_execute(as_of=datetime(2027, month, 2, tzinfo=UTC), at=AT)
        assert run.status == "completed"
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.current_period_end) == period
    assert starts(sub) == ["2027-03-01"]
    assert not BillingEvent.objects.filter(kind="subscription.renewed").exists()


def test_restored_it_is_billed_from_the_period_of_the_restore_date(suspended):
    sub, invoice = suspended
    bill_run_execute(as_of=datetime(2027, 4, 2, tzinfo=UTC), at=AT)
    restored_at = datetime(2027, 5, 15, tzinfo=UTC)
    dunning.dunning_payment_succeeded(invoice=invoice, at=restored_at)
    sub.refresh_from_db()
    assert sub.status == "active"
    assert (sub.current_period_start.date(), sub.current_period_end.date()) == (
        datetime(2027, 5, 1).date(),
        datetime(2027, 6, 1).date(),
    )
    bill_run_execute(as_of=restored_at, at=restored_at)
    bill_run_execute(as_of=datetime(2027, 6, 2, tzinfo=UTC), at=restored_at)
    # April passed while suspended: not billed; May (in full) and June are.
    assert starts(sub) == ["2027-03-01", "2027-05-01", "2027-06-01"]
