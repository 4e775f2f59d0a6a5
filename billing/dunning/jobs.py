"""Dunning's scheduled job: retry the cases due (gateway calls, so outside any transaction),
email reminders around due dates ("payment reminder" notices), and take the campaign's final
action (suspend or cancel) once a case's retries are used up.

Every step is safe to run twice or concurrently: a retry is claimed under the invoice and case
locks (its next_retry_at moved ahead by a lease) before the gateway is called, so two workers
never charge for the same retry; final actions re-check the case under the same locks;
reminders are recorded once (dedupe key) and sent after commit.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction

from api.errors import Conflict, DomainError, StateError
from billing.dunning.models import DunningCampaign, DunningCase, DunningStatus, FinalAction
from billing.dunning.services import (
    campaign_choose,
    case_active_locked,
    case_event,
    case_retry_failed,
    dunning_invoice_closed,
    dunning_notice_context,
    dunning_payment_succeeded,
    invoice_lock,
    subscription_event,
    subscriptions_locked,
)
from billing.events.models import BillingEvent
from billing.events.services import Actor, billing_event_record
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.invoicing.services.documents import invoice_email_recipients
from billing.payments.models.payments import PaymentSource, PaymentStatus
from billing.payments.services import payments
from billing.subscriptions.models.subscriptions import CancelReason, SubscriptionStatus
from billing.subscriptions.services import addons_end
from billing.usage.pricing import usage_aggregates_end
from customers.models import NoticeKind
from customers.notices import notice_exists, notice_send

logger = logging.getLogger(__name__)
D, S = DunningStatus, SubscriptionStatus
RETRY_LEASE = timedelta(hours=1)  # a claimed retry whose worker died is tried again after this
REMINDER_LATE = timedelta(days=2)  # a reminder missed by longer than this is not sent any more
RETRY_BATCH = 50  # retries per run (each a gateway call), so the task stays within its timeout
RUN_COUNTS = ("recovered", "failed", "pending", "in_flight", "skipped", "error")


# Retries
def _invoice_of(case_id: int) -> int | None:
    return DunningCase.objects.filter(pk=case_id).values_list("invoice_id", flat=True).first()


@transaction.atomic
def _retry_claim(case_id: int, at: datetime, force: bool) -> DunningCase | None:
    invoice_id = _invoice_of(case_id)
    case = case_active_locked(invoice_lock(invoice_id).pk) if invoice_id else None
    if case is None or case.pk != case_id:
        return None
    if not force and (case.next_retry_at is None or case.next_retry_at > at):
        return None  # done by another worker, or moved
    case.next_retry_at = at + RETRY_LEASE
    case.save(update_fields=["next_retry_at"])
    return case


@transaction.atomic
def _retry_refused(case_id: int, at: datetime, actor: Actor, code: str) -> None:
    """No charge could be made (no payment method): that counts as a failed retry."""
    case = case_active_locked(invoice_lock(_invoice_of(case_id)).pk)
    if case is not None and case.pk == case_id:
        case_retry_failed(case, at=at, actor=actor, code=code)


def _settle_ended_invoice(case: DunningCase, at: datetime, actor: Actor) -> None:
    """The invoice is no longer open but its case is (its hook did not run): end the case."""
    invoice = Invoice.objects.get(pk=case.invoice_id)
    if invoice.status == InvoiceStatus.PAID:
        dunning_payment_succeeded(invoice=invoice, at=at, actor=actor)
    elif invoice.status in (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE):
        dunning_invoice_closed(invoice=invoice, at=at, outcome=invoice.status, actor=actor)


def dunning_case_retry(
    *, case_id: int, at: datetime, force: bool = False, actor: Actor = None
) -> str:
    """Charge a case's invoice again if its retry is due (`force`: now, for staff). Runs
    outside any transaction (a gateway call). Returns what happened: recovered, failed,
    pending (an outcome still to come), in_flight (another payment is), skipped or error."""
    case = _retry_claim(case_id, at, force)
    if case is None:
        return "skipped"
    try:
        payment = payments.payment_collect(
            invoice=case.invoice, at=at, source=PaymentSource.DUNNING, actor=actor
        )
    except Conflict:
        return "in_flight"  # the lease brings it back later
    except StateError:
        _settle_ended_invoice(case, at, actor)
        return "skipped"
    except DomainError as error:  # no_payment_method and the like
        _retry_refused(case_id, at, actor, error.code)
        return "failed"
    except Exception:  # noqa: BLE001 - one case must not stop the run; the lease retries it
        logger.exception("Dunning retry of case %s failed", case_id)
        return "error"
    outcomes = {PaymentStatus.SUCCEEDED: "recovered", PaymentStatus.FAILED: "failed"}
    return outcomes.get(payment.status, "pending")


@transaction.atomic
def dunning_final_action(*, case_id: int, at: datetime, actor: Actor = None) -> bool:
    """Take the campaign's final action on a case whose retries are used up and whose final
    action is due: suspend or cancel (involuntary churn) its invoice's subscriptions. False
    when there is nothing (any more) to do."""
    invoice_id = _invoice_of(case_id)
    case = case_active_locked(invoice_lock(invoice_id).pk) if invoice_id else None
    if case is None or case.pk != case_id or case.next_retry_at is not None:
        return False
    if case.final_action_at is None or case.final_action_at > at:
        return False
    action, done = case.campaign.final_action, []
    if action == FinalAction.SUSPEND:
        for sub in subscriptions_locked(invoice_id, [S.ACTIVE, S.PAST_DUE]):
            sub.suspend()
            sub.save()
            subscription_event(
                "subscription.suspended",
                sub,
                at,
                actor,
                reason=CancelReason.NONPAYMENT,
                case=case_id,
            )
            done.append(sub.pk)
    elif action == FinalAction.CANCEL:
        for sub in subscriptions_locked(invoice_id, [S.ACTIVE, S.PAST_DUE, S.SUSPENDED, S.PAUSED]):
            sub.cancel(at=at, reason=CancelReason.NONPAYMENT, involuntary=True)
            addons_end(sub, at)
            usage_aggregates_end(subscription=sub, at=at)
            sub.save()
            subscription_event(
                "subscription.canceled",
                sub,
                at,
                actor,
                reason=CancelReason.NONPAYMENT,
                churn="involuntary",
                at_period_end=False,
                case=case_id,
            )
            done.append(sub.pk)
    case.exhaust(at=at, outcome=action)
    case.save()
    case_event("dunning.exhausted", case, at, actor, action=action, subscriptions=done)
    return True


def _reminder_due(invoice: Invoice, campaign: DunningCampaign, at: datetime):
    """(kind, days) of the invoice's latest reminder moment passed by `at`, if still worth
    sending: not before the invoice was issued, not "due soon" once due, not days late."""
    moments = [
        (invoice.due_at - timedelta(days=d), "before", d) for d in campaign.reminder_days_before_due
    ]
    moments += [
        (invoice.due_at + timedelta(days=d), "after", d) for d in campaign.reminder_days_after_due
    ]
    issued = invoice.issued_at or invoice.due_at
    passed = [m for m in moments if issued <= m[0] <= at]
    if not passed:
        return None
    moment, kind, days = max(passed)
    if at >= moment + REMINDER_LATE or (kind == "before" and at > invoice.due_at):
        return None
    return kind, days


def _reminder_event(invoice: Invoice, kind: str, days: int, at: datetime, key: str, notice):
    """The reminder's billing event, in the transaction that records its notice."""
    payload = {"number": invoice.number, "kind": kind, "days": days, "to": notice.recipients}
    billing_event_record(
        kind="dunning.reminder_sent", subject=invoice, at=at, payload=payload, dedupe_key=key
    )


def _reminder_send(invoice: Invoice, kind: str, days: int, at: datetime) -> bool:
    """The "payment reminder" notice (customers.notices) and its `dunning.reminder_sent`
    event, once per invoice and moment; not recorded at all while no one is to be mailed."""
    key = f"dunning-reminder:{invoice.pk}:{kind}:{days}"
    notice_key = f"{NoticeKind.PAYMENT_REMINDER}:{invoice.pk}:{kind}:{days}"
    if notice_exists(notice_key) or BillingEvent.objects.filter(dedupe_key=key).exists():
        return False  # fast path; the unique keys are what makes it safe
    recipients = invoice_email_recipients(invoice)
    if not recipients:
        return False
    context = dunning_notice_context(invoice, overdue=kind == "after", days=days)
    with transaction.atomic():
        if not Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.OPEN).exists():
            return False
        notice = notice_send(
            customer=invoice.customer,
            kind=NoticeKind.PAYMENT_REMINDER,
            key=notice_key,
            context=context,
            related=f"invoice {invoice.number}",
            recipients=recipients,
            on_record=partial(_reminder_event, invoice, kind, days, at, key),
        )
    return notice is not None


def dunning_reminders_send(*, at: datetime) -> int:
    """Email the reminders due by `at` for open invoices (each once). Returns how many."""
    campaigns = list(DunningCampaign.objects.filter(active=True))
    before = max((d for c in campaigns for d in c.reminder_days_before_due), default=None)
    after = max((d for c in campaigns for d in c.reminder_days_after_due), default=None)
    if before is None and after is None:
        return 0
    invoices = Invoice.objects.filter(
        status=InvoiceStatus.OPEN,
        amount_due__gt=0,
        due_at__lte=at + timedelta(days=before or 0),
        due_at__gt=at - timedelta(days=after or 0) - REMINDER_LATE,
    ).select_related("customer")
    sent = 0
    for invoice in invoices.order_by("pk"):
        campaign = campaign_choose(invoice.customer, campaigns)
        due = _reminder_due(invoice, campaign, at) if campaign else None
        if due and _reminder_send(invoice, *due, at):
            sent += 1
    return sent


def dunning_run(*, at: datetime, retry_limit: int = RETRY_BATCH) -> dict:
    """The scheduled job: (1) retry the cases due, one at a time, outside any transaction;
    (2) send the reminders due; (3) take the final actions due. Returns counts: retries by
    outcome (see `dunning_case_retry`), reminders sent and final actions taken."""
    counts = Counter(dict.fromkeys((*RUN_COUNTS, "final_actions"), 0))
    due = DunningCase.objects.filter(status=D.ACTIVE, next_retry_at__lte=at)
    for case_id in list(
        due.order_by("next_retry_at", "pk").values_list("pk", flat=True)[:retry_limit]
    ):
        counts[dunning_case_retry(case_id=case_id, at=at)] += 1
    counts["reminders"] = dunning_reminders_send(at=at)
    final = DunningCase.objects.filter(
        status=D.ACTIVE, next_retry_at__isnull=True, final_action_at__lte=at
    )
    for case_id in list(final.order_by("final_action_at", "pk").values_list("pk", flat=True)):
        counts["final_actions"] += dunning_final_action(case_id=case_id, at=at)
    return dict(counts)
