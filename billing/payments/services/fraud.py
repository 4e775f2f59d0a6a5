"""Fraud checks run before every charge. A check that fires blocks the attempt: the payment is
held for review with the reason (see `billing.payments.services.payments`).

Rules (thresholds in `settings.PAYMENT_FRAUD`): velocity per customer and per card (attempts
in the last hour), largest charge by customer age, card country vs billing country, and the
gateway's fraud risk level (Stripe Radar) of the card.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings

from billing.payments.models.payments import MethodKind, PaymentAttempt, PaymentMethod
from customers.models import Customer


@dataclass(frozen=True)
class FraudVerdict:
    rule: str
    reason: str


def _velocity(customer: Customer, method: PaymentMethod, at: datetime) -> FraudVerdict | None:
    rules = settings.PAYMENT_FRAUD
    recent = PaymentAttempt.objects.filter(started_at__gt=at - timedelta(hours=1)).exclude(
        status="blocked"
    )
    limit = rules["attempts_per_customer_per_hour"]
    if recent.filter(payment__customer=customer).count() >= limit:
        return FraudVerdict(
            "velocity_customer", f"More than {limit} payment attempts by the customer in an hour."
        )
    limit = rules["attempts_per_card_per_hour"]
    if method.fingerprint:
        same_card = recent.filter(payment__method__fingerprint=method.fingerprint)
        if same_card.count() >= limit:
            return FraudVerdict(
                "velocity_card", f"More than {limit} payment attempts with this card in an hour."
            )
    return None


def _amount_limit(
    customer: Customer, amount: Decimal, currency: str, at: datetime
) -> FraudVerdict | None:
    age_days = (at - customer.created_at).days
    for days, limit in settings.PAYMENT_FRAUD["amount_limits"].get(currency, []):
        if age_days < days and amount > Decimal(limit):
            return FraudVerdict(
                "amount_limit",
                f"{amount} {currency} is over the {limit} {currency} limit for customers "
                f"younger than {days} days.",
            )
    return None


def _card_country(customer: Customer, method: PaymentMethod) -> FraudVerdict | None:
    billing_country = customer.address_country or customer.country
    if (
        not settings.PAYMENT_FRAUD["check_card_country"]
        or method.kind != MethodKind.CARD
        or not method.country
        or not billing_country
        or method.country == billing_country
    ):
        return None
    return FraudVerdict(
        "card_country",
        f"The card was issued in {method.country}; the billing country is {billing_country}.",
    )


def _risk_level(method: PaymentMethod) -> FraudVerdict | None:
    if method.risk_level in settings.PAYMENT_FRAUD["radar_block_levels"]:
        return FraudVerdict(
            "risk_level", f"The gateway rates this card's fraud risk {method.risk_level}."
        )
    return None


def fraud_check(
    *, customer: Customer, method: PaymentMethod, amount: Decimal, currency: str, at: datetime
) -> FraudVerdict | None:
    """The first rule that blocks this charge, or None to let it through."""
    return (
        _velocity(customer, method, at)
        or _amount_limit(customer, amount, currency, at)
        or _card_country(customer, method)
        or _risk_level(method)
    )
