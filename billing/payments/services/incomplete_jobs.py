"""The janitor of incomplete subscriptions (scheduled in migration 0013): one whose first
invoice is still unpaid `SUBSCRIPTION_INCOMPLETE_HOURS` after it was issued becomes
`incomplete_expired` (it never gave access) and that invoice is voided, unless money was
already applied to it or it also bills another subscription."""

import logging
from datetime import datetime

from django.db import transaction

from billing.events.services import Actor, billing_event_record
from billing.invoicing.models.invoices import Invoice, InvoiceLine, InvoiceStatus
from billing.invoicing.services.invoices import invoice_void
from billing.payments.services.incomplete import incomplete_hours
from billing.subscriptions.models.subscriptions import Subscription
from billing.subscriptions.models.subscriptions import SubscriptionStatus as S
from billing.subscriptions.services import addons_end
from billing.usage.pricing import usage_aggregates_end

logger = logging.getLogger(__name__)


@transaction.atomic
def subscription_incomplete_expire(
    *, subscription: Subscription, at: datetime, actor: Actor = None
) -> Subscription:
    """Expire one incomplete subscription (no-op when it is not incomplete any more)."""
    invoice_id = subscription.first_invoice_id
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    sub = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "customer")
        .get(pk=subscription.pk)
    )
    if sub.status != S.INCOMPLETE:
        return sub
    sub.expire_incomplete(at=at)
    addons_end(sub, at)
    usage_aggregates_end(subscription=sub, at=at)
    sub.save()
    billing_event_record(
        kind="subscription.incomplete_expired",
        subject=sub,
        at=at,
        actor=actor,
        customer=sub.customer,
        payload={"plan": sub.plan.code, "status": sub.status, "invoice": invoice_id},
    )
    others = InvoiceLine.objects.filter(invoice_id=invoice_id, subscription__isnull=False).exclude(
        subscription__status=S.INCOMPLETE_EXPIRED
    )
    if (
        invoice is not None
        and invoice.status == InvoiceStatus.OPEN
        and invoice.amount_paid == 0
        and not others.exists()
    ):
        invoice_void(invoice=invoice, at=at, actor=actor)
    return sub


def subscriptions_incomplete_expire(*, at: datetime) -> int:
    """Expire every incomplete subscription whose first invoice was issued more than
    `SUBSCRIPTION_INCOMPLETE_HOURS` before `at`; the number expired."""
    due = Subscription.objects.filter(
        status=S.INCOMPLETE, first_invoice__issued_at__lte=at - incomplete_hours()
    ).order_by("pk")
    count = 0
    for sub in due:
        try:
            subscription_incomplete_expire(subscription=sub, at=at, actor="janitor")
        except Exception:  # one failing subscription never stops the others
            logger.exception("could not expire incomplete subscription %s", sub.pk)
            continue
        count += 1
    return count
