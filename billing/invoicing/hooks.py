"""How invoicing reaches the packages above it (payments, dunning) without importing them:
they connect receivers and register providers in `BillingConfig.ready` (billing/apps.py).

Signals are sent inside the transaction of the change, with `send` (a receiver's error rolls
the change back, as a direct call would)."""

from collections.abc import Callable

from django.dispatch import Signal

# invoice=…: finalized (payments queues its automatic collection).
invoice_finalized = Signal()
# invoice=, at=, actor=: paid in full (dunning recovers its case). Payments sends it too.
invoice_paid = Signal()
# invoice=, at=, outcome= ("voided", "uncollectible"), actor=: dunning closes its case.
invoice_closed = Signal()

_providers: dict[str, Callable] = {}


def provider_register(name: str, function: Callable) -> None:
    _providers[name] = function


def provider(name: str) -> Callable:
    """A function a higher package registered: "invoice_collect" (charge an invoice now),
    "autopay_phrase" and "paid_with" (how an invoice will be, or was, paid, in words)."""
    try:
        return _providers[name]
    except KeyError:
        raise RuntimeError(f"No {name!r} provider is registered (billing/apps.py).") from None
