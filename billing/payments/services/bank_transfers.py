"""Bank transfers: money that arrived on the business's bank account, recorded one by one (API,
admin) or imported from a CSV bank statement, and matched to the customer and invoices it
pays.

A transfer is matched automatically when its remittance text (or its bank reference) quotes
invoice payment references (ISO 11649 "RF…") or invoice numbers, all of one customer, in the
transfer's currency, or else the external_id of exactly one customer. Matching records a
succeeded payment (`payment_record_received`), which pays the referenced invoices (or the
customer's open invoices, oldest due first) and puts what is left on the customer balance.
Staff match the rest by hand (`bank_transfer_assign`) or set them aside (`bank_transfer_ignore`).

Lock order: the transfer, then what the payments service locks (invoices, the customer).
"""

import logging
import re
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from api.errors import DomainError, StateError
from billing.events.services import Actor, billing_event_record
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.invoicing.services.references import invoice_numbers_in, payment_references_in
from billing.payments.models.payments import BankTransfer, BankTransferStatus, PaymentSource
from billing.payments.services.allocations import payment_record_received
from catalog.money import currency_precision, format_amount
from catalog.validators import validate_currency, validate_money_places
from customers.models import Customer

logger = logging.getLogger(__name__)

BTS = BankTransferStatus
# Compared to tell a re-delivered transfer (the same) from a clash of bank references.
CONTENT_FIELDS = ("amount", "currency", "received_at", "payer_name", "payer_account", "remittance")
TEXT_LIMITS = {"payer_name": 200, "payer_account": 64, "remittance": 500, "statement": 200}
MIN_EXTERNAL_ID_LENGTH = 3  # shorter ids ("1", "a") would match ordinary words


def _error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


# Recording
def _validated(
    *, bank_reference: str, amount: Decimal, currency: str, received_at: datetime
) -> tuple[str, str]:
    bank_reference = (bank_reference or "").strip()
    if not bank_reference:
        raise _error("bank_reference", "Give the bank's id of the transaction.", "required")
    if len(bank_reference) > 100:
        raise _error("bank_reference", "At most 100 characters.", "max_length")
    currency = (currency or "").strip().upper()
    try:
        validate_currency(currency)
        currency_precision(currency)
    except (ValidationError, ValueError):
        raise _error(
            "currency", f"{currency or '(none)'} is not a known currency code.", "invalid_currency"
        ) from None
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise _error("amount", "Give an amount above 0.", "min_value")
    validate_money_places(amount, currency)
    if not isinstance(received_at, datetime) or received_at.tzinfo is None:
        raise _error("received_at", "Give a date-time with a time zone.", "invalid")
    return bank_reference, currency


def _same_content(existing: BankTransfer, new: BankTransfer) -> bool:
    return all(getattr(existing, name) == getattr(new, name) for name in CONTENT_FIELDS)


def bank_transfer_record(
    *,
    bank_reference: str,
    amount: Decimal,
    currency: str,
    received_at: datetime,
    payer_name: str = "",
    payer_account: str = "",
    remittance: str = "",
    statement: str = "",
    at: datetime,
    actor: Actor = None,
) -> tuple[BankTransfer, bool]:
    """Record money received; (transfer, created). The same bank reference with the same
    content is the transfer already recorded (a statement imported twice); with other content
    it is refused. A new transfer is matched at once when its remittance says to whom."""
    bank_reference, currency = _validated(
        bank_reference=bank_reference, amount=amount, currency=currency, received_at=received_at
    )
    texts = {
        "payer_name": payer_name,
        "payer_account": payer_account,
        "remittance": remittance,
        "statement": statement,
    }
    new = BankTransfer(
        bank_reference=bank_reference,
        amount=amount,
        currency=currency,
        received_at=received_at,
        **{name: (value or "").strip()[: TEXT_LIMITS[name]] for name, value in texts.items()},
    )
    try:
        with transaction.atomic():
            new.save()
            billing_event_record(
                kind="bank_transfer.received",
                subject=new,
                at=at,
                actor=actor,
                payload=_payload(new),
            )
    except IntegrityError:
        existing = BankTransfer.objects.filter(bank_reference=bank_reference).first()
        if existing is None:
            raise
        if not _same_content(existing, new):
            raise _error(
                "bank_reference",
                f"A different transfer with the bank reference {bank_reference} was already "
                "recorded.",
                "duplicate_reference",
            ) from None
        return existing, False
    try:
        return bank_transfer_match(transfer=new, at=at, actor=actor), True
    except (ValidationError, DomainError) as exc:
        # Recorded, but the payment could not be made: staff match it by hand.
        logger.warning("bank transfer %s left unmatched: %s", new.bank_reference, exc)
        new.refresh_from_db()
        return new, True


def _payload(transfer: BankTransfer, **extra) -> dict:
    return {
        "bank_reference": transfer.bank_reference,
        "amount": format_amount(transfer.amount, transfer.currency),
        "currency": transfer.currency,
        **extra,
    }


# Matching
def _customers_quoted(text: str) -> set[int]:
    """Active customers whose external_id is a word of `text` (case-insensitively)."""
    words = {w.strip(".-_").lower() for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", text)}
    words = {w for w in words if len(w) >= MIN_EXTERNAL_ID_LENGTH}
    if not words:
        return set()
    found = (
        Customer.objects.filter(archived_at__isnull=True)
        .annotate(external_id_lower=Lower("external_id"))
        .filter(external_id_lower__in=words)
        .values_list("pk", flat=True)
    )
    return set(found[:2])


def _references_in(text: str) -> list[str]:
    """`payment_references_in`, one piece per "RF" + check digits: a match may run on into
    the next reference when they are separated by a space only ("RF18 … RF47 …")."""
    pieces = re.split(r"(?=RF\s?\d\d)", text or "", flags=re.IGNORECASE)
    return [reference for piece in pieces for reference in payment_references_in(piece)]


def _invoices_quoted(
    transfer: BankTransfer, field: str, quoted: list[str]
) -> tuple[Customer | None, list | None] | None:
    """The customer and open invoices (in quoted order) of the invoices whose `field` is
    quoted; (None, None) when they are several customers'; None when none is known."""
    invoices = list(Invoice.objects.filter(**{f"{field}__in": quoted}, currency=transfer.currency))
    customers = {invoice.customer_id for invoice in invoices}
    if len(customers) > 1:
        return None, None
    if not customers:
        return None
    order = {value: index for index, value in enumerate(quoted)}
    open_ones = sorted(
        (i for i in invoices if i.status == InvoiceStatus.OPEN),
        key=lambda i: order[getattr(i, field)],
    )
    return Customer.objects.get(pk=customers.pop()), open_ones


def bank_transfer_match_target(transfer: BankTransfer) -> tuple[Customer | None, list | None]:
    """Whom the transfer names, in its remittance text or its bank reference (a payer-set
    end-to-end id): (customer, the invoices it pays or None for the customer's open
    invoices), or (None, None). RF references win over invoice numbers, and those over
    customer ids (remittance only); several customers' invoices match nothing (staff
    decide)."""
    text = f"{transfer.remittance} {transfer.bank_reference}"
    for field, quoted in (
        ("payment_reference", _references_in(text)),
        ("number", invoice_numbers_in(text)),
    ):
        if quoted and (found := _invoices_quoted(transfer, field, quoted)) is not None:
            return found
    quoted = _customers_quoted(transfer.remittance)
    if len(quoted) == 1:
        return Customer.objects.get(pk=quoted.pop()), None
    return None, None


def _settle(
    *,
    transfer: BankTransfer,
    customer: Customer,
    invoices: list[Invoice] | None,
    at: datetime,
    actor: Actor,
    by: str,
) -> BankTransfer:
    """On the locked transfer: the payment for it, and the transfer matched."""
    payment = payment_record_received(
        customer=customer,
        amount=transfer.amount,
        currency=transfer.currency,
        at=at,
        source=PaymentSource.BANK_TRANSFER,
        invoices=invoices,
        reference=transfer.bank_reference,
        actor=actor,
    )
    transfer.customer, transfer.payment, transfer.status = customer, payment, BTS.MATCHED
    transfer.save(update_fields=["customer", "payment", "status"])
    paid = list(payment.allocations.order_by("pk").values_list("invoice__number", flat=True))
    billing_event_record(
        kind="bank_transfer.matched",
        subject=transfer,
        at=at,
        actor=actor,
        customer=customer,
        payload=_payload(transfer, payment=payment.pk, invoices=paid, by=by),
    )
    return transfer


@transaction.atomic
def bank_transfer_match(
    *, transfer: BankTransfer, at: datetime, actor: Actor = None
) -> BankTransfer:
    """Match an unmatched transfer by its remittance text; a transfer that names nobody (or
    that is matched or ignored already) is returned as it is. Safe to run twice."""
    transfer = BankTransfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status != BTS.UNMATCHED:
        return transfer
    customer, invoices = bank_transfer_match_target(transfer)
    if customer is None:
        return transfer
    return _settle(
        transfer=transfer, customer=customer, invoices=invoices, at=at, actor=actor, by="auto"
    )


@transaction.atomic
def bank_transfer_assign(
    *,
    transfer: BankTransfer,
    customer: Customer,
    invoices: list[Invoice] | None = None,
    at: datetime,
    actor: Actor,
) -> BankTransfer:
    """Staff match a transfer by hand: to `customer`, paying `invoices` (its open invoices in
    the transfer's currency) or, with None, its open invoices oldest due first."""
    transfer = BankTransfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status == BTS.MATCHED:
        raise StateError(
            f"Transfer {transfer.bank_reference} is matched already (payment "
            f"#{transfer.payment_id}).",
            code="bank_transfer_matched",
        )
    for index, invoice in enumerate(invoices or []):
        problem = None
        if invoice.customer_id != customer.pk:
            problem = f"Invoice {invoice} is not {customer.external_id}'s."
        elif invoice.currency != transfer.currency:
            problem = (
                f"Invoice {invoice} is in {invoice.currency}, the transfer in {transfer.currency}."
            )
        elif invoice.status != InvoiceStatus.OPEN:
            problem = f"Invoice {invoice} is {invoice.status}, not open."
        if problem:
            raise _error(f"invoices.{index}", problem, "invalid_invoice")
    if invoices is not None and len({i.pk for i in invoices}) != len(invoices):
        raise _error("invoices", "An invoice is given twice.", "duplicate")
    return _settle(
        transfer=transfer,
        customer=customer,
        invoices=list(invoices) if invoices else None,
        at=at,
        actor=actor,
        by="staff",
    )


@transaction.atomic
def bank_transfer_ignore(
    *, transfer: BankTransfer, at: datetime, actor: Actor, reason: str
) -> BankTransfer:
    """Set an unmatched transfer aside (not a customer's payment: a refund from a supplier,
    interest); it leaves the reconciliation report."""
    transfer = BankTransfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status != BTS.UNMATCHED:
        raise StateError(
            f"Only unmatched transfers can be ignored; {transfer.bank_reference} is "
            f"{transfer.status}.",
            code="bank_transfer_not_unmatched",
        )
    reason = (reason or "").strip()
    if not reason:
        raise _error("reason", "Say why it is ignored.", "required")
    transfer.status = BTS.IGNORED
    transfer.save(update_fields=["status"])
    billing_event_record(
        kind="bank_transfer.ignored",
        subject=transfer,
        at=at,
        actor=actor,
        payload=_payload(transfer, reason=reason[:300]),
    )
    return transfer
