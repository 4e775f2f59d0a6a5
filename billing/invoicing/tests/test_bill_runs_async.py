"""Bill runs that finish: queued for a worker (202), one customer's failure recorded while
the others are billed, a dead worker's run abandoned by its heartbeat and resumed, one
active run per as_of, and no IntegrityError passed off as a conflict."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from api.errors import Conflict
from billing.invoicing.services import bill_runs
from billing.invoicing.services.bill_runs import (
    bill_customers,
    bill_run_execute,
    bill_run_request,
    bill_runs_abandon_stale,
)
from billing.models import BillRun, InvoiceLine
from billing.tests import factories
from customers import services as customer_services
from customers.models import Customer

START = datetime(2027, 1, 1, tzinfo=UTC)
AS_OF = datetime(2027, 3, 1, tzinfo=UTC)
URL = "/api/v1/billing-runs/"


def make_book(customers: int = 6):
    plan = factories.plan(amount="10.00")
    for index in range(customers):
        customer = factories.customer(external_id=f"c{index}")
        factories.subscription(customer=customer, plan=plan, at=START)


def periods_billed() -> dict[str, int]:
    rows = InvoiceLine.objects.values("customer__external_id").annotate(n=Count("id"))
    return {row["customer__external_id"]: row["n"] for row in rows}


@pytest.fixture
def one_customer_breaks(monkeypatch):
    """Billing customer c2 raises; every other customer bills normally."""

    def bill(**kwargs):
        if Customer.objects.filter(pk__in=kwargs["customer_ids"], external_id="c2").exists():
            raise ValueError("tax service said no")
        return bill_customers(**kwargs)

    monkeypatch.setattr(bill_runs, "bill_customers", bill)


@pytest.mark.django_db
def test_one_customer_that_raises_is_recorded_and_the_others_are_billed(monkeypatch):
    make_book()
    broken = Customer.objects.get(external_id="c2")
    real = bill_runs.bill_customers

    def bill(**kwargs):
        if broken.pk in kwargs["customer_ids"]:
            raise ValueError("tax service said no")
        return real(**kwargs)

    monkeypatch.setattr(bill_runs, "bill_customers", bill)
    run = bill_run_execute(as_of=AS_OF, at=AS_OF, batch_size=4)
    assert (run.status, run.customers_seen, run.customers_failed) == (
        "completed_with_failures",
        6,
        1,
    )
    failure = run.failures.get()
    assert (failure.customer, failure.customer_external_id) == (broken, "c2")
    assert failure.error == "ValueError: tax service said no"
    # Creation billed January; the run February and March, except for c2.
    assert periods_billed() == {"c0": 3, "c1": 3, "c2": 1, "c3": 3, "c4": 3, "c5": 3}
    monkeypatch.setattr(bill_runs, "bill_customers", real)
    assert bill_run_execute(as_of=AS_OF, at=AS_OF).status == "completed"  # catches c2 up
    assert periods_billed()["c2"] == 3


@pytest.mark.django_db
def test_the_api_queues_the_run_and_shows_its_failures(
    api, monkeypatch, bill_run_tasks_inline, django_capture_on_commit_callbacks
):
    make_book()
    broken = Customer.objects.get(external_id="c2").pk

    def bill(**kwargs):
        if broken in kwargs["customer_ids"]:
            raise KeyError("no rate")
        return bill_customers(**kwargs)

    monkeypatch.setattr(bill_runs, "bill_customers", bill)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(URL, {"as_of": AS_OF.isoformat()}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["progress"], body["failures"]) == (
        "queued",
        {"done": 0, "total": 0},
        [],
    )
    # While it is queued, a second request for the same as_of is refused with its id.
    again = api.post(URL, {"as_of": AS_OF.isoformat()}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "bill_run_in_progress"
    assert f"Bill run {body['id']} " in again.json()["error"]["message"]
    for callback in callbacks:
        callback()  # the worker
    done = api.get(f"{URL}{body['id']}/").json()
    assert done["status"] == "completed_with_failures"
    assert done["progress"] == {"done": 6, "total": 6}
    assert done["customers_failed"] == 1
    assert done["failures"][0]["customer_external_id"] == "c2"
    assert done["failures"][0]["error"] == "KeyError: 'no rate'"


@pytest.mark.django_db
def test_a_task_works_in_slices_and_requeues_itself(
    monkeypatch, bill_run_tasks_inline, django_capture_on_commit_callbacks, settings
):
    make_book()
    settings.BILL_RUN_TASK_SECONDS = 0  # one batch per task
    monkeypatch.setattr(bill_runs, "BATCH_SIZE", 2)
    with django_capture_on_commit_callbacks(execute=True):
        run = bill_run_request(as_of=AS_OF, at=AS_OF)
    run.refresh_from_db()
    assert (run.status, run.customers_seen) == ("completed", 6)
    # One task per slice of two customers, and the last finds none left.
    assert len(bill_run_tasks_inline) == 4
    assert set(periods_billed().values()) == {3}


def stale_run(as_of=AS_OF, minutes=30) -> BillRun:
    """What a worker killed after billing c0..c2 leaves: `running`, an old heartbeat."""
    run = BillRun.objects.create(as_of=as_of, requested_at=as_of, status="running")
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:3])
    bill_customers(customer_ids=ids, as_of=as_of, bill_run=run)
    BillRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=minutes),
        started_at=as_of,
        last_customer_id=ids[-1],
        customers_seen=3,
        customers_total=6,
    )
    return BillRun.objects.get(pk=run.pk)


@pytest.mark.django_db
def test_a_dead_worker_run_is_abandoned_then_resumed_to_the_end(
    api, bill_run_tasks_inline, django_capture_on_commit_callbacks
):
    make_book()
    run = stale_run()
    fresh = BillRun.objects.create(
        as_of=AS_OF + timedelta(days=1), status="running", heartbeat_at=timezone.now()
    )
    assert bill_runs_abandon_stale(at=timezone.now()) == 1  # the janitor
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert (run.status, fresh.status) == ("abandoned", "running")
    assert api.get(f"{URL}{run.pk}/").json()["status"] == "abandoned"
    with django_capture_on_commit_callbacks(execute=True):
        resumed = api.post(f"{URL}{run.pk}/resume/")
    assert resumed.status_code == 202, resumed.json()
    assert resumed.json()["status"] == "queued"
    done = api.get(f"{URL}{run.pk}/").json()
    assert (done["status"], done["progress"]) == ("completed", {"done": 6, "total": 6})
    assert periods_billed() == {f"c{n}": 3 for n in range(6)}  # nothing twice
    refused = api.post(f"{URL}{run.pk}/resume/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        422,
        "bill_run_not_resumable",
    )


@pytest.mark.django_db
def test_a_request_for_the_as_of_of_a_dead_run_abandons_it_and_starts_anew():
    make_book()
    dead = stale_run()
    run = bill_run_execute(as_of=AS_OF, at=AS_OF)
    dead.refresh_from_db()
    assert (dead.status, run.status) == ("abandoned", "completed")
    assert periods_billed() == {f"c{n}": 3 for n in range(6)}


@pytest.mark.django_db
def test_a_live_run_refuses_a_second_one_for_its_as_of():
    make_book()
    live = stale_run(minutes=1)
    with pytest.raises(Conflict) as refused:
        bill_run_execute(as_of=AS_OF, at=AS_OF)
    assert refused.value.code == "bill_run_in_progress"
    assert str(live.pk) in refused.value.message
    assert bill_run_execute(as_of=AS_OF + timedelta(hours=1), at=AS_OF).status == "completed"


@pytest.mark.django_db(transaction=True)
def test_two_requests_for_one_as_of_at_once_make_one_run(postgres_only):
    make_book(2)
    outcomes, barrier = [], threading.Barrier(2)

    def request():
        try:
            barrier.wait()
            with transaction.atomic():
                outcomes.append(bill_run_request(as_of=AS_OF, at=AS_OF).pk)
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == sorted(
        [BillRun.objects.get().pk, "bill_run_in_progress"], key=str
    )


@pytest.mark.django_db
def test_the_command_bills_at_once_with_a_progress_bar(capsys):
    make_book(3)
    call_command("bill_run", "--as-of", AS_OF.isoformat())
    out, err = capsys.readouterr()
    assert "completed, 3 customers, 3 invoices, 6 lines" in out
    assert "[##############################] 3/3 customers" in err


@pytest.mark.django_db
def test_an_unexpected_integrity_error_is_a_500_not_a_conflict(api, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("NOT NULL constraint failed: billing_billrun.as_of")

    monkeypatch.setattr(bill_runs, "bill_run_request", broken)
    response = api.post(URL, {"as_of": AS_OF.isoformat()}, format="json")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


@pytest.mark.django_db
def test_failures_show_on_the_run_page_and_the_dashboard(
    admin_client, admin_user, one_customer_breaks
):
    make_book()
    run = bill_run_execute(as_of=AS_OF, at=AS_OF)
    page = admin_client.get(reverse("admin:billing_billrun_change", args=[run.pk]))
    assert "ValueError: tax service said no" in page.content.decode()
    day = AS_OF.date().isoformat()  # the dashboard's range: the run's day, seen the day after
    with time_machine.travel(AS_OF + timedelta(days=1), tick=False):
        admin_client.force_login(admin_user)  # a session of that day
        index = admin_client.get(reverse("admin:index"), {"from": day, "to": day})
    index = index.content.decode()
    assert 'id="dashboard-bill-runs"' in index
    assert "<strong>1</strong> with failures in the range" in index
    assert "(1 customer failed)" in index


@pytest.mark.django_db
def test_the_admin_resumes_an_abandoned_run(
    admin_client, bill_run_tasks_inline, django_capture_on_commit_callbacks
):
    make_book()
    run = stale_run(minutes=60)
    bill_runs_abandon_stale(at=timezone.now())
    url = reverse("admin:billing_billrun_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "resume_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert (run.status, run.customers_seen) == ("completed", 6)


@pytest.mark.django_db
def test_a_customer_created_meanwhile_is_refused_as_a_duplicate_not_a_500(api, monkeypatch):
    factories.customer(external_id="acme")
    # The duplicate slips past the check, as a concurrent request's insert would.
    monkeypatch.setattr(customer_services, "_full_clean", lambda customer: None)
    body = {"external_id": "acme", "name": "Acme", "email": "a@acme.test", "currency": "USD"}
    response = api.post("/api/v1/customers/", body, format="json")
    assert response.status_code == 400, response.json()
    assert (response.json()["error"]["field"], response.json()["error"]["code"]) == (
        "external_id",
        "unique",
    )
