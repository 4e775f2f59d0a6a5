"""Building blocks of the payment tests: an open invoice of a customer, a card on file."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

from billing.invoicing.services.invoices import invoice_create, invoice_finalize
from billing.models import InvoiceLine, LineKind, Payment
from billing.payments.services.methods import payment_method_attach
from billing.tests import factories

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


def open_invoice(customer, amount="25.00", currency=None, at=AT, description="Setup fee"):
    currency = currency or customer.currency
    line = InvoiceLine(
        customer=customer,
        currency=currency,
        kind=LineKind.ONE_TIME,
        description=description,
        quantity=Decimal(1),
        unit_amount=Decimal(amount),
        amount=Decimal(amount),
    )
    with transaction.atomic():
        invoice = invoice_create(customer=customer, currency=currency, lines=[line], at=at)
        return invoice_finalize(invoice=invoice, at=at)


def card(customer, token="tok_visa", gateway="sandbox", default=True, at=AT):  # noqa: S107
    return payment_method_attach(
        customer=customer, gateway=gateway, token=token, make_default=default, at=at
    )


def customer_with_card(external_id="acme", token="tok_visa", currency="USD", **kwargs):  # noqa: S107
    customer = factories.customer(external_id=external_id, currency=currency, **kwargs)
    return customer, card(customer, token=token)


def renewal_invoice(sub, at=AT, amount="30.00"):
    """A finalized invoice billing `sub` again, as a bill run's (not its first invoice: a
    failed charge of this one is dunned, see test_incomplete.py)."""
    line = InvoiceLine(
        customer=sub.customer,
        currency=sub.currency,
        subscription=sub,
        kind=LineKind.SUBSCRIPTION,
        description="Next period",
        quantity=Decimal(1),
        unit_amount=Decimal(amount),
        amount=Decimal(amount),
    )
    with transaction.atomic():
        invoice = invoice_create(customer=sub.customer, currency=sub.currency, lines=[line], at=at)
        return invoice_finalize(invoice=invoice, at=at)


def failed(invoice, source="automatic", code="insufficient_funds", at=AT) -> Payment:
    """A failed card payment of the invoice, recorded as the gateway would have left it."""
    return Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        currency=invoice.currency,
        amount=invoice.amount_due,
        status="failed",
        source=source,
        kind="card",
        failure_code=code,
        created_at=at,
        failed_at=at,
    )
