"""Automatic collection: a finalized invoice is charged to the customer's default payment
method when there is one; otherwise it waits, open, for a payment or a transfer."""

from datetime import datetime
from functools import partial

from django.db import transaction
from django_q.tasks import async_task

from api.errors import DomainError
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.payments.models.payments import PaymentMethod, PaymentMethodStatus, PaymentSource
from billing.payments.services.payments import payment_collect


def invoice_collect_on_commit(invoice: Invoice) -> None:
    """Queue the collection of a (just finalized) invoice after the transaction commits."""
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
        return
    has_method = PaymentMethod.objects.filter(
        customer_id=invoice.customer_id, is_default=True, status=PaymentMethodStatus.ACTIVE
    ).exists()
    if has_method:
        transaction.on_commit(
            partial(
                async_task, "billing.payments.tasks.invoice_collect_task", invoice_id=invoice.pk
            )
        )


def invoice_collect(*, invoice_id: int, at: datetime) -> str:
    """Charge the invoice if it still needs it; what happened, as a word (for the task log)."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None or invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
        return "nothing_due"
    try:
        payment = payment_collect(invoice=invoice, at=at, source=PaymentSource.AUTOMATIC)
    except DomainError as error:  # paid meanwhile, a payment in flight, no method
        return error.code
    return payment.status
