"""Dunning: chasing an invoice whose payment failed, with the customer's campaign.

The payments service calls the hooks inside its transaction, with the invoice row locked:
`dunning_payment_failed` opens a case (the invoice's subscriptions become past due; the first
invoice of a new subscription makes it incomplete instead, see `incomplete`) or counts
a failed retry, `dunning_payment_succeeded` recovers it, `dunning_payment_method_added` brings
the retries forward and `dunning_invoice_closed` closes it. The scheduled job (retries,
reminders, final actions) is `billing.dunning.jobs.dunning_run`.

Lock order: the invoice, then its case, then its subscriptions in pk order. A payment's
failure is counted once (event dedupe key), however often it is reported; the final notice
is a customer notice (customers.notices), recorded once (dedupe key) and sent after commit.
"""

from datetime import datetime, timedelta
from functools import partial

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django_q.tasks import async_task

from api.errors import StateError
from billing.dunning.models import DunningCampaign, DunningCase, DunningStatus
from billing.events.models import BillingEvent
from billing.events.services import Actor, billing_event_record
from billing.invoicing.models.invoices import Invoice, InvoiceLine, InvoiceStatus
from billing.invoicing.services.documents import invoice_email_recipients, invoice_pdf_context
from billing.payments.models.payments import Payment, PaymentSource
from billing.payments.services.incomplete import (
    invoice_holds_incomplete,
    subscriptions_first_charge_failed,
    subscriptions_first_invoice_paid,
)
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from billing.subscriptions.services import billing_restart
from customers.dates import customer_day
from customers.models import Customer, NoticeKind, NoticeStatus
from customers.notices import notice_send, site_url

D, S = DunningStatus, SubscriptionStatus
MIN_RETRY_GAP = timedelta(hours=12)  # a late run never retries the same card twice in a row
CAMPAIGN_METADATA_KEY = "dunning_campaign"


# Campaigns
def dunning_campaign_errors(campaign: DunningCampaign) -> dict[str, ValidationError]:
    """What is wrong with a campaign's schedule (lists of whole days)."""
    errors = {}
    for field in ("retry_days", "reminder_days_before_due", "reminder_days_after_due"):
        days = getattr(campaign, field)
        if not isinstance(days, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in days
        ):
            errors[field] = ValidationError("A list of whole days (0 or more).", code="invalid")
        elif field == "retry_days" and days != sorted(set(days)):
            errors[field] = ValidationError("Days in increasing order.", code="invalid")
    return errors


def campaign_choose(customer: Customer, campaigns: list[DunningCampaign]):
    code = (customer.metadata or {}).get(CAMPAIGN_METADATA_KEY)
    by_code = {c.code: c for c in campaigns}
    return by_code.get(code) or next((c for c in campaigns if c.is_default), None)


def dunning_campaign_for(customer: Customer) -> DunningCampaign | None:
    """The customer's campaign: the active one whose code `customer.metadata["dunning_campaign"]`
    names, else the default one; None when no active campaign applies (dunning is off)."""
    return campaign_choose(customer, list(DunningCampaign.objects.filter(active=True)))


# Rows, locks and events
def invoice_lock(invoice_id: int) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice_id)


def case_active_locked(invoice_id: int) -> DunningCase | None:
    return (
        DunningCase.objects.select_for_update(of=("self",))
        .select_related("campaign", "customer", "invoice")
        .filter(invoice_id=invoice_id, status=D.ACTIVE)
        .first()
    )


def _ended_case(invoice_id: int) -> DunningCase | None:
    """The invoice's last case that took its final action (its subscriptions may be held)."""
    cases = DunningCase.objects.filter(invoice_id=invoice_id, status=D.EXHAUSTED)
    return cases.select_related("customer", "invoice").order_by("-ended_at", "-pk").first()


def subscriptions_locked(invoice_id: int, statuses: list[str]) -> list[Subscription]:
    """The subscriptions billed on the invoice with one of `statuses`, locked in pk order."""
    ids = InvoiceLine.objects.filter(invoice_id=invoice_id, subscription__isnull=False)
    return list(
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "customer")
        .filter(pk__in=ids.values("subscription_id"), status__in=statuses)
        .order_by("pk")
    )


def _still_owed(sub: Subscription, invoice_id: int) -> bool:
    """Whether another invoice of the subscription is being chased, or was given up on and is
    still unpaid: then paying (or closing) this one does not bring it back."""
    return (
        DunningCase.objects.filter(invoice__lines__subscription=sub)
        .exclude(invoice_id=invoice_id)
        .filter(Q(status=D.ACTIVE) | Q(status=D.EXHAUSTED, invoice__status=InvoiceStatus.OPEN))
        .exists()
    )


def subscription_event(kind: str, sub: Subscription, at: datetime, actor: Actor, **payload) -> None:
    payload = {"plan": sub.plan.code, "status": sub.status, **payload}
    billing_event_record(
        kind=kind, subject=sub, at=at, actor=actor, customer=sub.customer, payload=payload
    )


def case_event(
    kind: str, case: DunningCase, at: datetime, actor: Actor, dedupe_key=None, **payload
) -> BillingEvent | None:
    return billing_event_record(
        kind=kind,
        subject=case,
        at=at,
        actor=actor,
        customer=case.customer,
        dedupe_key=dedupe_key,
        payload={
            "invoice": case.invoice.number,
            "campaign": case.campaign.code,
            "status": case.status,
            "retries_done": case.retries_done,
            "next_retry_at": case.next_retry_at,
            "final_action_at": case.final_action_at,
            **payload,
        },
    )


# Notices (customers.notices: recorded once per key, sent after the transaction commits)
def dunning_notice_context(invoice: Invoice, **extra) -> dict:
    """What the dunning notices show: the invoice's figures as its PDF shows them (seller,
    payment reference, amounts in its currency, days in the customer's time zone), the link
    to update the card, and `extra`."""
    return {
        **invoice_pdf_context(invoice=invoice),
        "owes": True,
        "show_reference": True,
        "portal_url": site_url("portal:overview"),
        "update_card_url": site_url("portal:payment_methods"),
        **extra,
    }


def _final_notice(case: DunningCase, at: datetime, actor: Actor) -> None:
    """The last retry failed: tell the customer what happens next, and when (once per case:
    the `dunning.final_notice_sent` event, recorded with the notice, or alone when there is
    no one to mail)."""
    key = f"dunning-final-notice:{case.pk}"
    if BillingEvent.objects.filter(dedupe_key=key).exists():
        return
    invoice = case.invoice

    def record(to: list[str]) -> None:
        case_event("dunning.final_notice_sent", case, at, actor, dedupe_key=key, to=to)

    notice = notice_send(
        customer=invoice.customer,
        kind=NoticeKind.DUNNING_FINAL_NOTICE,
        key=f"{NoticeKind.DUNNING_FINAL_NOTICE}:{case.pk}",
        context=dunning_notice_context(
            invoice,
            action=case.campaign.final_action,
            action_at=customer_day(case.final_action_at, invoice.customer),
            action_now=case.final_action_at <= at,
            attempts=case.retries_done + 1,
        ),
        related=f"invoice {invoice.number}, dunning case #{case.pk}",
        recipients=invoice_email_recipients(invoice),
        on_record=lambda notice: record(notice.recipients),
    )
    if notice is not None and notice.status != NoticeStatus.QUEUED:
        record([])  # no recipient: nothing sent, the event recorded as before


# Schedule
def _schedule(case: DunningCase, at: datetime) -> None:
    """The next retry (days counted from the case start), or the final action when none is
    left (an earlier final action date is kept)."""
    days = case.campaign.retry_days or []
    if case.retries_done < len(days):
        planned = case.started_at + timedelta(days=days[case.retries_done])
        case.next_retry_at = max(planned, at + MIN_RETRY_GAP) if case.retries_done else planned
        return
    case.next_retry_at = None
    if case.final_action_at is None:
        case.final_action_at = at + timedelta(days=case.campaign.final_action_after_days)


def case_retry_failed(
    case: DunningCase, *, at: datetime, actor: Actor, code: str, payment=None, key=None
) -> DunningCase:
    case.retries_done += 1
    case.last_failure_code = code[:60]
    _schedule(case, at)
    case.save()
    payment_id = payment.pk if payment is not None else None
    case_event("dunning.retry_failed", case, at, actor, key, payment=payment_id, code=code)
    if case.next_retry_at is None:
        _final_notice(case, at, actor)
    return case


def _case_open(*, invoice: Invoice, payment: Payment, code: str, key: str, at, actor):
    campaign = dunning_campaign_for(invoice.customer)
    if campaign is None:
        return None
    case = DunningCase(
        customer=invoice.customer,
        invoice=invoice,
        campaign=campaign,
        started_at=at,
        last_failure_code=code[:60],
    )
    _schedule(case, at)
    try:
        with transaction.atomic():
            case.save()
    except IntegrityError:  # opened meanwhile (callers hold the invoice lock: not expected)
        return case_active_locked(invoice.pk)
    case_event("dunning.started", case, at, actor, key, payment=payment.pk, code=code)
    for sub in subscriptions_locked(invoice.pk, [S.ACTIVE]):
        sub.mark_past_due()
        sub.save()
        subscription_event(
            "subscription.past_due", sub, at, actor, invoice=invoice.number, case=case.pk
        )
    if case.next_retry_at is None:  # a campaign without retries
        _final_notice(case, at, actor)
    return case


def _release(invoice_id: int, case: DunningCase, at: datetime, actor: Actor, reason: str):
    """The invoice no longer holds its subscriptions: past due or suspended ones become active,
    unless another invoice still does."""
    for sub in subscriptions_locked(invoice_id, [S.PAST_DUE, S.SUSPENDED]):
        if not _still_owed(sub, invoice_id):
            if sub.status == S.SUSPENDED:  # restored: billed again from its current period
                billing_restart(sub, at)
            sub.recover()
            sub.save()
            subscription_event(
                "subscription.recovered", sub, at, actor, reason=reason, case=case.pk
            )


# Hooks (called by billing.payments.services.payments inside its transaction)
@transaction.atomic
def dunning_payment_failed(
    *, invoice: Invoice, payment: Payment, at: datetime, actor: Actor = None
) -> DunningCase | None:
    """A charge for the invoice failed: open its case, or count a failed dunning retry. A
    failure is counted once, however often it is reported."""
    invoice = invoice_lock(invoice.pk)
    case = case_active_locked(invoice.pk)
    key = f"dunning-payment-failed:{payment.pk}"
    if BillingEvent.objects.filter(dedupe_key=key).exists():
        return case
    code = payment.failure_code or "declined"
    if case is None:
        if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
            return None
        subscriptions_first_charge_failed(
            invoice=invoice, payment=payment, at=at, code=code, actor=actor
        )
        if invoice_holds_incomplete(invoice):  # a new subscription's first charge: no case
            return None
        return _case_open(invoice=invoice, payment=payment, code=code, key=key, at=at, actor=actor)
    if payment.source != PaymentSource.DUNNING:  # e.g. the customer tried in the portal
        case.last_failure_code = code[:60]
        case.save(update_fields=["last_failure_code"])
        case_event("dunning.payment_failed", case, at, actor, key, payment=payment.pk, code=code)
        return case
    return case_retry_failed(case, at=at, actor=actor, code=code, payment=payment, key=key)


@transaction.atomic
def dunning_payment_succeeded(*, invoice: Invoice, at: datetime, actor: Actor = None) -> None:
    """The invoice is paid in full: its case recovers and its subscriptions become active
    (also when the case had already suspended them)."""
    invoice_lock(invoice.pk)  # held by the caller already; never saved here (it saves it)
    case = case_active_locked(invoice.pk)
    if case is not None:
        case.recover(at=at, outcome="paid")
        case.save()
        case_event("dunning.recovered", case, at, actor)
    else:
        case = _ended_case(invoice.pk)
    if case is not None:
        _release(invoice.pk, case, at, actor, reason="paid")
    subscriptions_first_invoice_paid(invoice=invoice, at=at, actor=actor)


@transaction.atomic
def dunning_payment_method_added(*, customer: Customer, at: datetime, actor: Actor = None) -> None:
    """A new or new default payment method: retry the customer's cases with it now (a task
    queued on commit; the retry never runs inside the caller's transaction)."""
    cases = (
        DunningCase.objects.select_for_update(of=("self",))
        .select_related("campaign", "customer", "invoice")
        .filter(customer=customer, status=D.ACTIVE)
        .order_by("pk")
    )
    for case in cases:
        case.next_retry_at = at
        case.save(update_fields=["next_retry_at"])
        case_event("dunning.retry_scheduled", case, at, actor, reason="payment_method_added")
        transaction.on_commit(
            partial(async_task, "billing.dunning.tasks.dunning_case_retry_task", case_id=case.pk)
        )


def _close(invoice_id: int, at: datetime, outcome: str, actor: Actor) -> DunningCase | None:
    invoice_lock(invoice_id)
    case = case_active_locked(invoice_id)
    if case is not None:
        case.close(at=at, outcome=outcome[:200])
        case.save()
        case_event("dunning.closed", case, at, actor, outcome=outcome)
    else:
        case = _ended_case(invoice_id)
    if case is not None:
        _release(invoice_id, case, at, actor, reason=outcome)
    return case


@transaction.atomic
def dunning_invoice_closed(
    *, invoice: Invoice, at: datetime, outcome: str, actor: Actor = None
) -> None:
    """The invoice was voided or written off (`outcome`): nothing is chased any more, and
    the subscriptions it held back (past due, or suspended by its case) become active again
    unless another unpaid invoice holds them; cancel them explicitly when that is meant."""
    _close(invoice.pk, at, outcome, actor)


# Staff actions (admin)
@transaction.atomic
def dunning_case_close(
    *, case: DunningCase, at: datetime, actor: Actor = None, outcome: str = "closed by staff"
) -> DunningCase:
    """Stop chasing the case's invoice (it stays open); its subscriptions are released."""
    invoice_lock(case.invoice_id)
    active = case_active_locked(case.invoice_id)
    if active is None or active.pk != case.pk:
        raise StateError(f"Dunning case #{case.pk} is not active.")
    return _close(case.invoice_id, at, outcome, actor)
