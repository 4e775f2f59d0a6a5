"""Shared by the credit note and balance tests (test_credits*.py): invoices made for them and
shortcuts to read the results."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

from billing.invoicing.services import credits as c
from billing.invoicing.services import invoices as invoicing
from billing.models import Invoice, InvoiceLine

D = Decimal


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


AT = utc(2027, 3, 1, 12)


def make_invoice(customer, amounts, *, at=AT, finalize=True, currency=None) -> Invoice:
    """An invoice of one-time lines (negative amounts: credit lines), finalized by default."""
    currency = currency or customer.currency
    lines = [
        InvoiceLine(
            customer=customer,
            currency=currency,
            kind="one_time" if D(amount) > 0 else "credit",
            description=f"Item {index + 1}",
            unit_amount=D(amount),
            amount=D(amount),
        )
        for index, amount in enumerate(amounts)
    ]
    with transaction.atomic():
        invoice = invoicing.invoice_create(customer=customer, currency=currency, lines=lines, at=at)
    if finalize:
        invoice = invoicing.invoice_finalize(invoice=invoice, at=at)
    return Invoice.objects.get(pk=invoice.pk)


def paid_invoice(customer, amounts, **kwargs) -> Invoice:
    invoice = make_invoice(customer, amounts, **kwargs)
    return invoicing.invoice_mark_paid(invoice=invoice, at=AT)


def line_ids(invoice) -> list[int]:
    return list(invoice.lines.order_by("position").values_list("pk", flat=True))


def balance(customer, currency="USD") -> Decimal:
    return c.customer_balance(customer, currency)


def refreshed(invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def error_of(exc_info) -> tuple[str, str]:
    ((field, errors),) = exc_info.value.error_dict.items()
    return field, errors[0].code
