"""Payment gateway adapters (see `base.Adapter`) and the lookup from a Gateway row to one."""

from django.conf import settings
from django.utils.module_loading import import_string

from billing.payments.gateways.base import Adapter

ADAPTERS = {
    "sandbox": "billing.payments.gateways.sandbox.SandboxAdapter",
    "stripe": "billing.payments.gateways.stripe.StripeAdapter",
    "bank_transfer": "billing.payments.gateways.bank_transfer.BankTransferAdapter",
}


def adapter_for(gateway) -> Adapter:
    """The adapter of a `billing.models.Gateway` row, built with its options.
    `settings.PAYMENT_ADAPTERS` may override a gateway code's class (tests, plug-ins)."""
    path = getattr(settings, "PAYMENT_ADAPTERS", {}).get(gateway.code) or ADAPTERS[gateway.adapter]
    return import_string(path)(gateway.options)
