"""Dunning hooks and jobs, without a gateway: payments are made as rows, `payment_collect` is
replaced where the job retries. The sandbox campaign end to end is in test_dunning_e2e.py."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from api.errors import Conflict, DomainError, StateError
from billing.dunning import jobs as dunning_jobs
from billing.dunning import services as dunning
from billing.events.services import billing_event_record
from billing.invoicing.services.invoices import invoice_create, invoice_finalize, invoice_mark_paid
from billing.models import (
    BillingEvent,
    DunningCampaign,
    DunningCase,
    Invoice,
    InvoiceLine,
    LineKind,
    Subscription,
)
from billing.payments.services import payments
from billing.tests import factories
from billing.tests.payment_helpers import failed
from customers.models import Customer, Notice, NoticeKind

pytestmark = pytest.mark.django_db
AT = datetime(2027, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def sub():
    customer = factories.customer(external_id="acme")
    return factories.subscription(customer=customer, plan=factories.plan(), at=AT)


@pytest.fixture
def invoice(sub):
    # Open, due in 14 days; chased like a renewal's invoice (the failed first charge of a new
    # subscription makes it incomplete instead: test_incomplete.py).
    Subscription.objects.filter(pk=sub.pk).update(first_invoice=None)
    return Invoice.objects.get(customer=sub.customer)


def fail(invoice, at=AT, **kwargs) -> DunningCase | None:
    return dunning.dunning_payment_failed(
        invoice=invoice, payment=failed(invoice, at=at, **kwargs), at=at
    )


def kinds(**filters) -> list[str]:
    return list(BillingEvent.objects.filter(**filters).values_list("kind", flat=True))


def status(obj) -> str:
    return type(obj).objects.get(pk=obj.pk).status


def exhausted_case(invoice, at=AT) -> DunningCase:
    case = fail(invoice, at=at)
    for days in (1, 3, 5, 7):
        dunning.dunning_payment_failed(
            invoice=invoice,
            payment=failed(invoice, "dunning", at=at + days * DAY),
            at=at + days * DAY,
        )
    case.refresh_from_db()
    return case


# Failures
def test_the_first_failure_opens_a_case_and_makes_the_subscriptions_past_due(sub, invoice):
    case = fail(invoice)
    assert (case.campaign.code, case.status, case.started_at) == ("default", "active", AT)
    assert (case.retries_done, case.next_retry_at, case.final_action_at) == (0, AT + DAY, None)
    assert case.last_failure_code == "insufficient_funds"
    assert status(sub) == "past_due"
    assert kinds(kind__startswith="dunning.") == ["dunning.started"]
    event = BillingEvent.objects.get(kind="subscription.past_due")
    assert (event.subject_id, event.payload["invoice"]) == (str(sub.pk), invoice.number)


def test_a_failure_reported_twice_counts_once(invoice):
    payment = failed(invoice)
    first = dunning.dunning_payment_failed(invoice=invoice, payment=payment, at=AT)
    again = dunning.dunning_payment_failed(invoice=invoice, payment=payment, at=AT + DAY)
    assert again.pk == first.pk
    assert DunningCase.objects.count() == 1
    assert again.retries_done == 0
    assert len(kinds(kind="subscription.past_due")) == 1


def test_retry_failures_walk_the_schedule_then_set_the_final_action(
    invoice, mailoutbox, django_capture_on_commit_callbacks
):
    case = fail(invoice)
    expected = [AT + 3 * DAY, AT + 5 * DAY, AT + 7 * DAY, None]
    with django_capture_on_commit_callbacks(execute=True):
        for number, days in enumerate([1, 3, 5, 7]):
            at = AT + days * DAY
            dunning.dunning_payment_failed(
                invoice=invoice, payment=failed(invoice, "dunning", code="card_declined"), at=at
            )
            case.refresh_from_db()
            assert (case.retries_done, case.next_retry_at) == (number + 1, expected[number])
    assert case.final_action_at == AT + 7 * DAY  # final_action_after_days = 0
    assert case.last_failure_code == "card_declined"
    assert len(kinds(kind="dunning.retry_failed")) == 4
    [mail] = mailoutbox
    assert mail.subject == f"Final notice: invoice {invoice.number} is unpaid"
    assert mail.to == ["acme@example.com"]
    assert mail.reply_to == ["billing@example.com"]  # the seller
    assert "5 payment attempts failed" in mail.body
    assert "Your subscription is being suspended today." in mail.body
    assert "Amount due: 30.00 USD" in mail.body
    assert f"Payment reference: {invoice.payment_reference}" in mail.body
    assert "Example Billing Ltd" in mail.body
    [(html, mimetype)] = mail.alternatives
    assert mimetype == "text/html"
    assert "5 payment attempts failed" in html
    assert invoice.payment_reference in html
    assert "Your subscription is being suspended today." in html
    notice = Notice.objects.get(kind=NoticeKind.DUNNING_FINAL_NOTICE)
    assert (notice.dedupe_key, notice.status) == (f"dunning_final_notice:{case.pk}", "sent")
    assert (notice.customer_id, notice.recipients) == (invoice.customer_id, ["acme@example.com"])
    [event] = BillingEvent.objects.filter(kind="dunning.final_notice_sent")
    assert event.dedupe_key == f"dunning-final-notice:{case.pk}"
    assert (event.payload["to"], event.payload["invoice"]) == (["acme@example.com"], invoice.number)
    assert (event.payload["status"], event.payload["retries_done"]) == ("active", 4)


def test_the_final_notice_is_sent_once_per_case(
    invoice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = exhausted_case(invoice)
        # a retry forced by staff fails again: the case's final notice is not sent again
        fail(invoice, at=AT + 8 * DAY, source="dunning")
    case.refresh_from_db()
    assert case.retries_done == 5
    assert len(mailoutbox) == 1
    assert Notice.objects.filter(kind=NoticeKind.DUNNING_FINAL_NOTICE).count() == 1
    assert len(kinds(kind="dunning.final_notice_sent")) == 1


def test_a_final_notice_without_recipient_is_recorded_not_sent(
    invoice, mailoutbox, django_capture_on_commit_callbacks
):
    Customer.objects.filter(pk=invoice.customer_id).update(email="")
    invoice.customer.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        case = exhausted_case(invoice)
    assert mailoutbox == []
    notice = Notice.objects.get(kind=NoticeKind.DUNNING_FINAL_NOTICE)
    assert notice.status == "skipped_no_recipient"
    [event] = BillingEvent.objects.filter(kind="dunning.final_notice_sent")
    assert (event.dedupe_key, event.payload["to"]) == (f"dunning-final-notice:{case.pk}", [])


def test_a_late_retry_keeps_a_gap_before_the_next(invoice):
    case = fail(invoice)
    late = AT + 4 * DAY  # the day-1 retry ran on day 4; the day-3 one is already past
    dunning.dunning_payment_failed(invoice=invoice, payment=failed(invoice, "dunning"), at=late)
    case.refresh_from_db()
    assert case.next_retry_at == late + dunning.MIN_RETRY_GAP


def test_a_customer_payment_failing_during_a_case_does_not_use_a_retry(invoice):
    case = fail(invoice)
    fail(invoice, source="portal", code="expired_card", at=AT + DAY / 2)
    case.refresh_from_db()
    assert (case.retries_done, case.next_retry_at, case.last_failure_code) == (
        0,
        AT + DAY,
        "expired_card",
    )
    assert "dunning.payment_failed" in kinds()


def test_the_customer_campaign_comes_from_its_metadata(sub, invoice):
    DunningCampaign.objects.create(code="gentle", name="Gentle", retry_days=[2, 9])
    sub.customer.metadata = {"dunning_campaign": "gentle"}
    sub.customer.save()
    case = fail(invoice)
    assert (case.campaign.code, case.next_retry_at) == ("gentle", AT + 2 * DAY)


def test_no_active_campaign_no_dunning(sub, invoice):
    DunningCampaign.objects.update(active=False)
    assert fail(invoice) is None
    assert status(sub) == "active"


def test_a_failure_on_an_invoice_no_longer_open_opens_nothing(invoice):
    invoice_mark_paid(invoice=invoice, at=AT)
    assert fail(invoice) is None


# Success, new payment methods, closing
def test_payment_recovers_the_case_and_the_subscriptions(sub, invoice):
    case = fail(invoice)
    dunning.dunning_payment_succeeded(invoice=invoice, at=AT + 2 * DAY)
    dunning.dunning_payment_succeeded(invoice=invoice, at=AT + 3 * DAY)  # twice: nothing new
    case.refresh_from_db()
    assert (case.status, case.ended_at, case.outcome, case.next_retry_at) == (
        "recovered",
        AT + 2 * DAY,
        "paid",
        None,
    )
    assert status(sub) == "active"
    assert kinds(kind__in=["dunning.recovered", "subscription.recovered"]) == [
        "dunning.recovered",
        "subscription.recovered",
    ]


def second_invoice(sub) -> Invoice:
    line = InvoiceLine(
        customer=sub.customer,
        currency="USD",
        subscription=sub,
        kind=LineKind.ONE_TIME,
        description="Extra",
        unit_amount=Decimal(5),
        amount=Decimal(5),
    )
    with transaction.atomic():
        draft = invoice_create(customer=sub.customer, currency="USD", lines=[line], at=AT)
    return invoice_finalize(invoice=draft, at=AT)


def test_a_subscription_stays_past_due_while_another_invoice_is_chased(sub, invoice):
    fail(invoice)
    other = second_invoice(sub)
    fail(other)
    dunning.dunning_payment_succeeded(invoice=invoice, at=AT + DAY)
    assert status(sub) == "past_due"
    dunning.dunning_payment_succeeded(invoice=other, at=AT + DAY)
    assert status(sub) == "active"


def test_paying_after_suspension_restores_the_subscription(sub, invoice):
    case = exhausted_case(invoice)
    assert dunning_jobs.dunning_final_action(case_id=case.pk, at=AT + 7 * DAY)
    assert status(sub) == "suspended"
    dunning.dunning_payment_succeeded(invoice=invoice, at=AT + 9 * DAY)
    assert (status(case), status(sub)) == ("exhausted", "active")


def test_a_new_payment_method_brings_the_retries_forward_after_commit(
    sub, invoice, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(dunning, "async_task", lambda *args, **kw: queued.append((args, kw)))
    case = fail(invoice)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dunning.dunning_payment_method_added(customer=sub.customer, at=AT + DAY / 2)
    case.refresh_from_db()
    assert case.next_retry_at == AT + DAY / 2
    assert "dunning.retry_scheduled" in kinds()
    assert queued == []  # not inside the caller's transaction
    for callback in callbacks:
        callback()
    assert queued == [(("billing.dunning.tasks.dunning_case_retry_task",), {"case_id": case.pk})]


def test_a_voided_invoice_closes_its_case_and_releases_the_subscriptions(sub, invoice):
    case = fail(invoice)
    dunning.dunning_invoice_closed(invoice=invoice, at=AT + DAY, outcome="void")
    case.refresh_from_db()
    assert (case.status, case.outcome, status(sub)) == ("closed", "void", "active")
    assert kinds(kind="dunning.closed") == ["dunning.closed"]
    dunning.dunning_invoice_closed(invoice=invoice, at=AT + DAY, outcome="void")  # no-op


@pytest.mark.parametrize("write_off", ["void", "uncollectible"])
def test_voiding_or_writing_off_the_invoice_ends_its_dunning(api, sub, invoice, write_off):
    case = fail(invoice)
    assert status(sub) == "past_due"
    path = "void" if write_off == "void" else "mark-uncollectible"
    response = api.post(f"/api/v1/invoices/{invoice.pk}/{path}/")
    assert response.status_code == 200
    assert response.json()["status"] == write_off
    case.refresh_from_db()
    assert (case.status, status(sub)) == ("closed", "active")


def test_staff_close_only_an_active_case(invoice):
    case = fail(invoice)
    dunning.dunning_case_close(case=case, at=AT, actor="staff")
    assert status(case) == "closed"
    with pytest.raises(StateError):
        dunning.dunning_case_close(case=case, at=AT)


# Final actions
@pytest.mark.parametrize(
    ("action", "sub_status", "kind"),
    [
        ("suspend", "suspended", "subscription.suspended"),
        ("cancel", "canceled", "subscription.canceled"),
        ("none", "past_due", None),
    ],
)
def test_final_action(sub, invoice, action, sub_status, kind):
    DunningCampaign.objects.filter(code="default").update(final_action=action)
    case = exhausted_case(invoice)
    at = AT + 7 * DAY
    assert dunning_jobs.dunning_final_action(case_id=case.pk, at=at)
    assert not dunning_jobs.dunning_final_action(case_id=case.pk, at=at)  # once
    case.refresh_from_db()
    sub.refresh_from_db()
    assert (case.status, case.outcome, sub.status) == ("exhausted", action, sub_status)
    exhausted = BillingEvent.objects.get(kind="dunning.exhausted")
    assert exhausted.payload["subscriptions"] == ([sub.pk] if kind else [])
    if action == "cancel":
        assert (sub.churn, sub.cancel_reason, sub.ended_at) == ("involuntary", "nonpayment", at)
        assert BillingEvent.objects.get(kind=kind).payload["churn"] == "involuntary"


def test_no_final_action_before_its_time_or_while_a_retry_is_pending(invoice):
    DunningCampaign.objects.filter(code="default").update(final_action_after_days=2)
    case = exhausted_case(invoice)
    assert case.final_action_at == AT + 9 * DAY
    assert not dunning_jobs.dunning_final_action(case_id=case.pk, at=AT + 8 * DAY)
    dunning.dunning_payment_method_added(customer=invoice.customer, at=AT + 8 * DAY)
    assert not dunning_jobs.dunning_final_action(case_id=case.pk, at=AT + 10 * DAY)


# The job's retries (payment_collect replaced)
@pytest.fixture
def collect(monkeypatch):
    calls = []

    def install(effect):
        def fake(*, invoice, at, source, **kwargs):
            calls.append((invoice.pk, at, source))
            if isinstance(effect, Exception):
                raise effect
            return effect(invoice, at)

        monkeypatch.setattr(payments, "payment_collect", fake)
        return calls

    return install


def test_no_payment_method_counts_as_a_failed_retry(invoice, collect):
    case = fail(invoice)
    calls = collect(DomainError("No method.", code="no_payment_method"))
    assert dunning_jobs.dunning_run(at=AT + DAY / 2)["failed"] == 0  # not due yet
    result = dunning_jobs.dunning_run(at=AT + DAY)
    assert result["failed"] == 1
    assert calls == [(invoice.pk, AT + DAY, "dunning")]
    case.refresh_from_db()
    assert (case.retries_done, case.next_retry_at, case.last_failure_code) == (
        1,
        AT + 3 * DAY,
        "no_payment_method",
    )


def test_a_payment_in_flight_is_left_for_later_and_not_retried_twice(invoice, collect):
    case = fail(invoice)
    calls = collect(Conflict("In flight.", code="payment_in_progress"))
    assert dunning_jobs.dunning_run(at=AT + DAY)["in_flight"] == 1
    assert dunning_jobs.dunning_run(at=AT + DAY)["skipped"] == 0  # claimed: not due again
    assert len(calls) == 1
    case.refresh_from_db()
    assert (case.retries_done, case.next_retry_at) == (0, AT + DAY + dunning_jobs.RETRY_LEASE)


def test_an_invoice_paid_meanwhile_recovers_its_case(sub, invoice, collect):
    case = fail(invoice)
    invoice_mark_paid(invoice=invoice, at=AT + DAY / 2)  # outside the payments service
    collect(StateError("Paid."))
    assert dunning_jobs.dunning_run(at=AT + DAY)["error"] == 0
    assert (status(case), status(sub)) == ("recovered", "active")


def test_an_unexpected_error_does_not_stop_the_run(invoice, collect):
    fail(invoice)
    collect(RuntimeError("boom"))
    assert dunning_jobs.dunning_run(at=AT + DAY)["error"] == 1


# Reminders
def test_reminders_are_sent_once_each_around_the_due_date(
    invoice, mailoutbox, django_capture_on_commit_callbacks
):
    due = invoice.due_at
    assert due == AT + 14 * DAY

    def run(at):
        with django_capture_on_commit_callbacks(execute=True):
            return dunning_jobs.dunning_reminders_send(at=at)

    plan = [(due - 4 * DAY, 0), (due - 3 * DAY, 1), (due - 2 * DAY, 0), (due, 0), (due + DAY, 1)]
    plan += [(due + DAY, 0), (due + 7 * DAY + DAY / 2, 1), (due + 8 * DAY, 0)]
    for at, sent in plan:
        assert run(at) == sent, at
    assert [m.subject for m in mailoutbox] == [
        f"Invoice {invoice.number} is due soon",
        f"Invoice {invoice.number} is overdue",
        f"Invoice {invoice.number} is overdue",
    ]
    assert "30.00 USD is due on 15 Mar 2027" in mailoutbox[0].body
    assert "and 30.00 USD of it is still unpaid" in mailoutbox[1].body
    for mail in mailoutbox:
        assert mail.to == ["acme@example.com"]
        assert f"Payment reference: {invoice.payment_reference}" in mail.body
        [(html, mimetype)] = mail.alternatives
        assert mimetype == "text/html"
        assert invoice.payment_reference in html
        assert "30.00 USD" in html
    assert "is due on 15 Mar 2027" in mailoutbox[0].alternatives[0][0]
    notices = Notice.objects.filter(kind=NoticeKind.PAYMENT_REMINDER).order_by("pk")
    assert [(n.dedupe_key, n.status) for n in notices] == [
        (f"payment_reminder:{invoice.pk}:before:3", "sent"),
        (f"payment_reminder:{invoice.pk}:after:1", "sent"),
        (f"payment_reminder:{invoice.pk}:after:7", "sent"),
    ]
    event = BillingEvent.objects.get(dedupe_key=f"dunning-reminder:{invoice.pk}:after:7")
    assert (event.kind, event.subject_id) == ("dunning.reminder_sent", str(invoice.pk))
    assert event.payload == {
        "number": invoice.number,
        "kind": "after",
        "days": 7,
        "to": ["acme@example.com"],
    }
    assert len(kinds(kind="dunning.reminder_sent")) == 3


def test_a_reminder_already_recorded_as_an_event_is_not_sent_again(invoice, mailoutbox):
    """Reminders recorded before they were notices (an event, no Notice) stay sent."""
    key = f"dunning-reminder:{invoice.pk}:before:3"
    billing_event_record(
        kind="dunning.reminder_sent", subject=invoice, at=AT, payload={}, dedupe_key=key
    )
    assert dunning_jobs.dunning_reminders_send(at=invoice.due_at - 3 * DAY) == 0
    assert not Notice.objects.exists()


def test_a_reminder_without_recipient_is_not_recorded(invoice, mailoutbox):
    Customer.objects.filter(pk=invoice.customer_id).update(email="")
    assert dunning_jobs.dunning_reminders_send(at=invoice.due_at - 3 * DAY) == 0
    assert (Notice.objects.count(), kinds(kind="dunning.reminder_sent")) == (0, [])


def test_a_reminder_missed_for_days_or_for_a_paid_invoice_is_not_sent(invoice):
    assert dunning_jobs.dunning_reminders_send(at=invoice.due_at + 4 * DAY) == 0
    invoice_mark_paid(invoice=invoice, at=AT)
    assert dunning_jobs.dunning_reminders_send(at=invoice.due_at + DAY) == 0


def test_campaign_schedule_errors():
    campaign = DunningCampaign(retry_days=[3, 1], reminder_days_before_due=["2"])
    errors = dunning.dunning_campaign_errors(campaign)
    assert set(errors) == {"retry_days", "reminder_days_before_due"}
    assert dunning.dunning_campaign_errors(DunningCampaign(retry_days=[1, 3])) == {}
