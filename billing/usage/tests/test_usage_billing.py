"""Usage on invoices: usage lines at period end, late events, never billed twice."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.invoicing.selectors import subscription_upcoming_invoice
from billing.invoicing.services.bill_runs import bill_run_execute
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import InvoiceLine, UsageAggregate
from billing.tests import factories
from billing.usage.services import usage_events_ingest
from catalog.tests import factories as catalog

pytestmark = pytest.mark.django_db

TIERS = {
    "tiers": [
        {"up_to": 10, "unit_amount": "1.00", "flat_amount": "0"},
        {"up_to": None, "unit_amount": "0.50", "flat_amount": "0"},
    ]
}


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def send(sub, count: int, at: datetime, prefix: str, code="calls", timestamp=None):
    events = [
        {
            "transaction_id": f"{prefix}-{n}",
            "subscription": str(sub.pk),
            "code": code,
            "timestamp": (timestamp or at).isoformat(),
        }
        for n in range(count)
    ]
    results = usage_events_ingest(events=events, at=at)
    assert [r.status for r in results] == ["created"] * count
    return results


def usage_lines(sub):
    return [
        (ln.description.split(",")[0], ln.quantity, ln.amount, ln.period_start.date().isoformat())
        for ln in InvoiceLine.objects.filter(subscription=sub, kind="usage").order_by("pk")
    ]


@pytest.fixture
def setup():
    metric = catalog.metric("calls", "count")
    plan = factories.plan(
        amount="20.00",
        charges=[{"metric": metric, "model": "graduated", "properties": TIERS}],
    )
    sub = factories.subscription(customer=factories.customer(), plan=plan, at=utc(2027, 1, 1))
    return sub


def test_usage_billed_at_period_end_with_next_base_fee(setup):
    sub = setup
    send(sub, 14, utc(2027, 1, 20), "jan")
    bill_run_execute(as_of=utc(2027, 2, 1), at=utc(2027, 2, 1))
    line = InvoiceLine.objects.get(subscription=sub, kind="usage")
    # 10 × 1.00 + 4 × 0.50, on the invoice that bills February's base fee in advance.
    assert (line.quantity, line.amount) == (Decimal(14), Decimal("12.00"))
    assert (line.period_start, line.period_end) == (utc(2027, 1, 1), utc(2027, 2, 1))
    kinds = sorted(ln.kind for ln in line.invoice.lines.all())
    assert kinds == ["subscription", "usage"]
    assert line.invoice.total == Decimal("32.00")


def test_late_event_before_invoicing_counts_in_its_period(setup):
    sub = setup
    send(sub, 10, utc(2027, 1, 20), "jan")
    # Received in February, happened in January, before January's usage is invoiced.
    send(sub, 2, utc(2027, 2, 1, 0, 3), "late", timestamp=utc(2027, 1, 31, 23, 59))
    bill_run_execute(as_of=utc(2027, 2, 1, 1), at=utc(2027, 2, 1, 1))
    assert usage_lines(sub) == [("calls (graduated)", Decimal(12), Decimal("11.00"), "2027-01-01")]


def test_late_event_after_invoicing_is_an_adjustment_billed_once(setup):
    sub = setup
    send(sub, 8, utc(2027, 1, 20), "jan")
    bill_run_execute(as_of=utc(2027, 2, 1), at=utc(2027, 2, 1))
    results = send(sub, 5, utc(2027, 2, 3), "late", timestamp=utc(2027, 1, 30))
    assert all(r.late for r in results)
    for _ in range(2):  # a rerun bills nothing twice
        bill_run_execute(as_of=utc(2027, 2, 4), at=utc(2027, 2, 4))
    lines = usage_lines(sub)
    # Billed 8 (8.00); now 13 = 10 + 3 × 0.50 = 11.50: the adjustment is the difference.
    assert lines == [
        ("calls (graduated)", Decimal(8), Decimal("8.00"), "2027-01-01"),
        ("Late usage: calls", Decimal(5), Decimal("3.50"), "2027-01-01"),
    ]
    adjustment = InvoiceLine.objects.get(subscription=sub, description__startswith="Late")
    assert adjustment.invoice.period_start == utc(2027, 1, 1)
    aggregate = UsageAggregate.objects.get(subscription=sub)
    assert (aggregate.unbilled, aggregate.billed_amount) == (False, Decimal("11.50"))


def test_period_not_ended_is_not_billed_and_shows_on_usage(setup):
    sub = setup
    send(sub, 3, utc(2027, 1, 20), "jan")
    bill_run_execute(as_of=utc(2027, 1, 25), at=utc(2027, 1, 25))
    assert usage_lines(sub) == []
    upcoming = subscription_upcoming_invoice(sub=sub)
    assert [(ln.kind, ln.amount) for ln in upcoming.preview_lines if ln.kind == "usage"] == [
        ("usage", Decimal("3.00"))
    ]


def test_cancel_immediately_bills_usage_up_to_the_end(setup):
    sub = setup
    send(sub, 4, utc(2027, 1, 10), "jan")
    subscription_cancel(subscription=sub, at=utc(2027, 1, 15), when="immediately")
    bill_run_execute(as_of=utc(2027, 1, 16), at=utc(2027, 1, 16))
    assert usage_lines(sub) == [("calls (graduated)", Decimal(4), Decimal("4.00"), "2027-01-01")]


def test_usage_in_a_free_trial_is_not_billed():
    metric = catalog.metric("calls", "count")
    plan = factories.plan(
        amount="20.00",
        trial_days=14,
        charges=[{"metric": metric, "model": "standard", "properties": {"unit_amount": "1"}}],
    )
    sub = factories.subscription(customer=factories.customer(), plan=plan, at=utc(2027, 1, 1))
    send(sub, 3, utc(2027, 1, 5), "trial")
    send(sub, 2, utc(2027, 1, 20), "paid")
    bill_run_execute(as_of=utc(2027, 2, 16), at=utc(2027, 2, 16))
    assert usage_lines(sub) == [("calls (standard)", Decimal(2), Decimal("2.00"), "2027-01-15")]


def test_in_arrears_usage_and_base_fee_on_one_invoice():
    metric = catalog.metric("gb", "sum", "gb")
    plan = factories.plan(
        amount="10.00",
        currency="JPY",
        pay_in_advance=False,
        charges=[{"metric": metric, "model": "standard", "properties": {"unit_amount": "3.3"}}],
    )
    customer = factories.customer(currency="JPY")
    sub = factories.subscription(customer=customer, plan=plan, at=utc(2027, 3, 1))
    usage_events_ingest(
        events=[
            {
                "transaction_id": "a",
                "subscription": str(sub.pk),
                "code": "gb",
                "properties": {"gb": "1.5"},
            },
        ],
        at=utc(2027, 3, 2),
    )
    bill_run_execute(as_of=utc(2027, 4, 1), at=utc(2027, 4, 1))
    lines = InvoiceLine.objects.filter(subscription=sub).order_by("kind")
    # 1.5 × 3.3 = 4.95 → 5 yen (JPY has no minor unit), rounded once on the line.
    assert [(ln.kind, ln.amount) for ln in lines] == [
        ("subscription", Decimal(10)),
        ("usage", Decimal(5)),
    ]
    assert lines[0].invoice_id == lines[1].invoice_id


def test_scheduled_plan_change_bills_ended_period_on_old_plan(setup):
    from billing.invoicing.services.changes import subscription_change

    sub = setup
    cheap = factories.plan(
        code="cheap",
        amount="5.00",
        charges=[
            {
                "metric": UsageAggregate._meta.get_field("metric").related_model.objects.get(
                    code="calls"
                ),
                "model": "standard",
                "properties": {"unit_amount": "0.01"},
            }
        ],
    )
    subscription_change(subscription=sub, plan=cheap, when="period_end", at=utc(2027, 1, 10))
    send(sub, 12, utc(2027, 1, 20), "jan")
    bill_run_execute(as_of=utc(2027, 2, 1), at=utc(2027, 2, 1))
    assert usage_lines(sub) == [("calls (graduated)", Decimal(12), Decimal("11.00"), "2027-01-01")]
