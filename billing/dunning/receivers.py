"""Dunning's side of invoicing's and payments' hooks: a failed charge opens or counts a case,
a paid invoice recovers it, a voided or written-off one closes it, a new payment method
retries it. Connected by `BillingConfig.ready` (billing/apps.py)."""

from billing.dunning import services
from billing.invoicing import hooks as invoicing_hooks
from billing.invoicing.models.invoices import Invoice
from billing.payments import hooks as payments_hooks
from billing.payments.models.payments import Payment, PaymentMethod


def _paid(sender, *, invoice, at, actor=None, **kwargs) -> None:
    services.dunning_payment_succeeded(invoice=invoice, at=at, actor=actor)


def _closed(sender, *, invoice, at, outcome, actor=None, **kwargs) -> None:
    services.dunning_invoice_closed(invoice=invoice, at=at, outcome=outcome, actor=actor)


def _failed(sender, *, invoice, payment, at, actor=None, **kwargs) -> None:
    services.dunning_payment_failed(invoice=invoice, payment=payment, at=at, actor=actor)


def _method_added(sender, *, customer, at, actor=None, **kwargs) -> None:
    services.dunning_payment_method_added(customer=customer, at=at, actor=actor)


def connect() -> None:
    uid = "billing.dunning."
    invoicing_hooks.invoice_paid.connect(_paid, sender=Invoice, dispatch_uid=uid + "paid")
    invoicing_hooks.invoice_closed.connect(_closed, sender=Invoice, dispatch_uid=uid + "closed")
    payments_hooks.payment_failed.connect(_failed, sender=Payment, dispatch_uid=uid + "failed")
    payments_hooks.payment_method_added.connect(
        _method_added, sender=PaymentMethod, dispatch_uid=uid + "method_added"
    )
