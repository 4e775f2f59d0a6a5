"""Incomplete subscriptions: a new subscription whose first automatic charge fails (declined,
or waiting for 3-D Secure) is `incomplete` — no access, no dunning — until that invoice is
paid (then `active` again) or `SUBSCRIPTION_INCOMPLETE_HOURS` after it was issued
(`incomplete_expired`, see `billing.payments.services.incomplete_jobs`).

Only the invoice made when the subscription was created counts (`Subscription.first_invoice`),
and only an automatic charge of it while the subscription is active; a trial (no charge at
creation) or a later invoice's failure is not concerned (past due: dunning). The hooks run
inside the payments service's transaction, with the invoice locked (see `dunning`)."""

from datetime import datetime, timedelta

from django.conf import settings

from billing.events.services import Actor, subscription_event_record
from billing.invoicing.models.invoices import Invoice, InvoiceLine
from billing.payments.models.payments import Payment, PaymentSource
from billing.subscriptions.models.subscriptions import Subscription
from billing.subscriptions.models.subscriptions import SubscriptionStatus as S


def incomplete_hours() -> timedelta:
    return timedelta(hours=getattr(settings, "SUBSCRIPTION_INCOMPLETE_HOURS", 23))


def _first_of(invoice_id: int, statuses: list[str]) -> list[Subscription]:
    return list(
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "customer")
        .filter(first_invoice_id=invoice_id, status__in=statuses)
        .order_by("pk")
    )


def subscriptions_first_charge_failed(
    *, invoice: Invoice, payment: Payment, at: datetime, code: str, actor: Actor = None
) -> list[Subscription]:
    """The automatic charge of `invoice` failed or waits for the customer (`code`): the active
    subscriptions it is the first invoice of become incomplete (returned)."""
    if payment.source != PaymentSource.AUTOMATIC:
        return []
    subs = _first_of(invoice.pk, [S.ACTIVE])
    expires_at = (invoice.issued_at or at) + incomplete_hours()
    for sub in subs:
        sub.mark_incomplete()
        sub.save()
        subscription_event_record(
            "subscription.incomplete",
            sub,
            at,
            actor,
            invoice=invoice.number,
            payment=payment.pk,
            code=code,
            expires_at=expires_at.isoformat(),
        )
    return subs


def invoice_holds_incomplete(invoice: Invoice) -> bool:
    """Whether the invoice's failure concerns only incomplete subscriptions (the first invoice
    of one, and no active subscription billed on it): no dunning case then."""
    if not Subscription.objects.filter(first_invoice_id=invoice.pk, status=S.INCOMPLETE):
        return False
    lines = InvoiceLine.objects.filter(invoice_id=invoice.pk, subscription__isnull=False)
    return not lines.exclude(subscription__status__in=[S.INCOMPLETE, S.INCOMPLETE_EXPIRED])


def subscriptions_first_invoice_paid(
    *, invoice: Invoice, at: datetime, actor: Actor = None
) -> list[Subscription]:
    """The invoice is paid: the incomplete subscriptions it is the first invoice of become
    active (`subscription.activated`, `from_incomplete`), and provisioning grants them."""
    subs = _first_of(invoice.pk, [S.INCOMPLETE])
    for sub in subs:
        sub.complete()
        sub.save()
        subscription_event_record("subscription.activated", sub, at, actor, from_incomplete=True)
    return subs
