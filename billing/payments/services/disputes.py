"""Disputes (chargebacks): a cardholder contests one of our payments at their bank.

The gateway tells (Stripe's `charge.dispute.*` events); each change is one event in the
billing log — `payment.dispute_opened`, `…_updated`, `…_won`, `…_lost` — once per dispute
and status, so it shows on the customer's timeline and reaches outbound webhooks. A new
dispute is mailed to the operators (ADMINS), who answer it at the gateway. A lost dispute
gives the money back to the cardholder: it is recorded as a refund of the payment.
"""

from datetime import datetime
from decimal import Decimal

from django.core.mail import mail_admins
from django.db import transaction

from billing.events.models import BillingEvent
from billing.events.services import billing_event_record
from billing.payments.models.payments import Payment
from billing.payments.services.refunds import payment_refund_reported
from catalog.money import format_amount

CLOSED = {"won": "payment.dispute_won", "lost": "payment.dispute_lost"}


def _kind(status: str, created: bool) -> str:
    if created:
        return "payment.dispute_opened"
    return CLOSED.get(status, "payment.dispute_updated")


@transaction.atomic
def payment_dispute_reported(
    *,
    payment_reference: str,
    dispute_reference: str,
    amount: Decimal,
    reason: str,
    status: str,
    created: bool,
    at: datetime,
) -> BillingEvent | None:
    """Record what the gateway says of a dispute; None when the payment is not ours or this
    status of this dispute was recorded already."""
    payment = Payment.objects.filter(gateway_reference=payment_reference).first()
    if payment is None:
        return None
    kind = _kind(status, created)
    event = billing_event_record(
        kind=kind,
        subject=payment,
        at=at,
        actor="gateway",
        payload={
            "dispute": dispute_reference,
            "amount": format_amount(amount, payment.currency),
            "currency": payment.currency,
            "reason": reason,
            "status": status,
        },
        dedupe_key=f"dispute:{dispute_reference}:{kind}:{status}",
    )
    if event is None:
        return None
    if kind == "payment.dispute_lost":
        payment_refund_reported(
            payment_reference=payment_reference,
            refund_reference=dispute_reference,
            amount=amount,
            status="succeeded",
            idempotency_key="",
            at=at,
            reason=f"Dispute lost ({reason})"[:300],
        )
    if kind == "payment.dispute_opened":
        money = f"{format_amount(amount, payment.currency)} {payment.currency}"
        subject = f"Payment #{payment.pk} disputed: {money}"
        body = f"{subject} ({reason}). Answer it at the gateway: {dispute_reference}."
        transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))
    return event
