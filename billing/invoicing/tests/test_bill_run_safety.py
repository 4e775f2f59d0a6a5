"""A bill run never bills twice: concurrent runs, and a run that dies midway and is rerun."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Sum

from api.errors import Conflict
from billing.invoicing.services import bill_runs
from billing.invoicing.services.bill_runs import bill_run_execute
from billing.models import BillRun, InvoiceLine, Subscription
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
@pytest.mark.parametrize("second_as_of", [AS_OF, AS_OF + timedelta(hours=1)], ids=["same", "other"])
def test_two_concurrent_runs_bill_each_period_once(postgres_only, second_as_of):
    make_book()
    errors, barrier = [], threading.Barrier(2)

    def run(as_of):
        try:
            barrier.wait()
            bill_run_execute(as_of=as_of, at=AS_OF, batch_size=5)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(as_of,)) for as_of in (AS_OF, second_as_of)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The same as_of: one runs, the other is refused while it runs (or finds it done);
    # another as_of: both run, serialized per batch by the customer locks.
    assert all(isinstance(e, Conflict) and e.code == "bill_run_in_progress" for e in errors)
    assert len(errors) <= (1 if second_as_of == AS_OF else 0)
    assert_no_duplicates()
    # 12 customers × 7 periods (Jan..Jul, paid in advance), once each.
    assert InvoiceLine.objects.count() == 12 * 7


@pytest.mark.django_db
def test_a_run_killed_midway_resumes_to_the_same_totals(monkeypatch):
    make_book()
    real = bill_runs.bill_customers
    calls = {"n": 0}

    def dies_in_the_third_batch(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(bill_runs, "bill_customers", dies_in_the_third_batch)
    with pytest.raises(SystemExit):
        bill_run_execute(as_of=AS_OF, at=AS_OF, batch_size=3)
    # Two batches of three customers were billed (six periods each), the rest not.
    assert InvoiceLine.objects.count() == 12 + 6 * 6
    killed = BillRun.objects.get()
    assert (killed.status, killed.customers_seen) == ("abandoned", 6)  # resumable
    monkeypatch.setattr(bill_runs, "bill_customers", real)
    bill_run_execute(as_of=AS_OF, at=AS_OF, batch_size=3)
    assert_no_duplicates()
    assert InvoiceLine.objects.count() == 12 * 7
    assert InvoiceLine.objects.aggregate(total=Sum("amount"))["total"] == Decimal("840.00")


@pytest.mark.django_db
def test_a_batch_that_fails_leaves_nothing_half_billed(monkeypatch):
    make_book(customers=4)
    from billing.invoicing.services import invoices as invoicing

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bill_runs, "invoices_create", broken)
    before = list(Subscription.objects.order_by("pk").values_list("billed_through", flat=True))
    run = bill_run_execute(as_of=AS_OF, at=AS_OF)
    after = list(Subscription.objects.order_by("pk").values_list("billed_through", flat=True))
    assert before == after  # each customer's advance rolled back with its failed savepoint
    # Every customer raised: each is recorded on the run, which still finishes.
    assert (run.status, run.customers_failed) == ("completed_with_failures", 4)
    assert [(f.customer_external_id, f.error) for f in run.failures.all()] == [
        (f"c{n}", "RuntimeError: disk full") for n in range(4)
    ]
    monkeypatch.setattr(bill_runs, "invoices_create", invoicing.invoices_create)
    bill_run_execute(as_of=AS_OF, at=AS_OF)
    assert InvoiceLine.objects.count() == 4 * 7
