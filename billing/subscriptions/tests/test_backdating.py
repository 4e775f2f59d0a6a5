"""A backdated start: creation bills only the first period, bill runs catch up the rest, a
bill run with a past `as_of` bills what was due by then and nothing later, and a change
dated in the past settles cleanly (no billing key is reused)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.invoicing.services.bill_runs import bill_run_execute
from billing.invoicing.services.changes import subscription_change
from billing.models import Invoice, InvoiceLine
from billing.tests import factories

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 4, 15, 9, tzinfo=UTC)
START = datetime(2027, 1, 5, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run(as_of: datetime):
    result = bill_run_execute(as_of=as_of, at=NOW)
    assert (result.status, result.customers_failed) == ("completed", 0)
    return result


def starts(sub) -> list[str]:
    return [
        line.period_start.date().isoformat()
        for line in InvoiceLine.objects.filter(subscription=sub).order_by("period_start", "pk")
    ]


def total(sub) -> Decimal:
    return InvoiceLine.objects.filter(subscription=sub).aggregate(t=Sum("amount"))["t"]


def backdated(external_id: str, *, pay_in_advance=True, plan=None):
    plan = plan or factories.plan(code=f"p-{external_id}", pay_in_advance=pay_in_advance)
    customer = factories.customer(external_id=external_id)
    return factories.subscription(customer=customer, plan=plan, at=NOW, start_at=START)


def test_creation_bills_only_the_first_period_and_runs_catch_up_one_by_one():
    sub = backdated("acme")
    invoice = Invoice.objects.get()
    assert [(ln.period_start, ln.period_end) for ln in invoice.lines.all()] == [
        (START, utc(2027, 2, 5))
    ]
    assert invoice.issued_at == NOW  # issued now, for the first period
    sub.refresh_from_db()
    assert sub.billed_through == utc(2027, 2, 5)
    for month in (2, 3):
        run(utc(2027, month, 5))
        assert starts(sub)[-1] == f"2027-0{month}-05"
        assert len(starts(sub)) == month
    run(NOW)
    assert starts(sub) == ["2027-01-05", "2027-02-05", "2027-03-05", "2027-04-05"]
    run(NOW)  # nothing twice
    assert len(starts(sub)) == 4
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.current_period_end) == (
        utc(2027, 4, 5),
        utc(2027, 5, 5),
    )


def test_a_past_as_of_bills_nothing_due_later():
    sub = backdated("acme")
    run(utc(2027, 2, 4, 23))  # the second period starts on the 5th
    assert starts(sub) == ["2027-01-05"]


def test_in_arrears_creation_bills_the_first_ended_period_only():
    sub = backdated("acme", pay_in_advance=False)
    assert starts(sub) == ["2027-01-05"]
    run(utc(2027, 3, 5))
    assert starts(sub) == ["2027-01-05", "2027-02-05"]
    run(NOW)
    assert starts(sub) == ["2027-01-05", "2027-02-05", "2027-03-05"]


def test_replay_period_by_period_gives_the_straight_through_totals():
    plan = factories.plan(code="shared")
    replayed, straight = backdated("replay", plan=plan), backdated("straight", plan=plan)
    for as_of in (utc(2027, 2, 5), utc(2027, 3, 5), NOW):
        bill_run_execute(as_of=as_of, at=NOW)
    assert starts(replayed) == starts(straight)
    assert total(replayed) == total(straight) == Decimal("120.00")


@pytest.mark.parametrize("caught_up_first", [True, False], ids=["after-catch-up", "before"])
def test_a_change_dated_in_the_past_settles_and_later_runs_succeed(caught_up_first):
    sub = backdated("acme")
    bigger = factories.plan(code="bigger", amount="60.00")
    if caught_up_first:
        run(NOW)  # Jan..Apr billed on the old plan
    subscription_change(subscription=sub, plan=bigger, at=utc(2027, 2, 20), proration="prorate")
    run(NOW)
    run(utc(2027, 5, 5))
    # Old plan for [Jan 5, Feb 20), new plan from Feb 20 to Jun 5: however it got there.
    # Feb 5 - Mar 5 has 28 days: 15 on the old plan (16.07), 13 on the new one (27.86).
    old = Decimal("30.00") + Decimal("16.07")
    new = Decimal("27.86") + 3 * Decimal("60.00")
    assert abs(total(sub) - (old + new)) <= Decimal("0.01")
    assert Invoice.objects.filter(lines__subscription=sub).exists()
    assert not InvoiceLine.objects.filter(invoice__isnull=True).exists()
