"""One-off invoices: ad-hoc lines for a customer, issued now or on a chosen date.

`one_off_invoice_create` makes a draft with the given lines only (the customer's pending
lines wait for its next subscription invoice, and no coupon applies), taxes it as every
draft is taxed (`invoice_retax`: the line's tax code and behaviour, else SaaS exclusive), and
either finalizes it at once or keeps it a draft with `scheduled_issue_at`. The schedule
(`invoices_scheduled_issue`, every 10 minutes) finalizes the drafts whose time has come:
each in its own transaction, on the locked row, so a second worker or a rerun issues
nothing twice and one invoice that fails leaves the others to be issued. Until then the
draft grace period (`drafts_finalize_due`) leaves a scheduled draft alone; staff can still
finalize it early or void it in the admin.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.events.services import Actor, billing_event_record
from billing.invoicing.models.invoices import Invoice, InvoiceLine, InvoiceStatus, LineKind
from billing.invoicing.services.invoices import invoice_finalize, invoice_retax
from catalog.models import TaxBehavior, TaxCode
from catalog.money import decimal_places, format_amount, money_places_error, round_money
from catalog.validators import validate_currency
from customers.models import Customer, TaxIdStatus

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
QUANTITY_PLACES = 4  # InvoiceLine.quantity
MAX_LINES = 100


@dataclass(frozen=True)
class OneOffLine:
    """An ad-hoc line: `unit_amount` in the invoice's currency (net of tax unless
    `tax_behavior` is inclusive); blank tax code / behaviour: SaaS, exclusive."""

    description: str
    quantity: Decimal
    unit_amount: Decimal
    tax_code: str = ""
    tax_behavior: str = ""


def one_off_line_amount(line: OneOffLine, currency: str) -> Decimal:
    """quantity × unit amount, rounded once to the currency's minor unit (ROUND_HALF_UP)."""
    return round_money(line.quantity * line.unit_amount, currency)


def _line_errors(index: int, line: OneOffLine, currency: str) -> dict[str, str]:
    field, errors = f"lines.{index}", {}
    if not line.description.strip():
        errors[f"{field}.description"] = "Say what the line is for."
    elif len(line.description) > 300:
        errors[f"{field}.description"] = "At most 300 characters."
    quantity, unit = line.quantity, line.unit_amount
    if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= 0:
        errors[f"{field}.quantity"] = "Give a quantity above 0."
    elif decimal_places(quantity) > QUANTITY_PLACES:
        errors[f"{field}.quantity"] = f"At most {QUANTITY_PLACES} decimal places."
    if not isinstance(unit, Decimal) or not unit.is_finite() or unit < 0:
        errors[f"{field}.unit_amount"] = "Give a unit amount of 0 or more."
    elif error := money_places_error(unit, currency):
        errors[f"{field}.unit_amount"] = error
    if line.tax_code and line.tax_code not in TaxCode.values:
        errors[f"{field}.tax_code"] = f"One of: {', '.join(TaxCode.values)}."
    if line.tax_behavior and line.tax_behavior not in TaxBehavior.values:
        errors[f"{field}.tax_behavior"] = f"One of: {', '.join(TaxBehavior.values)}."
    return errors


def one_off_invoice_errors(
    *,
    customer: Customer,
    currency: str,
    lines: list[OneOffLine],
    at: datetime,
    issue_at: datetime | None = None,
) -> dict[str, str]:
    """Why these would not make a one-off invoice ({field: message}; empty when they would):
    what `one_off_invoice_create` checks, for forms to show before they call it."""
    errors: dict[str, str] = {}
    if customer.is_archived:
        errors["customer"] = "The customer is archived: unarchive it first."
    try:
        validate_currency(currency)
    except ValidationError:
        errors["currency"] = f"{currency} is not an ISO 4217 currency code (e.g. USD, EUR, JPY)."
        return errors
    if not lines:
        errors["lines"] = "Give at least one line."
    elif len(lines) > MAX_LINES:
        errors["lines"] = f"At most {MAX_LINES} lines."
    for index, line in enumerate(lines):
        errors.update(_line_errors(index, line, currency))
    if lines and not any(key.startswith("lines.") for key in errors):
        total = sum((one_off_line_amount(line, currency) for line in lines), ZERO)
        if total <= 0:
            errors["lines"] = "The invoice would be for nothing: give an amount above 0."
    if issue_at is not None and issue_at < at:
        errors["issue_at"] = "The issue date is in the past."
    return errors


@transaction.atomic
def one_off_invoice_create(
    *,
    customer: Customer,
    currency: str,
    lines: list[OneOffLine],
    at: datetime,
    issue_at: datetime | None = None,
    actor: Actor = None,
) -> Invoice:
    """A one-off invoice of `lines`: finalized now (`issue_at` None), or a draft that the
    schedule finalizes at `issue_at` (not before `at`). Raises ValidationError (per field,
    `lines.<n>.<field>` for a line) and changes nothing when the input is refused; a
    finalization refused (a VAT number waiting for its check) changes nothing either."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    errors = one_off_invoice_errors(
        customer=customer, currency=currency, lines=lines, at=at, issue_at=issue_at
    )
    if errors:
        raise ValidationError(
            {field: ValidationError(message, code="invalid") for field, message in errors.items()}
        )
    invoice = Invoice.objects.create(
        customer=customer, currency=currency, scheduled_issue_at=issue_at
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            customer=customer,
            currency=currency,
            invoice=invoice,
            kind=LineKind.ONE_TIME,
            description=line.description.strip(),
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            amount=one_off_line_amount(line, currency),
            tax_code=line.tax_code,
            tax_behavior=line.tax_behavior,
            position=position,
        )
        for position, line in enumerate(lines)
    )
    invoice_retax(invoice, at)
    invoice.save()
    billing_event_record(
        kind="invoice.created",
        subject=invoice,
        at=at,
        actor=actor,
        customer=customer,
        payload={
            "total": format_amount(invoice.total, currency),
            "currency": currency,
            "one_off": True,
            "scheduled_issue_at": issue_at.isoformat() if issue_at else None,
        },
    )
    if issue_at is None:
        invoice = invoice_finalize(invoice=invoice, at=at, actor=actor)
    return invoice


@transaction.atomic
def invoice_issue_scheduled(
    *, invoice_id: int, at: datetime, actor: Actor = None
) -> Invoice | None:
    """Finalize one scheduled draft whose time has come, on the locked row; None when there
    is nothing (left) to do: issued, voided or rescheduled meanwhile."""
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if (
        invoice is None
        or invoice.status != InvoiceStatus.DRAFT
        or invoice.scheduled_issue_at is None
        or invoice.scheduled_issue_at > at
    ):
        return None
    return invoice_finalize(invoice=invoice, at=at, actor=actor)


@dataclass
class ScheduledIssueResult:
    issued: list[int]
    failed: dict[int, str]


def invoices_scheduled_issue(*, at: datetime, actor: Actor = "schedule") -> ScheduledIssueResult:
    """Finalize every scheduled draft due by `at` (the periodic task). Each in its own
    transaction: one that fails is logged and left a draft for the next run, the others are
    issued. Drafts of customers whose VAT number waits for VIES wait too."""
    due = (
        Invoice.objects.filter(status=InvoiceStatus.DRAFT, scheduled_issue_at__lte=at)
        .exclude(customer__tax_id_status=TaxIdStatus.PENDING)
        .order_by("scheduled_issue_at", "pk")
        .values_list("pk", flat=True)
    )
    result = ScheduledIssueResult(issued=[], failed={})
    for invoice_id in list(due):
        try:
            invoice = invoice_issue_scheduled(invoice_id=invoice_id, at=at, actor=actor)
        except Exception as exc:  # one invoice must not stop the others
            logger.exception("scheduled invoice %s could not be issued", invoice_id)
            result.failed[invoice_id] = str(exc) or exc.__class__.__name__
            continue
        if invoice is not None:
            result.issued.append(invoice_id)
    return result
