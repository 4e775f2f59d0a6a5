"""A dunning campaign end to end through the sandbox gateway, with a moving clock: a renewal
invoice's charge is declined (a new subscription's failed first charge is not dunned: it is
incomplete, see test_incomplete.py), the scheduled job retries on days 1, 3, 5 and 7, then
suspends (or cancels); or a new card attached meanwhile pays the invoice. Tasks run inline
(django-q2 sync) when the test's on-commit callbacks run. Also the admin's case actions."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from billing.dunning import jobs as dunning_jobs
from billing.dunning.tasks import dunning_run_task
from billing.invoicing.services import documents
from billing.models import (
    BillingEvent,
    DunningCampaign,
    DunningCase,
    Gateway,
    Invoice,
    Payment,
    SandboxCharge,
    Subscription,
)
from billing.payments.services.methods import payment_method_attach
from billing.tests import factories
from billing.tests.payment_helpers import renewal_invoice
from customers.models import Notice

pytestmark = pytest.mark.django_db
AT = datetime(2027, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
DECLINES = "tok_chargeDeclinedInsufficientFunds"
WORKERS = 4


@pytest.fixture(autouse=True)
def tasks_inline(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setattr(documents, "invoice_pdf", lambda *, invoice: b"%PDF-1.7 test")


@pytest.fixture
def clock():
    """Travel to a moment (the clock stands still there): tasks read it."""
    traveller = None

    def travel(at):
        nonlocal traveller
        if traveller is not None:
            traveller.stop()
        traveller = time_machine.travel(at, tick=False)
        traveller.start()
        return at

    yield travel
    if traveller is not None:
        traveller.stop()


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run `call()` as if its transaction committed: queued tasks run (inline) after it."""

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def attach(customer, token, at):
    return payment_method_attach(
        customer=customer, gateway="sandbox", token=token, make_default=True, at=at
    )


def renewal_declined(customer, plan, at, run=lambda call: call()):
    """The customer's first invoice is paid by card, then the card declines a renewal's
    invoice (its charge runs inline when `run` runs the on-commit callbacks)."""
    attach(customer, "tok_visa", at)
    sub = run(lambda: factories.subscription(customer=customer, plan=plan, at=at))
    attach(customer, DECLINES, at)
    return sub, run(lambda: renewal_invoice(sub, at))


@pytest.fixture
def declined(clock, on_commit):
    """A subscribed customer's card declines: a renewal invoice's charge fails."""
    clock(AT)
    customer = factories.customer(external_id="acme")
    sub, invoice = renewal_declined(customer, factories.plan(), AT, on_commit)
    assert Invoice.objects.get(pk=sub.first_invoice_id).status == "paid"
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.source, payment.status, payment.failure_code) == (
        "automatic",
        "failed",
        "insufficient_funds",
    )
    assert invoice.status == "open"
    case = DunningCase.objects.get(invoice=invoice)
    assert (case.status, case.next_retry_at) == ("active", AT + DAY)
    assert Subscription.objects.get(pk=sub.pk).status == "past_due"
    return sub, invoice, case


def dunning_payments(invoice):
    return Payment.objects.filter(invoice=invoice, source="dunning").order_by("pk")


def events(kind) -> list[BillingEvent]:
    return list(BillingEvent.objects.filter(kind=kind).order_by("id"))


@pytest.mark.parametrize(
    ("action", "final_status"), [("suspend", "suspended"), ("cancel", "canceled")]
)
def test_retries_on_days_1_3_5_7_then_the_final_action(
    declined, clock, on_commit, mailoutbox, action, final_status
):
    sub, invoice, case = declined
    DunningCampaign.objects.filter(code="default").update(final_action=action)
    mailoutbox.clear()
    for number, day in enumerate([1, 3, 5, 7], start=1):
        clock(AT + day * DAY)
        assert on_commit(dunning_run_task)["failed"] == 1
        assert on_commit(dunning_run_task)["failed"] == 0  # run twice: nothing new
        attempts = dunning_payments(invoice)
        assert [(p.status, p.failure_code) for p in attempts] == [
            ("failed", "insufficient_funds")
        ] * number
        assert attempts.last().created_at == AT + day * DAY
        case.refresh_from_db()
        assert case.retries_done == number
        assert len(events("dunning.retry_failed")) == number
    assert SandboxCharge.objects.count() == 6  # the paid first invoice, the renewal, 4 retries
    case.refresh_from_db()
    sub.refresh_from_db()
    assert (case.status, case.outcome, case.ended_at) == ("exhausted", action, AT + 7 * DAY)
    assert sub.status == final_status
    [exhausted] = events("dunning.exhausted")
    assert exhausted.payload["subscriptions"] == [sub.pk]
    [ended] = events(f"subscription.{final_status}")
    assert ended.subject_id == str(sub.pk)
    if action == "cancel":
        assert (sub.churn, sub.cancel_reason) == ("involuntary", "nonpayment")
        assert ended.payload["churn"] == "involuntary"
    [notice] = mailoutbox
    assert notice.subject == f"Final notice: invoice {invoice.number} is unpaid"
    assert (
        f"Your subscription is being {'suspended' if action == 'suspend' else 'canceled'}"
        in (notice.alternatives[0][0])
    )
    assert Notice.objects.get(kind="dunning_final_notice").status == "sent"
    clock(AT + 8 * DAY)
    assert on_commit(dunning_run_task)["final_actions"] == 0


def test_a_new_card_during_dunning_pays_and_recovers(declined, clock, on_commit):
    sub, invoice, case = declined
    clock(AT + DAY)
    on_commit(dunning_run_task)  # the day-1 retry declines
    at = clock(AT + 2 * DAY)
    on_commit(lambda: attach(sub.customer, "tok_visa", at))
    invoice.refresh_from_db()
    case.refresh_from_db()
    sub.refresh_from_db()
    assert (invoice.status, invoice.amount_due, invoice.paid_at) == ("paid", 0, at)
    assert [p.status for p in dunning_payments(invoice)] == ["failed", "succeeded"]
    assert (case.status, case.retries_done, case.ended_at) == ("recovered", 1, at)
    assert sub.status == "active"
    assert [e.subject_id for e in events("dunning.recovered")] == [str(case.pk)]
    assert [e.subject_id for e in events("subscription.recovered")] == [str(sub.pk)]
    clock(AT + 3 * DAY)
    assert on_commit(dunning_run_task)["failed"] == 0  # nothing left to chase
    assert SandboxCharge.objects.count() == 4  # the first invoice, the renewal, retry, new card


# Admin
def act(client, action, *cases):
    url = reverse("admin:billing_dunningcase_changelist")
    data = {"action": action, "_selected_action": [case.pk for case in cases]}
    return client.post(url, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_admin_retry_now(declined, admin_client, admin_user):
    sub, invoice, case = declined
    [message] = messages_of(act(admin_client, "retry_now", case))
    assert message.endswith("the charge failed again.")
    case.refresh_from_db()
    assert case.retries_done == 1
    attach(sub.customer, "tok_visa", timezone.now())  # its queued retry never runs here
    [message] = messages_of(act(admin_client, "retry_now", case))
    assert message.endswith("paid, case recovered.")
    case.refresh_from_db()
    assert case.status == "recovered"
    assert events("dunning.recovered")[0].actor == f"user:{admin_user.pk}:admin"
    [message] = messages_of(act(admin_client, "retry_now", case))
    assert "not active" in message


def test_admin_close_and_pages(declined, admin_client):
    sub, invoice, case = declined
    url = reverse("admin:billing_dunningcase_changelist")
    for query in ({}, {"status__exact": "active"}, {"q": invoice.number}, {"q": "acme"}):
        assert admin_client.get(url, query).context["cl"].result_count == 1
    page = admin_client.get(reverse("admin:billing_dunningcase_change", args=[case.pk]))
    assert page.status_code == 200
    assert "Events of this case" in page.content.decode()
    assert "Closed: 1." in messages_of(act(admin_client, "close_selected", case))
    assert "not possible" in messages_of(act(admin_client, "close_selected", case))[0]
    assert (DunningCase.objects.get().status, Subscription.objects.get().status) == (
        "closed",
        "active",
    )


def test_admin_campaign_form_checks_the_schedule(admin_client, db):
    url = reverse("admin:billing_dunningcampaign_add")
    data = {
        "code": "strict",
        "name": "Strict",
        "active": "on",
        "retry_days": "[3, 1]",
        "reminder_days_before_due": "[]",
        "reminder_days_after_due": "[2]",
        "final_action": "cancel",
        "final_action_after_days": "0",
    }
    response = admin_client.post(url, data)
    assert "Days in increasing order." in response.content.decode()
    assert admin_client.post(url, {**data, "retry_days": "[1, 3]"}).status_code == 302
    campaign = DunningCampaign.objects.get(code="strict")
    assert (campaign.retry_days, campaign.final_action) == ([1, 3], "cancel")
    changelist = admin_client.get(reverse("admin:billing_dunningcampaign_changelist"))
    assert changelist.context["cl"].result_count == 2


# Concurrency (PostgreSQL, real threads and transactions)
@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_retry_each_case_once(clock):
    clock(AT)
    # An earlier transactional test may have flushed the migrations' rows.
    Gateway.objects.get_or_create(
        code="sandbox",
        defaults={"name": "Sandbox", "adapter": "sandbox", "vault": "sandbox", "priority": 10},
    )
    DunningCampaign.objects.get_or_create(
        code="default", defaults={"name": "Default", "is_default": True, "retry_days": [1, 3]}
    )
    plan = factories.plan()
    for n in range(5):  # each renewal's charge declines (collected inline on commit)
        renewal_declined(factories.customer(external_id=f"c{n}"), plan, AT)
    assert DunningCase.objects.filter(status="active").count() == 5
    barrier, results = threading.Barrier(WORKERS), []

    def run() -> None:
        try:
            barrier.wait()
            results.append(dunning_jobs.dunning_run(at=AT + DAY))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result["failed"] for result in results) == 5, results
    assert not any(result["error"] for result in results), results
    for case in DunningCase.objects.all():
        assert (case.retries_done, case.next_retry_at) == (1, AT + 3 * DAY)
        assert dunning_payments(case.invoice).count() == 1
    assert SandboxCharge.objects.count() == 15  # 5 first invoices paid, 5 declined, 5 retries
