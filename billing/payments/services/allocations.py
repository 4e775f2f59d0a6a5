"""Applying money received to invoices: partial payments, one payment across several
invoices, and overpayment to the customer balance.

Lock order: the invoices (pk order), then the payment, then the customer (balance), as in
`billing.payments.services.payments`.
"""

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from billing.events.services import Actor, billing_event_record
from billing.invoicing import hooks as invoicing_hooks
from billing.invoicing.models.credits import BalanceTransaction, BalanceTransactionKind
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.invoicing.services.credits import mark_paid_keeping_amount_paid
from billing.payments.models.payments import (
    Gateway,
    MethodKind,
    Payment,
    PaymentAllocation,
    PaymentSource,
    PaymentStatus,
)
from catalog.money import currency_precision, format_amount
from catalog.validators import validate_money_places
from customers.models import Customer

ZERO = Decimal(0)


def payment_unallocated(payment: Payment) -> Decimal:
    """What of a succeeded payment is neither applied to an invoice nor in the balance."""
    allocated = payment.allocations.aggregate(total=Sum("amount"))["total"] or ZERO
    to_balance = (
        payment.balance_transactions.filter(kind=BalanceTransactionKind.OVERPAYMENT).aggregate(
            total=Sum("amount")
        )["total"]
        or ZERO
    )
    return payment.amount - allocated - to_balance


def open_invoices_oldest_first(customer: Customer, currency: str):
    return Invoice.objects.filter(
        customer=customer, currency=currency, status=InvoiceStatus.OPEN, amount_due__gt=0
    ).order_by("due_at", "pk")


def invoice_record_paid(*, invoice: Invoice, at: datetime, actor: Actor, by: str) -> None:
    """The (locked) invoice's amount due reached 0 through a payment: mark it paid, record
    `invoice.paid` and end its dunning. The caller saves the invoice."""
    mark_paid_keeping_amount_paid(invoice, at)
    billing_event_record(
        kind="invoice.paid",
        subject=invoice,
        at=at,
        actor=actor,
        payload={
            "number": invoice.number,
            "amount_paid": format_amount(invoice.amount_paid, invoice.currency),
            "by": by,
        },
    )
    invoicing_hooks.invoice_paid.send(sender=Invoice, invoice=invoice, at=at, actor=actor)


def allocate_locked(
    *, payment: Payment, invoices: list[Invoice], at: datetime, actor: Actor = None
) -> list[PaymentAllocation]:
    """Apply the unallocated part of a (locked, succeeded) payment to the (locked) invoices in
    order, the rest to the customer balance. Runs in the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("allocate_locked must run inside the caller's transaction.")
    remaining = payment_unallocated(payment)
    allocations = []
    for invoice in invoices:
        if remaining <= 0:
            break
        if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
            continue
        amount = min(remaining, invoice.amount_due)
        allocations.append(
            PaymentAllocation.objects.create(
                payment=payment, invoice=invoice, amount=amount, created_at=at
            )
        )
        remaining -= amount
        invoice.amount_paid += amount
        invoice.amount_due -= amount
        billing_event_record(
            kind="invoice.payment_applied",
            subject=invoice,
            at=at,
            actor=actor,
            payload={
                "payment": payment.pk,
                "amount": format_amount(amount, invoice.currency),
                "amount_due": format_amount(invoice.amount_due, invoice.currency),
            },
        )
        if invoice.amount_due == 0:
            invoice_record_paid(invoice=invoice, at=at, actor=actor, by="payment")
        invoice.save()
    if remaining > 0:
        BalanceTransaction.objects.create(
            customer_id=payment.customer_id,
            currency=payment.currency,
            amount=remaining,
            kind=BalanceTransactionKind.OVERPAYMENT,
            payment=payment,
            description=f"Overpayment of payment #{payment.pk}",
            created_at=at,
        )
        billing_event_record(
            kind="balance.overpayment",
            subject=payment,
            at=at,
            actor=actor,
            payload={"amount": format_amount(remaining, payment.currency)},
        )
    return allocations


def _lock_invoices(customer: Customer, currency: str, invoices: list[Invoice] | None):
    if invoices is None:
        ids = list(open_invoices_oldest_first(customer, currency).values_list("pk", flat=True))
    else:
        ids = [invoice.pk for invoice in invoices]
    locked = {
        i.pk: i for i in Invoice.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    errors = [
        f"Invoice {i.number or i.pk} is not the customer's, or not in {currency}."
        for i in locked.values()
        if i.customer_id != customer.pk or i.currency != currency
    ]
    if errors:
        raise ValidationError({"invoices": errors})
    if invoices is None:  # oldest due first
        return sorted(locked.values(), key=lambda i: (i.due_at, i.pk))
    return [locked[pk] for pk in ids if pk in locked]


@transaction.atomic
def payment_allocate(
    *, payment: Payment, invoices: list[Invoice] | None, at: datetime, actor: Actor = None
) -> list[PaymentAllocation]:
    """Apply what is left of a succeeded payment to `invoices` (None: the customer's open
    invoices in its currency, oldest due first); the rest goes to the customer balance."""
    customer = Customer.objects.get(pk=payment.customer_id)
    locked_invoices = _lock_invoices(customer, payment.currency, invoices)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED):
        raise ValidationError({"payment": ["Only a succeeded payment can be applied."]})
    return allocate_locked(payment=payment, invoices=locked_invoices, at=at, actor=actor)


def _check_amount(amount: Decimal, currency: str) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValidationError({"amount": ["Give an amount above 0."]})
    currency_precision(currency)  # ValueError: unknown currency
    validate_money_places(amount, currency)


@transaction.atomic
def payment_record_received(
    *,
    customer: Customer,
    amount: Decimal,
    currency: str,
    at: datetime,
    source: str = PaymentSource.MANUAL,
    invoices: list[Invoice] | None = None,
    reference: str = "",
    actor: Actor = None,
) -> Payment:
    """Money that arrived outside a card gateway (bank transfer, cheque): a succeeded payment
    through the `bank_transfer` gateway, applied to `invoices` (None: oldest open first)."""
    try:
        _check_amount(amount, currency)
    except ValueError as error:  # unknown currency
        raise ValidationError({"currency": [str(error)]}) from None
    if source not in PaymentSource.values:
        raise ValidationError({"source": [f"Unknown source {source!r}."]})
    locked_invoices = _lock_invoices(customer, currency, invoices)
    payment = Payment(
        customer=customer,
        currency=currency,
        amount=amount,
        source=source,
        kind=MethodKind.BANK_TRANSFER,
        gateway=Gateway.objects.filter(code="bank_transfer").first(),
        gateway_reference=reference[:255],
        description=f"Received {reference}".strip()[:300],
        created_at=at,
    )
    payment.succeed(at=at, reference=reference[:255])
    payment.save()
    billing_event_record(
        kind="payment.succeeded",
        subject=payment,
        at=at,
        actor=actor,
        payload={
            "amount": format_amount(amount, currency),
            "currency": currency,
            "source": source,
            "reference": reference,
        },
    )
    allocate_locked(payment=payment, invoices=locked_invoices, at=at, actor=actor)
    return payment
