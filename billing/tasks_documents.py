"""django-q2 entry points for invoice documents."""

from billing.services.documents import invoice_email_send, invoice_receipt_send


def invoice_email_send_task(invoice_id: int) -> None:
    """Queued on commit of `invoice_finalize`; safe to run twice (sends once)."""
    invoice_email_send(invoice_id=invoice_id)


def invoice_receipt_send_task(invoice_id: int) -> None:
    """Queued on commit of every `invoice.paid` event; sends the receipt once."""
    invoice_receipt_send(invoice_id=invoice_id)
