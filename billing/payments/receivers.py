"""Payments' side of invoicing's hooks: a finalized invoice is collected, and invoicing's
documents say how an invoice is paid. Connected by `BillingConfig.ready` (billing/apps.py)."""

from billing.invoicing import hooks as invoicing_hooks
from billing.invoicing.models.invoices import Invoice
from billing.payments.services import collection, wording


def _finalized(sender, *, invoice: Invoice, **kwargs) -> None:
    collection.invoice_collect_on_commit(invoice)


def _invoice_collect(**kwargs) -> str:
    return collection.invoice_collect(**kwargs)


def connect() -> None:
    invoicing_hooks.invoice_finalized.connect(
        _finalized, sender=Invoice, dispatch_uid="billing.payments.collect"
    )
    invoicing_hooks.provider_register("invoice_collect", _invoice_collect)
    invoicing_hooks.provider_register("autopay_phrase", wording.autopay_phrase)
    invoicing_hooks.provider_register("paid_with", wording.invoice_paid_with)
