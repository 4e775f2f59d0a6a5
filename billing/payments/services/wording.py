"""How an invoice is paid, in the words of its documents (registered with invoicing as the
"autopay_phrase" and "paid_with" providers, billing/apps.py)."""

from billing.invoicing.models.credits import BalanceTransaction, BalanceTransactionKind
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.payments.models.payments import (
    MethodKind,
    PaymentMethod,
    PaymentMethodStatus,
    PaymentSource,
    PaymentStatus,
)


def method_phrase(method: PaymentMethod) -> str:
    """ "your Visa card ending 4242", "your ACH debit (US bank account) ending 6789"."""
    if method.kind == MethodKind.CARD:
        return f"your {method.brand.title() or 'card'} card ending {method.last4}"
    return f"your {method.bank_name or method.get_kind_display()} ending {method.last4}"


def invoice_autopay_method(invoice: Invoice) -> PaymentMethod | None:
    """The method an open invoice is charged to automatically (see `invoice_collect`): the
    customer's default one, unless a charge of this invoice failed already (dunning then
    asks the customer to pay)."""
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
        return None
    if invoice.payments.filter(status=PaymentStatus.FAILED).exists():
        return None
    return PaymentMethod.objects.filter(
        customer_id=invoice.customer_id, is_default=True, status=PaymentMethodStatus.ACTIVE
    ).first()


def invoice_paid_with(invoice: Invoice) -> str:
    """How a paid invoice was paid: "charged to your Visa card ending 4242", "by bank
    transfer", "from your account balance" (joined with "and")."""
    ways: list[str] = []
    for allocation in invoice.payment_allocations.select_related("payment__method"):
        payment = allocation.payment
        if payment.method is not None:
            way = f"charged to {method_phrase(payment.method)}"
        elif payment.source == PaymentSource.BANK_TRANSFER:
            way = "by bank transfer"
        else:
            way = "by a payment we received"
        if way not in ways:
            ways.append(way)
    if BalanceTransaction.objects.filter(
        invoice=invoice, kind=BalanceTransactionKind.INVOICE_APPLIED
    ).exists():
        ways.append("from your account balance")
    return " and ".join(ways)


def autopay_phrase(invoice: Invoice) -> str:
    """ "your Visa card ending 4242" when the open invoice is charged automatically, or ""."""
    method = invoice_autopay_method(invoice)
    return method_phrase(method) if method else ""
