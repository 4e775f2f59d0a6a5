"""Sample contexts of every notice kind, for the admin's previews: nothing is read from or
written to the database but the seller's identity (the real one, as the mails show it);
amounts and days are formatted by the functions the real notices use."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import dateformat

from billing.invoicing.services.documents import money, period_label, seller
from billing.invoicing.services.references import payment_reference_for
from customers.dates import customer_day, customer_zone
from customers.models import Customer, NoticeKind
from customers.notices import notice_render, site_url

SAMPLE_AT = datetime(2027, 3, 14, 9, 30, tzinfo=UTC)
SAMPLE_TOTALS = {"subtotal": Decimal("1234.50"), "tax": Decimal("234.56")}


def sample_customer(currency: str = "USD") -> Customer:
    return Customer(
        external_id="sample",
        name="Sample Customer Ltd",
        email="billing@customer.example",
        currency=currency,
        timezone="Europe/Berlin",
        country="DE",
    )


def _invoice(customer: Customer) -> dict:
    currency = customer.currency
    number = "INV-2027-000042"
    subtotal, tax = SAMPLE_TOTALS["subtotal"], SAMPLE_TOTALS["tax"]
    total = subtotal + tax
    zone = customer_zone(customer)
    return {
        "number": number,
        "payment_reference": payment_reference_for(number),
        "issue_date": customer_day(SAMPLE_AT, customer),
        "due_date": customer_day(SAMPLE_AT + timedelta(days=14), customer),
        "paid_date": customer_day(SAMPLE_AT, customer),
        "period": period_label(SAMPLE_AT, SAMPLE_AT + timedelta(days=31), zone),
        "currency": currency,
        "subtotal": money(subtotal, currency),
        "tax": money(tax, currency),
        "tax_rows": [
            {
                "name": "VAT",
                "rate": "19%",
                "jurisdiction": "DE",
                "taxable_amount": money(subtotal, currency),
                "amount": money(tax, currency),
                "reason": "",
            }
        ],
        "tax_notes": [],
        "total": money(total, currency),
        "amount_paid": money(total, currency),
        "amount_due": money(total, currency),
        "status": "open",
        "owes": True,
        "autopay": "",
        "show_reference": True,
        "buyer_tax_label": "VAT number",
        "buyer_tax_id": "DE123456789",
    }


def sample_context(kind: str, currency: str = "USD") -> dict:
    customer = sample_customer(currency)
    base = {
        "customer": customer,
        "seller": seller(),
        "portal_url": site_url("portal:overview"),
        "update_card_url": site_url("portal:payment_methods"),
    }
    card = "your Visa card ending 4242"
    price = money(Decimal("1188.00"), currency)
    samples = {
        NoticeKind.RECEIPT: {
            **_invoice(customer),
            "status": "paid",
            "owes": False,
            "paid_with": f"charged to {card}",
        },
        NoticeKind.INVOICE_ISSUED: _invoice(customer),
        NoticeKind.PAYMENT_FAILED: {
            **_invoice(customer),
            "amount": money(Decimal("1469.06"), currency),
            "card": card,
            "failed_on": customer_day(SAMPLE_AT, customer),
            "reason": "insufficient funds",
            "retry": True,
            "next_retry": customer_day(SAMPLE_AT + timedelta(days=3), customer),
        },
        NoticeKind.TRIAL_ENDING: {
            "plan_name": "Pro",
            "trial_end": customer_day(SAMPLE_AT + timedelta(days=3), customer),
            "price": money(Decimal("99.00"), currency),
            "card": card,
        },
        NoticeKind.RENEWAL_UPCOMING: {
            "plan_name": "Pro (yearly)",
            "renewal_date": customer_day(SAMPLE_AT + timedelta(days=7), customer),
            "price": price,
            "card": card,
        },
        NoticeKind.CARD_EXPIRING: {
            "card_label": "Visa card ending 4242",
            "expires": dateformat.format(SAMPLE_AT.date(), "F Y"),
        },
        NoticeKind.USAGE_THRESHOLD: {
            "metric_name": "API calls",
            "unit": "",
            "plan_name": "Pro",
            "value": "80,512",
            "threshold": "80%",
            "quota": "100,000",
            "period": _invoice(customer)["period"],
            "usage_url": site_url("portal:overview"),
        },
        NoticeKind.SUBSCRIPTION_CANCELED: {
            "plan_name": "Pro",
            "ended_on": customer_day(SAMPLE_AT, customer),
            "reason": "Too expensive",
            "amount_due": "",
        },
        NoticeKind.ACCOUNT_SUSPENDED: {
            "reason": "a breach of our usage policy",
            "on": customer_day(SAMPLE_AT, customer),
            "amount_due": "",
        },
        NoticeKind.ACCOUNT_RESTORED: {"on": customer_day(SAMPLE_AT, customer)},
        NoticeKind.PAYMENT_REMINDER: {
            **_invoice(customer),
            "due_date": customer_day(SAMPLE_AT - timedelta(days=3), customer),
            "overdue": True,
            "days": 3,
        },
        NoticeKind.DUNNING_FINAL_NOTICE: {
            **_invoice(customer),
            "due_date": customer_day(SAMPLE_AT - timedelta(days=7), customer),
            "action": "suspend",
            "action_at": customer_day(SAMPLE_AT + timedelta(days=7), customer),
            "action_now": False,
            "attempts": 5,
        },
    }
    return {**base, **samples[kind]}


def notice_preview(kind: str, currency: str = "USD") -> tuple[str, str, str]:
    """(subject, text, html) of `kind` with sample data."""
    return notice_render(kind, sample_context(kind, currency))
