"""Customer notices that follow billing events and the calendar (the mails themselves:
customers.notices; the invoice and receipt mails: billing.invoicing.services.documents).

Event-driven: `notices_events_consume` reads the billing event log behind its own cursor
(billing.events.cursor, as the reports' consumer does), queued on commit of every transaction
that records events (settings.BILLING_EVENT_CONSUMERS) and swept every few minutes. Each
event gives at most one notice per kind (the notice's unique key is made from the event or
its subject), so reading an event twice mails nothing twice:

- `payment.failed` of an invoice's charge: "payment failed" with the link to update the card;
- `payment_method.expiring`: "card expiring" (non-essential);
- `usage.threshold_reached`: "usage threshold reached" (non-essential);
- `subscription.canceled`: "subscription canceled" (once per subscription);
- `account.suspended` / `account.restored` (payload reason, comment): the account notices.

Time-driven (`notices_scheduled_send`, hourly): "trial ending" 3 days before a trial ends
(saying whether a card is on file) and "renewal upcoming" 7 days before a yearly plan
renews, each once per subscription and period.

An event read more than `MAX_EVENT_AGE` after it was recorded (a worker down for days) is
passed over: a stale "payment failed" is worse than none.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F

from billing.events.cursor import cursor_advance, cursor_locked, cursor_pending, cursor_unread
from billing.events.models import BillingEvent
from billing.invoicing.models.invoices import InvoiceStatus
from billing.invoicing.services.documents import invoice_email_recipients
from billing.notices import contexts
from billing.notices.models import NoticeEventCursor
from billing.payments.models.payments import Payment, PaymentMethod, PaymentMethodStatus
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from customers.models import Customer, NoticeKind
from customers.notices import notice_exists, notice_send

logger = logging.getLogger("billing.notices")

CONSUMER = "notices"
PAGE = 200
MAX_FAILED = 200
MAX_EVENT_AGE = timedelta(days=2)
TRIAL_ENDING_NOTICE = timedelta(days=3)
RENEWAL_NOTICE = timedelta(days=7)
# Failures that are not the customer's to fix (a newer attempt replaced the payment).
QUIET_FAILURES = frozenset({"superseded"})


def _payment_failed(event: BillingEvent) -> None:
    payment = Payment.objects.select_related("invoice__customer", "method").get(pk=event.subject_id)
    invoice = payment.invoice
    if invoice is None or payment.failure_code in QUIET_FAILURES:
        return
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
        return  # paid (or voided) meanwhile: nothing to ask for
    notice_send(
        customer=invoice.customer,
        kind=NoticeKind.PAYMENT_FAILED,
        key=f"{NoticeKind.PAYMENT_FAILED}:{payment.pk}",
        context=contexts.payment_failed_context(payment),
        related=f"invoice {invoice.number}, payment #{payment.pk}",
        recipients=invoice_email_recipients(invoice),
    )


def _card_expiring(event: BillingEvent) -> None:
    method = PaymentMethod.objects.select_related("customer").get(pk=event.subject_id)
    if method.status != PaymentMethodStatus.ACTIVE or not method.exp_year or not method.exp_month:
        return  # removed meanwhile
    notice_send(
        customer=method.customer,
        kind=NoticeKind.CARD_EXPIRING,
        key=f"{NoticeKind.CARD_EXPIRING}:{event.pk}",
        context=contexts.card_expiring_context(method),
        related=f"{method.label}, event #{event.pk}",
    )


def _usage_threshold(event: BillingEvent) -> None:
    customer = Customer.objects.get(pk=event.customer_id)
    notice_send(
        customer=customer,
        kind=NoticeKind.USAGE_THRESHOLD,
        key=f"{NoticeKind.USAGE_THRESHOLD}:{event.pk}",
        context=contexts.usage_threshold_context(customer, event.payload),
        related=f"{event.payload.get('metric', '')}, event #{event.pk}",
    )


def _subscription_canceled(event: BillingEvent) -> None:
    sub = Subscription.objects.select_related("customer", "plan").get(pk=event.subject_id)
    notice_send(
        customer=sub.customer,
        kind=NoticeKind.SUBSCRIPTION_CANCELED,
        key=f"{NoticeKind.SUBSCRIPTION_CANCELED}:{sub.pk}",
        context=contexts.subscription_canceled_context(
            sub, event.payload.get("reason") or sub.cancel_reason, event.occurred_at
        ),
        related=f"subscription #{sub.pk} ({sub.plan.code}), event #{event.pk}",
    )


def _account(kind: str) -> Callable[[BillingEvent], None]:
    def handle(event: BillingEvent) -> None:
        customer = Customer.objects.get(pk=event.customer_id)
        reason = str(event.payload.get("reason") or "")  # the comment stays with staff
        notice_send(
            customer=customer,
            kind=kind,
            key=f"{kind}:{event.pk}",
            context=contexts.account_context(customer, reason, event.occurred_at),
            related=f"event #{event.pk}",
        )

    return handle


HANDLERS: dict[str, Callable[[BillingEvent], None]] = {
    "payment.failed": _payment_failed,
    "payment_method.expiring": _card_expiring,
    "usage.threshold_reached": _usage_threshold,
    "subscription.canceled": _subscription_canceled,
    "account.suspended": _account(NoticeKind.ACCOUNT_SUSPENDED),
    "account.restored": _account(NoticeKind.ACCOUNT_RESTORED),
}


def _handle(cursor: NoticeEventCursor, event: BillingEvent, at: datetime) -> None:
    if at - event.recorded_at > MAX_EVENT_AGE:
        logger.info("billing event #%s is too old for a notice", event.pk)
        return
    try:
        with transaction.atomic():
            HANDLERS[event.kind](event)
    except Exception as error:  # one bad record never stops the others
        logger.exception("no notice for billing event #%s", event.pk)
        failed = [*cursor.failed, {"id": event.pk, "error": str(error)[:300]}]
        cursor.failed = failed[-MAX_FAILED:]


@transaction.atomic
def notices_events_consume(*, at: datetime, limit: int = PAGE) -> int:
    """Send the notices of the next page of billing events; the number of events read.

    Mails go out after this transaction commits (customers.notices), so the cursor and the
    notices recorded commit together: a crash before the commit sends nothing and the page
    is read again."""
    cursor = cursor_locked(NoticeEventCursor, CONSUMER)
    pending = cursor_pending(cursor, at)
    events = list(cursor_unread(cursor, pending)[:limit])
    for event in events:
        if event.kind in HANDLERS and event.customer_id is not None:
            _handle(cursor, event, at)
    cursor_advance(cursor, events, pending, at)
    cursor.save()
    return len(events)


def notices_events_consume_all(*, at: datetime) -> int:
    """Read pages until the log is read; the number of events read."""
    read = 0
    while page := notices_events_consume(at=at):
        read += page
        if page < PAGE:
            break
    return read


def _trial_ending_send(sub: Subscription, at: datetime) -> bool:
    key = f"{NoticeKind.TRIAL_ENDING}:{sub.pk}:{sub.trial_end_at.isoformat()}"
    if notice_exists(key):
        return False
    notice = notice_send(
        customer=sub.customer,
        kind=NoticeKind.TRIAL_ENDING,
        key=key,
        context=contexts.trial_ending_context(sub),
        related=f"subscription #{sub.pk} ({sub.plan.code})",
    )
    return notice is not None


def _renewal_send(sub: Subscription, at: datetime) -> bool:
    key = f"{NoticeKind.RENEWAL_UPCOMING}:{sub.pk}:{sub.current_period_end.isoformat()}"
    if notice_exists(key):
        return False
    notice = notice_send(
        customer=sub.customer,
        kind=NoticeKind.RENEWAL_UPCOMING,
        key=key,
        context=contexts.renewal_upcoming_context(sub),
        related=f"subscription #{sub.pk} ({sub.plan.code})",
    )
    return notice is not None


def notices_scheduled_send(*, at: datetime) -> dict[str, int]:
    """The notices the calendar brings by `at`: trials ending within 3 days (trials longer
    than that: a shorter one was just started) and yearly plans renewing within 7 days (not
    those set to cancel at the period's end), each once per subscription and period. A
    subscription whose notice fails is logged and tried again at the next run."""
    counts = {"trial_ending": 0, "renewal_upcoming": 0}
    trials = (
        Subscription.objects.filter(
            status=SubscriptionStatus.TRIALING,
            trial_end_at__gt=at,
            trial_end_at__lte=at + TRIAL_ENDING_NOTICE,
        )
        .filter(trial_end_at__gt=F("start_at") + TRIAL_ENDING_NOTICE)
        .select_related("customer", "plan")
        .order_by("pk")
    )
    renewals = (
        Subscription.objects.filter(
            status=SubscriptionStatus.ACTIVE,
            interval="year",
            cancel_at_period_end=False,
            current_period_end__gt=at,
            current_period_end__lte=at + RENEWAL_NOTICE,
        )
        .select_related("customer", "plan")
        .order_by("pk")
    )
    for name, subs, send in (
        ("trial_ending", trials, _trial_ending_send),
        ("renewal_upcoming", renewals, _renewal_send),
    ):
        for sub in subs:
            try:
                counts[name] += send(sub, at)
            except Exception:
                logger.exception("no %s notice for subscription %s", name, sub.pk)
    return counts
