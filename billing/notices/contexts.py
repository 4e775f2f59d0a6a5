"""What each customer notice shows, built from billing's records and formatted as the invoice
PDF formats them: amounts in the currency's precision with its code ("1,234.50 EUR",
"1,235 JPY", "1.500 KWD"), days in the customer's time zone ("2 Dec 2026"), the seller's
identity as the documents show it, links into the portal from SITE_URL."""

import logging
from datetime import date, datetime
from decimal import Decimal

from django.utils import dateformat

from billing.dunning.models import DunningCase, DunningStatus
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.invoicing.selectors import subscription_upcoming_invoice
from billing.invoicing.services.documents import (
    invoice_pdf_context,
    money,
    period_label,
    seller,
)
from billing.payments.models.payments import Payment, PaymentMethod, PaymentMethodStatus
from billing.payments.services.wording import method_phrase
from billing.subscriptions.models.subscriptions import Subscription, cancel_reason_label
from catalog.models import BillableMetric
from customers.dates import customer_day, customer_zone
from customers.models import Customer
from customers.notices import site_url

logger = logging.getLogger("billing.notices")

# A gateway's failure codes in the customer's words (others: "declined by the bank").
FAILURE_WORDS = {
    "insufficient_funds": "insufficient funds",
    "expired_card": "the card has expired",
    "incorrect_cvc": "the security code was wrong",
    "card_declined": "declined by the bank",
    "declined": "declined by the bank",
    "do_not_honor": "declined by the bank",
    "lost_card": "the card was reported lost",
    "stolen_card": "the card was reported stolen",
    "processing_error": "a processing error at the bank",
    "authentication_required": "the bank asked for authentication",
    "requires_action": "the bank asked for authentication",
}


def customer_context(customer: Customer, the_seller: dict | None = None) -> dict:
    """What every notice shows: the customer, the seller's identity, the portal links."""
    return {
        "customer": customer,
        "seller": the_seller or seller(),
        "portal_url": site_url("portal:overview"),
        "update_card_url": site_url("portal:payment_methods"),
    }


def default_card(customer: Customer) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(
        customer=customer, is_default=True, status=PaymentMethodStatus.ACTIVE
    ).first()


def open_amount_due(customer: Customer) -> str:
    """What the customer owes on open invoices, per currency ("" when nothing)."""
    owed: dict[str, Decimal] = {}
    invoices = Invoice.objects.filter(customer=customer, status=InvoiceStatus.OPEN)
    for currency, amount in invoices.values_list("currency", "amount_due"):
        owed[currency] = owed.get(currency, Decimal(0)) + amount
    return ", ".join(money(amount, cur) for cur, amount in sorted(owed.items()) if amount > 0)


def invoice_context(invoice: Invoice) -> dict:
    """An invoice's figures as its PDF shows them, with the customer's context."""
    pdf = invoice_pdf_context(invoice=invoice)
    return {**customer_context(invoice.customer, pdf["seller"]), **pdf, "show_reference": True}


def payment_failed_context(payment: Payment) -> dict:
    invoice = payment.invoice
    customer = invoice.customer
    case = (
        DunningCase.objects.filter(invoice=invoice, status=DunningStatus.ACTIVE)
        .order_by("-pk")
        .first()
    )
    next_retry = case.next_retry_at if case is not None else None
    return {
        **invoice_context(invoice),
        "owes": True,
        "amount": money(payment.amount, payment.currency),
        "card": method_phrase(payment.method) if payment.method_id else "",
        "failed_on": customer_day(payment.failed_at, customer),
        "reason": FAILURE_WORDS.get(payment.failure_code, "declined by the bank"),
        "retry": next_retry is not None,
        "next_retry": customer_day(next_retry, customer),
    }


def subscription_price(sub: Subscription) -> str:
    """What the next invoice of the subscription will be (the bill run's preview, taxes
    included), else its plan's base fee times the quantity."""
    try:
        upcoming = subscription_upcoming_invoice(sub=sub)
        if upcoming.total > 0:
            return money(upcoming.total, sub.currency)
    except Exception:  # a preview that cannot be made must not stop the notice
        logger.exception("no upcoming invoice preview for subscription %s", sub.pk)
    return money(sub.plan.amount * sub.quantity, sub.currency)


def subscription_context(sub: Subscription) -> dict:
    card = default_card(sub.customer)
    return {
        **customer_context(sub.customer),
        "subscription": sub,
        "plan_name": sub.plan.name,
        "card": method_phrase(card) if card else "",
    }


def trial_ending_context(sub: Subscription) -> dict:
    return {
        **subscription_context(sub),
        "trial_end": customer_day(sub.trial_end_at, sub.customer),
        "price": subscription_price(sub),
    }


def renewal_upcoming_context(sub: Subscription) -> dict:
    return {
        **subscription_context(sub),
        "renewal_date": customer_day(sub.current_period_end, sub.customer),
        "price": subscription_price(sub),
    }


def subscription_canceled_context(sub: Subscription, reason: str, at: datetime) -> dict:
    return {
        **subscription_context(sub),
        "ended_on": customer_day(sub.ended_at or at, sub.customer),
        "reason": cancel_reason_label(reason) if reason else "",
        "amount_due": open_amount_due(sub.customer),
    }


def card_expiring_context(method: PaymentMethod) -> dict:
    last_month = date(method.exp_year, method.exp_month, 1)
    return {
        **customer_context(method.customer),
        "card_label": method_phrase(method).removeprefix("your "),
        "expires": dateformat.format(last_month, "F Y"),  # its last month: "March 2027"
    }


def quantity(value) -> str:
    """12.5000 -> "12.5", 1000 -> "1,000" (usage figures)."""
    return f"{Decimal(str(value)).normalize():,f}"


def usage_threshold_context(customer: Customer, payload: dict) -> dict:
    metric = BillableMetric.objects.filter(code=payload.get("metric", "")).first()
    sub = Subscription.objects.filter(pk=payload.get("subscription")).select_related("plan").first()
    start, end = payload.get("period_start"), payload.get("period_end")
    period = ""
    if start and end:
        period = period_label(
            datetime.fromisoformat(str(start)),
            datetime.fromisoformat(str(end)),
            customer_zone(customer),
        )
    quota = payload.get("quota")
    threshold = quantity(payload.get("threshold") or 0)
    if payload.get("kind") == "quota_percent":
        threshold = f"{threshold}%"
    return {
        **customer_context(customer),
        "metric_name": metric.name if metric else payload.get("metric", ""),
        "unit": getattr(metric, "unit", "") if metric else "",
        "plan_name": sub.plan.name if sub else "your plan",
        "value": quantity(payload.get("value") or 0),
        "threshold": threshold,
        "quota": quantity(quota) if quota else "",
        "period": period,
        "usage_url": site_url("portal:overview"),
    }


# Why an account was suspended (provisioning's SuspendReason codes), in the customer's words;
# blank: suspended by billing (unpaid invoices: the amount due is shown instead).
SUSPEND_WORDS = {
    "policy_violation": "a breach of our usage policy",
    "non_payment": "unpaid invoices",
    "fraud": "a security review of your account",
    "other": "",
}


def suspend_reason_words(reason: str) -> str:
    if reason in SUSPEND_WORDS:
        return SUSPEND_WORDS[reason]
    return reason.replace("_", " ")


def account_context(customer: Customer, reason: str, at: datetime) -> dict:
    return {
        **customer_context(customer),
        "reason": suspend_reason_words(reason),
        "on": customer_day(at, customer),
        "amount_due": open_amount_due(customer),
    }
