"""Stripe webhooks, received by dj-stripe: what became of our charges and refunds, disputes,
and fraud warnings.

dj-stripe's endpoint (`/stripe/webhook/<uuid>/`) checks the signature against
`WebhookEndpoint.secret`, stores the Event — its id is unique, so a redelivered event is not
processed again — and sends `WEBHOOK_SIGNALS[type]` inside its transaction, after its own
handlers have synced the object. Each receiver here extracts ids and calls one service. A
receiver that raises rolls the Event back; dj-stripe answers 500 and Stripe delivers again.

Connected by `billing.apps.BillingConfig.ready()`.
"""

import logging

from django.dispatch import receiver
from django.utils import timezone
from djstripe.models import Event
from djstripe.signals import WEBHOOK_SIGNALS

from billing.payments.gateways.stripe import StripeAdapter, intent_result
from billing.payments.models.payments import Gateway, GatewayAdapter
from billing.payments.services.disputes import payment_dispute_reported
from billing.payments.services.methods import payment_method_risk_report
from billing.payments.services.payments import payment_gateway_report
from billing.payments.services.refunds import payment_refund_reported
from catalog.money import from_minor_units

logger = logging.getLogger(__name__)
PAYMENT_INTENT_EVENTS = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.requires_action",
]


def _at(event: Event):
    """When it happened at Stripe (the event's creation), for the service's `at`."""
    return event.created or timezone.now()


def _money(minor: int, currency: str):
    return from_minor_units(int(minor), currency.upper())


def _intent_id(obj: dict) -> str:
    """The PaymentIntent a refund or dispute belongs to ("" for a charge without one)."""
    intent = obj.get("payment_intent") or ""
    return intent if isinstance(intent, str) else intent["id"]


def _stripe_gateway() -> Gateway | None:
    return Gateway.objects.filter(adapter=GatewayAdapter.STRIPE).order_by("priority").first()


@receiver(
    [WEBHOOK_SIGNALS[kind] for kind in PAYMENT_INTENT_EVENTS],
    sender=Event,
    dispatch_uid="billing.stripe.payment_intent",
)
def payment_intent_changed(sender, event: Event, **kwargs) -> None:
    """A PaymentIntent succeeded, failed, is settling (ACH/SEPA) or needs 3-D Secure."""
    intent = event.data["object"]
    payment_gateway_report(
        reference=intent["id"],
        result=intent_result(intent),
        at=_at(event),
        idempotency_key=(intent.get("metadata") or {}).get("idempotency_key", ""),
    )


@receiver(
    WEBHOOK_SIGNALS["radar.early_fraud_warning.created"],
    sender=Event,
    dispatch_uid="billing.stripe.early_fraud_warning",
)
def early_fraud_warning_created(sender, event: Event, **kwargs) -> None:
    """The card issuer reports a charge as likely fraud: its card is rated `highest`."""
    warning = event.data["object"]
    gateway = _stripe_gateway()
    charge = warning.get("charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    if gateway is None or not charge_id:
        logger.warning("Early fraud warning %s: no Stripe gateway or charge", warning.get("id"))
        return
    token = StripeAdapter(gateway.options).charge_payment_method(charge_id)
    payment_method_risk_report(
        vault=gateway.vault, token=token, risk_level="highest", at=_at(event)
    )


@receiver(
    [WEBHOOK_SIGNALS[kind] for kind in ("refund.created", "refund.updated", "refund.failed")],
    sender=Event,
    dispatch_uid="billing.stripe.refund",
)
def refund_changed(sender, event: Event, **kwargs) -> None:
    """A refund of a payment: ours settling, or one made in Stripe's dashboard."""
    refund = event.data["object"]
    intent = _intent_id(refund)
    if not intent:
        return
    payment_refund_reported(
        payment_reference=intent,
        refund_reference=refund["id"],
        amount=_money(refund["amount"], refund["currency"]),
        status=refund.get("status") or "",
        idempotency_key=(refund.get("metadata") or {}).get("idempotency_key", ""),
        at=_at(event),
    )


DISPUTE_EVENTS = ["charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"]


@receiver(
    [WEBHOOK_SIGNALS[kind] for kind in DISPUTE_EVENTS],
    sender=Event,
    dispatch_uid="billing.stripe.dispute",
)
def dispute_changed(sender, event: Event, **kwargs) -> None:
    """A cardholder disputed a payment (chargeback), or the dispute moved on or closed."""
    dispute = event.data["object"]
    intent = _intent_id(dispute)
    if not intent:
        return
    payment_dispute_reported(
        payment_reference=intent,
        dispute_reference=dispute["id"],
        amount=_money(dispute["amount"], dispute["currency"]),
        reason=dispute.get("reason") or "",
        status=dispute.get("status") or "",
        created=event.type == "charge.dispute.created",
        at=_at(event),
    )
