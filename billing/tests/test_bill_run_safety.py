"""A bill run never bills twice: concurrent runs, and a run that dies midway and is rerun."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Sum

from billing.models import InvoiceLine
from billing.services import bill_runs
from billing.services.bill_runs import bill_run_execute
from billing.tests import factories

START = datetime(2027, 1, 1, tzinfo=UTC)
AS_OF = datetime(2027, 7, 1, tzinfo=UTC)


def make_book(customers: int = 12):
    plan = factories.plan(amount="10.00")
    for index in range(customers):
        customer = factories.customer(external_id=f"c{index}")
        factories.subscription(customer=customer, plan=plan, at=START)


def assert_no_duplicates():
    duplicates = (
        InvoiceLine.objects.values("subscription", "period_start")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(duplicates) == []


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_bill_each_period_once(postgres_only):
    make_book()
    errors, barrier = [], threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            bill_run_execute(as_of=AS_OF, at=AS_OF)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_no_duplicates()
    # 12 customers × 7 periods (Jan..Jul, paid in advance), once each.
    assert InvoiceLine.objects.count() == 12 * 7


@pytest.mark.django_db
def test_a_run_killed_midway_resumes_to_the_same_totals(monkeypatch):
    make_book()
    real = bill_runs.bill_customer
    calls = {"n": 0}

    def dies_on_the_fifth(**kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise SystemExit("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(bill_runs, "bill_customer", dies_on_the_fifth)
    with pytest.raises(SystemExit):
        bill_run_execute(as_of=AS_OF, at=AS_OF)
    billed_before = InvoiceLine.objects.count()
    assert 12 < billed_before < 12 * 7  # four customers done, the rest not
    monkeypatch.setattr(bill_runs, "bill_customer", real)
    bill_run_execute(as_of=AS_OF, at=AS_OF)
    assert_no_duplicates()
    assert InvoiceLine.objects.count() == 12 * 7
    assert InvoiceLine.objects.aggregate(total=Sum("amount"))["total"] == Decimal("840.00")
