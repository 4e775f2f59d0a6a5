"""Refunds: paying back (part of) a succeeded payment through the gateway that took it.

Like a charge: the refund row (PENDING, with its idempotency key) is committed before the
gateway call, the outcome recorded after. Money received by bank transfer is paid back by
staff; its refund is recorded as done at once.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from api.errors import StateError
from billing.events.services import Actor, billing_event_record
from billing.invoicing.models.credits import CreditNote
from billing.payments.gateways import adapter_for
from billing.payments.gateways.base import GatewayError, Outcome, RefundResult
from billing.payments.models.payments import (
    GatewayAdapter,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from catalog.money import format_amount
from catalog.validators import validate_money_places

REFUNDABLE = [PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED]


def payment_refundable(payment: Payment) -> Decimal:
    """What is left to refund, counting refunds still pending."""
    pending = (
        payment.refunds.filter(status=RefundStatus.PENDING).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    return payment.amount - payment.amount_refunded - pending


@transaction.atomic
def _refund_open(*, payment: Payment, amount: Decimal | None, reason: str, at, credit_note):
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status not in REFUNDABLE:
        raise StateError(f"Payment #{payment.pk} is {payment.status}; it cannot be refunded.")
    left = payment_refundable(payment)
    amount = left if amount is None else amount
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValidationError({"amount": ["Give an amount above 0."]})
    validate_money_places(amount, payment.currency)
    if amount > left:
        raise ValidationError(
            {"amount": [f"At most {format_amount(left, payment.currency)} is left to refund."]}
        )
    number = payment.refunds.count() + 1
    return Refund.objects.create(
        payment=payment,
        amount=amount,
        currency=payment.currency,
        reason=reason[:300],
        credit_note=credit_note,
        idempotency_key=f"{settings.PAYMENT_IDEMPOTENCY_PREFIX}pay_{payment.pk}_refund_{number}",
        created_at=at,
    )


@transaction.atomic
def _refund_record(*, refund: Refund, result: RefundResult, at: datetime, actor: Actor) -> Refund:
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != RefundStatus.PENDING or result.outcome == Outcome.UNKNOWN:
        return refund
    payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
    if result.outcome == Outcome.SUCCEEDED:
        refund.succeed(at=at, reference=result.reference)
        payment.record_refund(amount=refund.amount)
        payment.save()
        kind = "payment.refunded"
    else:
        refund.fail(at=at, message=result.message or "The gateway refused the refund.")
        kind = "payment.refund_failed"
    refund.save()
    billing_event_record(
        kind=kind,
        subject=payment,
        at=at,
        actor=actor,
        payload={
            "refund": refund.pk,
            "amount": format_amount(refund.amount, refund.currency),
            "currency": refund.currency,
            "reason": refund.reason,
        },
    )
    return refund


def payment_refund(
    *,
    payment: Payment,
    at: datetime,
    amount: Decimal | None = None,
    reason: str = "",
    credit_note=None,
    actor: Actor = None,
) -> Refund:
    """Refund `amount` (default: all that is left) of a succeeded payment."""
    refund = _refund_open(
        payment=payment, amount=amount, reason=reason, at=at, credit_note=credit_note
    )
    payment = refund.payment
    if payment.gateway is None or payment.gateway.adapter == GatewayAdapter.BANK_TRANSFER:
        result = RefundResult(Outcome.SUCCEEDED, reference="paid back by staff")
    else:
        try:
            result = adapter_for(payment.gateway).refund(
                idempotency_key=refund.idempotency_key,
                reference=payment.gateway_reference,
                amount=refund.amount,
                currency=refund.currency,
            )
        except GatewayError as error:
            result = RefundResult(Outcome.ERROR, message=error.message)
    return _refund_record(refund=refund, result=result, at=at, actor=actor)


def credit_note_refund(*, credit_note: CreditNote, at: datetime, actor: Actor = None) -> list:
    """Pay back a credit note's `refund_amount` from the payments of its invoice, newest
    first. Safe to rerun: what its earlier refunds cover is not refunded again."""
    requested = credit_note.refund_amount - (
        Refund.objects.filter(
            credit_note=credit_note, status__in=[RefundStatus.PENDING, RefundStatus.SUCCEEDED]
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    payments = Payment.objects.filter(
        allocations__invoice_id=credit_note.invoice_id, status__in=REFUNDABLE
    ).order_by("-succeeded_at", "-pk")
    made = []
    for payment in payments:
        amount = min(requested, payment_refundable(payment))
        if amount <= 0:
            continue
        refund = payment_refund(
            payment=payment,
            at=at,
            amount=amount,
            reason=f"Credit note {credit_note.number}",
            credit_note=credit_note,
            actor=actor,
        )
        made.append(refund)
        if refund.status != RefundStatus.FAILED:
            requested -= amount
        if requested <= 0:
            break
    return made


def payment_refund_reported(
    *,
    payment_reference: str,
    refund_reference: str,
    amount: Decimal,
    status: str,
    idempotency_key: str,
    at: datetime,
    reason: str = "Refunded at the gateway",
) -> Refund | None:
    """A gateway says a refund of one of our payments exists (Stripe's `refund.*` events).

    Our own refund (its idempotency key) gets its outcome; one made at the gateway (its
    dashboard) is recorded as a succeeded refund, once per `refund_reference`; a refund of a
    payment that is not ours, or one that failed at the gateway, changes nothing. A refund
    larger than what is left to refund is not recorded but reported (`payment.refund_unmatched`)
    for someone to look at."""
    with transaction.atomic():
        ours = idempotency_key and Refund.objects.filter(idempotency_key=idempotency_key).first()
        if ours:
            outcome = Outcome.SUCCEEDED if status in ("succeeded", "pending") else Outcome.DECLINED
            message = "" if outcome == Outcome.SUCCEEDED else f"Refund {status} at the gateway."
            result = RefundResult(outcome, reference=refund_reference, message=message)
            return _refund_record(refund=ours, result=result, at=at, actor="gateway")
        known = Refund.objects.filter(gateway_reference=refund_reference).first()
        payment = (
            Payment.objects.select_for_update().filter(gateway_reference=payment_reference).first()
        )
        if known is not None or payment is None or status not in ("succeeded", "pending"):
            return known
        if payment.status not in REFUNDABLE or amount > payment_refundable(payment):
            billing_event_record(
                kind="payment.refund_unmatched",
                subject=payment,
                at=at,
                actor="gateway",
                payload={"refund": refund_reference, "amount": str(amount)},
                dedupe_key=f"refund_unmatched:{refund_reference}",
            )
            return None
        refund = Refund.objects.create(
            payment=payment,
            amount=amount,
            currency=payment.currency,
            reason=reason,
            idempotency_key=f"{settings.PAYMENT_IDEMPOTENCY_PREFIX}ext_{refund_reference}",
            created_at=at,
        )
        result = RefundResult(Outcome.SUCCEEDED, reference=refund_reference)
        return _refund_record(refund=refund, result=result, at=at, actor="gateway")
