"""Reconciliation: where the money we hold on record and the money that moved disagree. Reads
only (selectors); finance staff act on what it finds.

1. Bank transfers not matched to a customer (money received that pays nothing yet).
2. Charges that succeeded at a gateway whose payment here did not succeed, whose invoice is
   still open, or that we have no record of at all ("paid at gateway, open here"). Gateway
   charges are tied to ours by the idempotency key of the payment attempt.
3. Amount mismatches: a gateway charge of another amount (or currency) than our payment; an
   invoice whose `amount_paid` is not what was applied to it — its payment allocations plus
   the customer balance applied at finalization. That is how `amount_paid` is built
   (`allocate_locked`, `invoice_apply_balance`; credit notes and negative totals mark an
   invoice paid without changing it). An invoice marked paid by hand
   (`invoice_mark_paid`, money recorded outside any payment) is not counted as a mismatch.
4. Succeeded payments with a remainder neither applied to invoices nor in the balance.

A gateway that fails while listing its charges is reported as such.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import (
    CharField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce

from billing.events.models import BillingEvent
from billing.invoicing.models.credits import BalanceTransaction, BalanceTransactionKind
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.payments.gateways import adapter_for
from billing.payments.gateways.base import GatewayCharge, GatewayError, Outcome
from billing.payments.models.payments import (
    COLLECTED,
    BankTransfer,
    BankTransferStatus,
    Gateway,
    Payment,
    PaymentAllocation,
    PaymentAttempt,
)

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CENT = Decimal("0.0001")  # amounts are stored with 4 decimal places
LIMIT = 500  # rows per finding kind
KEYS_PER_QUERY = 500
# `invoice.paid` events by these leave `amount_paid` equal to what was applied; the others
# (invoice_mark_paid, and invoice_finalize whose amount_paid is the balance applied) do not
# record where the money came from.
PAID_THROUGH_RECORDS = ["payment", "credit_note"]
AMOUNT_FIELD = DecimalField(max_digits=19, decimal_places=4)


@dataclass(frozen=True)
class GatewayChargeFinding:
    """A charge a gateway reports as succeeded that does not agree with our records.
    `problem`: not_recorded, payment_not_succeeded, invoice_open, charged_twice (a second
    succeeded charge for one payment) or amount_mismatch."""

    gateway: str
    problem: str
    reference: str
    idempotency_key: str
    amount: Decimal
    currency: str
    created_at: datetime | None = None
    payment_id: int | None = None
    payment_status: str = ""
    payment_amount: Decimal | None = None
    payment_currency: str = ""
    invoice_id: int | None = None
    invoice_number: str = ""
    invoice_status: str = ""


@dataclass(frozen=True)
class GatewayListError:
    gateway: str
    code: str
    message: str


@dataclass(frozen=True)
class InvoicePaidMismatch:
    invoice_id: int
    number: str
    customer: str
    currency: str
    status: str
    amount_paid: Decimal
    allocated: Decimal
    balance_applied: Decimal

    @property
    def difference(self) -> Decimal:
        return self.amount_paid - self.allocated - self.balance_applied


@dataclass(frozen=True)
class UnallocatedPayment:
    payment_id: int
    customer: str
    currency: str
    status: str
    amount: Decimal
    allocated: Decimal
    to_balance: Decimal

    @property
    def remainder(self) -> Decimal:
        return self.amount - self.allocated - self.to_balance


@dataclass
class ReconciliationReport:
    at: datetime
    since: datetime
    unmatched_transfers: list[BankTransfer] = field(default_factory=list)
    paid_at_gateway_open_here: list[GatewayChargeFinding] = field(default_factory=list)
    gateway_amount_mismatches: list[GatewayChargeFinding] = field(default_factory=list)
    invoice_amount_mismatches: list[InvoicePaidMismatch] = field(default_factory=list)
    unallocated_payments: list[UnallocatedPayment] = field(default_factory=list)
    gateway_errors: list[GatewayListError] = field(default_factory=list)
    gateways_checked: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.unmatched_transfers
            or self.paid_at_gateway_open_here
            or self.gateway_amount_mismatches
            or self.invoice_amount_mismatches
            or self.unallocated_payments
            or self.gateway_errors
        )


def _differs(a: Decimal, b: Decimal) -> bool:
    return a.quantize(CENT) != b.quantize(CENT)


def _sum_of(queryset: QuerySet, group_by: str) -> Coalesce:
    """A correlated subquery: the sum of `amount` of `queryset`'s rows, 0 when none."""
    total = queryset.values(group_by).annotate(total=Sum("amount")).values("total")
    return Coalesce(Subquery(total), Value(ZERO), output_field=AMOUNT_FIELD)


# 1. Bank transfers
def bank_transfer_unmatched_list(*, limit: int = LIMIT) -> list[BankTransfer]:
    transfers = BankTransfer.objects.filter(status=BankTransferStatus.UNMATCHED)
    return list(transfers.order_by("received_at", "pk")[:limit])


# 2 and 3a. Gateway charges
def _charge_finding(charge: GatewayCharge, gateway: str, attempt, problem: str):
    payment = attempt.payment if attempt else None
    invoice = payment.invoice if payment else None
    return GatewayChargeFinding(
        gateway=gateway,
        problem=problem,
        reference=charge.reference,
        idempotency_key=charge.idempotency_key,
        amount=charge.amount,
        currency=charge.currency,
        created_at=charge.created_at,
        payment_id=payment.pk if payment else None,
        payment_status=payment.status if payment else "",
        payment_amount=payment.amount if payment else None,
        payment_currency=payment.currency if payment else "",
        invoice_id=invoice.pk if invoice else None,
        invoice_number=(invoice.number or "") if invoice else "",
        invoice_status=invoice.status if invoice else "",
    )


def gateway_charges_compare(
    *, gateway: str, charges: list[GatewayCharge], seen: set[int] | None = None
) -> tuple[list[GatewayChargeFinding], list[GatewayChargeFinding]]:
    """(paid at the gateway but not here, amount mismatches) among a gateway's charges.
    `seen`: payments already met with a succeeded charge (across gateways): a second one
    is money taken twice."""
    seen = set() if seen is None else seen
    succeeded = [c for c in charges if c.status == Outcome.SUCCEEDED]
    attempts = {}
    for start in range(0, len(succeeded), KEYS_PER_QUERY):
        keys = [c.idempotency_key for c in succeeded[start : start + KEYS_PER_QUERY]]
        found = PaymentAttempt.objects.filter(idempotency_key__in=keys).select_related(
            "payment", "payment__invoice"
        )
        attempts.update({attempt.idempotency_key: attempt for attempt in found})
    open_here, mismatches = [], []
    for charge in succeeded:
        attempt = attempts.get(charge.idempotency_key)
        if attempt is None:
            open_here.append(_charge_finding(charge, gateway, None, "not_recorded"))
            continue
        payment = attempt.payment
        if payment.pk in seen:
            open_here.append(_charge_finding(charge, gateway, attempt, "charged_twice"))
        seen.add(payment.pk)
        if payment.status not in COLLECTED:
            open_here.append(_charge_finding(charge, gateway, attempt, "payment_not_succeeded"))
        elif payment.invoice is not None and payment.invoice.status == InvoiceStatus.OPEN:
            open_here.append(_charge_finding(charge, gateway, attempt, "invoice_open"))
        if charge.currency != payment.currency or _differs(charge.amount, payment.amount):
            mismatches.append(_charge_finding(charge, gateway, attempt, "amount_mismatch"))
    return open_here, mismatches


def _gateway_charges(gateway: Gateway, since: datetime) -> list[GatewayCharge] | None:
    """The gateway's charges since `since`; None when it does not charge or is not set up."""
    adapter = adapter_for(gateway)
    if not adapter.charges or not adapter.available():
        return None
    return adapter.charges_list(since=since)


@dataclass
class GatewayCheck:
    checked: list[str] = field(default_factory=list)
    open_here: list[GatewayChargeFinding] = field(default_factory=list)
    mismatches: list[GatewayChargeFinding] = field(default_factory=list)
    errors: list[GatewayListError] = field(default_factory=list)


def gateway_charges_unreconciled(*, since: datetime) -> GatewayCheck:
    """Every active gateway that charges and is available, compared with our payments."""
    result, seen = GatewayCheck(), set()
    for gateway in Gateway.objects.filter(active=True).order_by("priority", "code"):
        try:
            charges = _gateway_charges(gateway, since)
        except GatewayError as error:
            result.errors.append(GatewayListError(gateway.code, error.code, error.message))
            continue
        except Exception as error:  # a broken adapter (or its library) is reported too
            logger.exception("listing the charges of gateway %s failed", gateway.code)
            message = f"{type(error).__name__}: {error}"[:500]
            result.errors.append(GatewayListError(gateway.code, "adapter_error", message))
            continue
        if charges is None:
            continue
        result.checked.append(gateway.code)
        open_here, mismatches = gateway_charges_compare(
            gateway=gateway.code, charges=charges, seen=seen
        )
        result.open_here += open_here
        result.mismatches += mismatches
    return result


# 3b. Invoices
def invoice_amount_paid_mismatch_list(*, limit: int = LIMIT) -> list[InvoicePaidMismatch]:
    """Issued invoices whose `amount_paid` is not their payment allocations plus the balance
    applied to them (invoices marked paid by hand excepted, see the module docstring)."""
    marked_by_hand = BillingEvent.objects.filter(
        Q(payload__by__isnull=True) | ~Q(payload__by__in=PAID_THROUGH_RECORDS),
        kind="invoice.paid",
        subject_type="billing.invoice",
        subject_id=Cast(OuterRef("pk"), CharField()),
    )
    applied = BalanceTransaction.objects.filter(
        invoice=OuterRef("pk"), kind=BalanceTransactionKind.INVOICE_APPLIED
    )
    invoices = (
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        .annotate(
            allocated=_sum_of(PaymentAllocation.objects.filter(invoice=OuterRef("pk")), "invoice"),
            applied=_sum_of(applied, "invoice"),
        )
        .filter(~Q(status=InvoiceStatus.PAID) | ~Exists(marked_by_hand))
    )
    if connection.vendor == "postgresql":  # exact numerics: let the database filter
        invoices = invoices.exclude(amount_paid=F("allocated") - F("applied"))
    found = []
    rows = invoices.order_by("pk").values_list(
        "pk", "number", "customer__external_id", "currency", "status", "amount_paid",
        "allocated", "applied",
    )  # fmt: skip
    for pk, number, customer, currency, status, paid, allocated, applied_amount in rows.iterator():
        if _differs(paid, allocated - applied_amount):
            found.append(
                InvoicePaidMismatch(
                    pk, number or "", customer, currency, status, paid, allocated, -applied_amount
                )
            )
            if len(found) >= limit:
                break
    return found


# 4. Payments
def payment_unallocated_list(*, limit: int = LIMIT) -> list[UnallocatedPayment]:
    """Succeeded payments whose amount is not all applied to invoices or in the balance."""
    to_balance = BalanceTransaction.objects.filter(
        payment=OuterRef("pk"), kind=BalanceTransactionKind.OVERPAYMENT
    )
    payments = Payment.objects.filter(status__in=COLLECTED).annotate(
        allocated=_sum_of(PaymentAllocation.objects.filter(payment=OuterRef("pk")), "payment"),
        to_balance=_sum_of(to_balance, "payment"),
    )
    if connection.vendor == "postgresql":
        payments = payments.exclude(amount=F("allocated") + F("to_balance"))
    found = []
    rows = payments.order_by("pk").values_list(
        "pk", "customer__external_id", "currency", "status", "amount", "allocated", "to_balance"
    )
    for pk, customer, currency, status, amount, allocated, balance in rows.iterator():
        if _differs(amount, allocated + balance):
            found.append(
                UnallocatedPayment(pk, customer, currency, status, amount, allocated, balance)
            )
            if len(found) >= limit:
                break
    return found


def reconciliation_report(*, at: datetime, since: datetime) -> ReconciliationReport:
    """Every finding at once. `since` bounds the gateway charges listed; the other checks
    cover the whole database."""
    gateways = gateway_charges_unreconciled(since=since)
    return ReconciliationReport(
        at=at,
        since=since,
        unmatched_transfers=bank_transfer_unmatched_list(),
        paid_at_gateway_open_here=gateways.open_here,
        gateway_amount_mismatches=gateways.mismatches,
        invoice_amount_mismatches=invoice_amount_paid_mismatch_list(),
        unallocated_payments=payment_unallocated_list(),
        gateway_errors=gateways.errors,
        gateways_checked=gateways.checked,
    )
