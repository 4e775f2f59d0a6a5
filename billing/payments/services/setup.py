"""Card-on-file set up in the customer's browser (Stripe Elements): is a client-side gateway
configured, and a SetupIntent for it. The card goes from the browser to the gateway; we only
get the SetupIntent's id back, stored by `payment_method_attach`."""

from dataclasses import dataclass

from django.conf import settings

from api.errors import DomainError
from billing.payments.gateways import adapter_for
from billing.payments.gateways.base import GatewayError
from billing.payments.models.payments import Gateway, GatewayAdapter
from billing.payments.services.methods import gateway_customer_id
from customers.models import Customer


@dataclass(frozen=True)
class ElementsConfig:
    gateway: Gateway
    publishable_key: str


def stripe_publishable_key() -> str:
    live = settings.STRIPE_LIVE_MODE
    return settings.STRIPE_LIVE_PUBLIC_KEY if live else settings.STRIPE_TEST_PUBLIC_KEY


def stripe_elements_config() -> ElementsConfig | None:
    """The active Stripe gateway and its publishable key when Stripe is configured (secret
    and publishable keys set); None otherwise (the portal then offers the sandbox form)."""
    key = stripe_publishable_key()
    if not key:
        return None
    gateway = (
        Gateway.objects.filter(adapter=GatewayAdapter.STRIPE, active=True)
        .order_by("priority", "code")
        .first()
    )
    if gateway is None or not adapter_for(gateway).available():
        return None
    return ElementsConfig(gateway=gateway, publishable_key=key)


def payment_method_setup_start(
    *, customer: Customer, gateway: Gateway, kinds: tuple[str, ...] = ("card",)
) -> str:
    """A SetupIntent at `gateway` for the customer (its gateway customer made when needed);
    returns the client secret Stripe.js confirms in the browser. Network call: outside any
    transaction."""
    adapter = adapter_for(gateway)
    if not hasattr(adapter, "setup_intent_create") or not adapter.available():
        raise DomainError(
            f"Gateway {gateway.code} cannot set up cards in the browser.",
            code="gateway_unavailable",
            field="gateway",
        )
    try:
        customer_ref = gateway_customer_id(customer, gateway, adapter)
        return adapter.setup_intent_create(gateway_customer_id=customer_ref, kinds=list(kinds))
    except GatewayError as error:
        raise DomainError(error.message, code=error.code, field="gateway") from None
