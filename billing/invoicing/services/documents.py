"""Invoice documents: the PDF a customer receives, and the email that carries it."""

import logging
import uuid
import warnings
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from babel import Locale
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from billing.events.models import BillingEvent
from billing.events.services import Actor, billing_event_record
from billing.invoicing import hooks
from billing.invoicing.models.credits import (
    CreditNote,
    CreditNoteStatus,
)
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.tax.services import seller_details
from catalog.money import round_money
from customers.dates import customer_day, day, local_date
from customers.models import InvoiceDelivery, NoticeKind, NoticeStatus
from customers.notices import notice_exists, notice_message, notice_recipients, notice_send

logger = logging.getLogger(__name__)

PDF_TEMPLATE = "billing/invoice_pdf.html"

DEFAULT_SELLER = {
    "name": "Example Billing Ltd",
    "address": ["1 Example Street", "London EC1A 1AA", "United Kingdom"],
    "email": "billing@example.com",
    "tax_id": "",
    "payment_details": [],  # e.g. ["Bank: Example Bank", "IBAN: GB00 EXMP 0000 0000 0000 00"]
}


def _configured_seller() -> dict:
    """`settings.INVOICE_SELLER` over the defaults."""
    values = {**DEFAULT_SELLER, **getattr(settings, "INVOICE_SELLER", {})}
    for key in ("address", "payment_details"):
        if isinstance(values[key], str):
            values[key] = [line for line in values[key].splitlines() if line.strip()]
    return values


def _filled(details: dict) -> dict:
    values = _configured_seller()
    for key in ("name", "address", "email", "tax_numbers"):
        values[key] = details.get(key) or values.get(key) or ([] if key == "tax_numbers" else "")
    return values


def seller() -> dict:
    """The business issuing invoices now: the tax settings' legal name, address, email and
    registrations (admin "Tax settings"), blank ones filled from `settings.INVOICE_SELLER`
    and the defaults."""
    return _filled(seller_details())


def invoice_seller(invoice: Invoice, live: dict | None = None) -> dict:
    """The seller as the invoice shows it: the snapshot taken when it was finalized (drafts
    and invoices older than tax: the seller's details now, `live` if the caller has them),
    blank fields filled as `seller()` fills them."""
    return _filled(invoice.seller_details or live or seller_details())


TAX_NAMES = {"sales_tax": "Sales tax"}
TAX_REASONS = {
    "reverse_charge": "reverse charge",
    "not_collecting": "not collected",
    "exempt": "exempt",
}


def tax_rows(rows: list[dict], currency: str) -> list[dict]:
    """An invoice's or credit note's `taxes` rows as the documents show them."""
    return [
        {
            "name": TAX_NAMES.get(row["name"], row["name"]),
            "jurisdiction": row["jurisdiction"],
            "rate": f"{plain_number(Decimal(row['rate']))}%",
            "taxable_amount": money(Decimal(row["taxable_amount"]), currency),
            "amount": money(Decimal(row["amount"]), currency),
            "reason": TAX_REASONS.get(row.get("reason", ""), ""),
        }
        for row in rows
    ]


def buyer_tax_number(invoice: Invoice, customer=None) -> tuple[str, str]:
    """(label, number): the VAT number the invoice was taxed with, else the customer's
    (`customer`: the invoice's, when the caller has it loaded)."""
    if invoice.buyer_tax_id:
        return "VAT number", invoice.buyer_tax_id
    return "Tax ID", (customer or invoice.customer).tax_id


def money(amount: Decimal, currency: str) -> str:
    """`amount` in the currency's precision with thousands separators: "1,234.50 EUR"."""
    return f"{round_money(amount, currency):,f} {currency}"


def unit_price(amount: Decimal, currency: str) -> str:
    """A unit price: the currency's precision, or more places when it has them (0.0000125)."""
    rounded = round_money(amount, currency)
    shown = rounded if rounded == amount else amount.normalize()
    return f"{shown:,f} {currency}"


def plain_number(value: Decimal) -> str:
    """2.0000 -> "2", 1.5000 -> "1.5", 100 -> "100" (never exponent notation)."""
    return f"{value.normalize():f}"


def period_label(start: datetime | None, end: datetime | None, tz: ZoneInfo) -> str:
    """ "1 Jan 2027 – 31 Jan 2027" in the customer's time zone. Periods are [start, end), so the
    last day shown is the day of the instant just before `end`."""
    if start is None or end is None:
        return ""
    first = local_date(start, tz)
    last = local_date(end - timedelta(microseconds=1), tz)
    return day(first) if first == last else f"{day(first)} – {day(last)}"


def customer_address(customer) -> list[str]:
    city_line = " ".join(
        part for part in (customer.address_postal_code, customer.address_city) if part
    )
    country = customer.address_country or customer.country
    country_name = Locale("en").territories.get(country, country) if country else ""
    lines = [
        customer.address_line1,
        customer.address_line2,
        city_line,
        customer.address_state,
        country_name,
    ]
    return [line for line in lines if line]


def document_parties(invoice: Invoice) -> dict:
    """The seller and customer blocks every PDF document shows (billing/_pdf_*.html)."""
    customer = invoice.customer
    label, number = buyer_tax_number(invoice)
    return {
        "seller": invoice_seller(invoice),
        "customer": customer,
        "customer_address": customer_address(customer),
        "buyer_tax_label": label,
        "buyer_tax_id": number,
    }


def invoice_pdf_context(*, invoice: Invoice) -> dict:
    """Everything the invoice template shows, formatted: amounts as strings in the invoice's
    currency, dates in the customer's time zone."""
    customer = invoice.customer
    tz = ZoneInfo(customer.timezone)
    currency = invoice.currency
    lines = [
        {
            "description": line.description,
            "period": period_label(line.period_start, line.period_end, tz),
            "quantity": plain_number(line.quantity),
            "unit_price": unit_price(line.unit_amount, currency),
            "tax_rate": f"{plain_number(line.tax_rate)}%",
            "tax_amount": money(line.tax_amount, currency),
            "amount": money(line.amount, currency),
        }
        for line in invoice.lines.order_by("position", "pk")
    ]
    status = invoice.status
    owes = status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE) and invoice.amount_due > 0
    return {
        "invoice": invoice,
        **document_parties(invoice),
        "number": invoice.number or "DRAFT",
        "is_draft": status == InvoiceStatus.DRAFT,
        "stamp": {InvoiceStatus.PAID: "PAID", InvoiceStatus.VOID: "VOID"}.get(status, ""),
        "status": status,
        "status_label": invoice.get_status_display(),
        "issue_date": customer_day(invoice.issued_at, customer),
        "due_date": customer_day(invoice.due_at, customer),
        "paid_date": customer_day(invoice.paid_at, customer),
        "payment_reference": invoice.payment_reference or invoice.number or "",
        "period": period_label(invoice.period_start, invoice.period_end, tz),
        "currency": currency,
        "lines": lines,
        "subtotal": money(invoice.subtotal, currency),
        "has_discount": invoice.discount != 0,
        "discount": money(-invoice.discount, currency),
        "tax": money(invoice.tax, currency),
        "tax_date": day(invoice.tax_date) if invoice.tax_date else "",
        "tax_rows": tax_rows(invoice.taxes, currency),
        "tax_notes": list(invoice.tax_notes),
        "total": money(invoice.total, currency),
        "amount_paid": money(invoice.amount_paid, currency),
        "amount_due": money(invoice.amount_due, currency),
        "owes": owes,
        "autopay": hooks.provider("autopay_phrase")(invoice) if owes else "",
    }


def invoice_pdf(*, invoice: Invoice) -> bytes:
    """The invoice as an A4 PDF."""
    return _html_to_pdf(render_to_string(PDF_TEMPLATE, invoice_pdf_context(invoice=invoice)))


def _html_to_pdf(html: str) -> bytes:
    with warnings.catch_warnings():
        # WeasyPrint 70 warns at import when libharfbuzz-subset is missing (it then embeds
        # whole fonts: a bigger file, the same document).
        warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
        import weasyprint  # imported here: heavy, and only needed to render
    return weasyprint.HTML(string=html, base_url=str(settings.BASE_DIR / "templates")).write_pdf()


def invoice_pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number or f'draft-{invoice.pk}'}.pdf"


CREDIT_NOTE_PDF_TEMPLATE = "billing/credit_note_pdf.html"


def credit_note_pdf_context(*, credit_note: CreditNote) -> dict:
    """What the credit note template shows, formatted like the invoice's (amounts in the
    note's currency, dates in the customer's time zone)."""
    customer = credit_note.customer
    currency = credit_note.currency
    return {
        "credit_note": credit_note,
        **document_parties(credit_note.invoice),
        "number": credit_note.number,
        "invoice_number": credit_note.invoice.number or "",
        "is_void": credit_note.status == CreditNoteStatus.VOID,
        "status_label": credit_note.get_status_display(),
        "reason": credit_note.get_reason_display(),
        "memo": credit_note.memo,
        "issue_date": customer_day(credit_note.created_at, customer),
        "currency": currency,
        "lines": [
            {
                "description": line.description,
                "tax_amount": money(line.tax_amount, currency),
                "amount": money(line.amount, currency),
            }
            for line in credit_note.lines.order_by("position", "pk")
        ],
        "subtotal": money(credit_note.subtotal, currency),
        "tax": money(credit_note.tax, currency),
        "tax_rows": tax_rows(credit_note.taxes, currency),
        "tax_notes": list(credit_note.invoice.tax_notes),
        "total": money(credit_note.total, currency),
        "amount_due_reduction": money(credit_note.amount_due_reduction, currency),
        "refund_amount": money(credit_note.refund_amount, currency),
        "credit_amount": money(credit_note.credit_amount, currency),
        "has_reduction": credit_note.amount_due_reduction != 0,
        "has_refund": credit_note.refund_amount != 0,
        "has_credit": credit_note.credit_amount != 0,
    }


def credit_note_pdf(*, credit_note: CreditNote) -> bytes:
    """The credit note as an A4 PDF (the invoice's approach: a template through WeasyPrint)."""
    return _html_to_pdf(
        render_to_string(CREDIT_NOTE_PDF_TEMPLATE, credit_note_pdf_context(credit_note=credit_note))
    )


def credit_note_pdf_filename(credit_note: CreditNote) -> str:
    return f"{credit_note.number}.pdf"


def invoice_email_recipients(invoice: Invoice) -> list[str]:
    """The customer's email, then its contacts who receive invoices; no duplicates."""
    return notice_recipients(invoice.customer, invoice_contacts=True)


def _pdf_attachment(invoice: Invoice) -> list[tuple[str, bytes, str]]:
    return [(invoice_pdf_filename(invoice), invoice_pdf(invoice=invoice), "application/pdf")]


def invoice_email_context(invoice: Invoice) -> dict:
    """What the "invoice issued" notice shows: the PDF's figures, the payment reference when
    the customer is to pay it (not when a card will be charged: that invites paying twice)."""
    context = invoice_pdf_context(invoice=invoice)
    context["show_reference"] = bool(context["owes"] and not context["autopay"])
    return context


def invoice_receipt_context(invoice: Invoice) -> dict:
    return {
        **invoice_pdf_context(invoice=invoice),
        "paid_with": hooks.provider("paid_with")(invoice),
        "show_reference": True,
    }


def invoice_email_build(invoice: Invoice) -> EmailMultiAlternatives:
    """The "invoice issued" mail (text, HTML, the PDF), as `invoice_email_send` sends it."""
    return notice_message(
        kind=NoticeKind.INVOICE_ISSUED,
        context=invoice_email_context(invoice),
        recipients=invoice_email_recipients(invoice),
        attachments=_pdf_attachment(invoice),
    )


def invoice_email_send(*, invoice_id: int, resend: bool = False, actor: Actor = None) -> None:
    """Email a finalized invoice, with its PDF, to the customer and its invoice contacts: the
    "invoice issued" notice (customers.notices).

    Once per invoice: the notice (unique key `invoice_issued:<id>`) and the
    `invoice.email_sent` event are recorded in a transaction and the mail goes out after that
    commits, so a second call, or a second worker running the same task, sends nothing. The
    price of that order is at-most-once: a crash between the commit and the SMTP call loses
    that one email (the notice stays `queued`; an SMTP error makes it `failed`). We prefer
    that to sending it twice; staff can send it again with `resend=True` (a notice of its own
    and an `invoice.email_resent` event, every time).

    Drafts and void invoices are not sent (a void may happen before the queued task runs). A
    customer whose invoices are delivered in the portal only gets no mail (recorded as
    skipped), unless staff resend it (`actor`: who, on the resend's event).
    """
    key = f"invoice.email_sent:{invoice_id}"
    notice_key = f"{NoticeKind.INVOICE_ISSUED}:{invoice_id}"
    if not resend and (
        notice_exists(notice_key) or BillingEvent.objects.filter(dedupe_key=key).exists()
    ):
        return  # fast path; the unique keys are what makes it safe
    invoice = Invoice.objects.select_related("customer").get(pk=invoice_id)
    if invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        logger.info("invoice %s is %s: no email sent", invoice_id, invoice.status)
        return
    if invoice.status == InvoiceStatus.PAID and not resend:
        invoice_receipt_send(invoice_id=invoice_id)  # paid already: the receipt is the mail
        return
    if resend:
        notice_key = f"{notice_key}:resend:{uuid.uuid4().hex}"
    portal_only = invoice.customer.invoice_delivery == InvoiceDelivery.PORTAL
    notice_send(
        customer=invoice.customer,
        kind=NoticeKind.INVOICE_ISSUED,
        key=notice_key,
        context=invoice_email_context(invoice),
        attachments=partial(_pdf_attachment, invoice),
        related=f"invoice {invoice.number}",
        recipients=invoice_email_recipients(invoice),
        skip=NoticeStatus.SKIPPED_PORTAL_ONLY if portal_only and not resend else "",
        on_record=partial(
            _event_record,
            invoice,
            "invoice.email_resent" if resend else "invoice.email_sent",
            None if resend else key,
            actor,
        ),
    )


def _event_record(invoice: Invoice, kind: str, key: str | None, actor: Actor, notice) -> None:
    """The billing event of an invoice mail, in the transaction that records its notice."""
    billing_event_record(
        kind=kind,
        subject=invoice,
        at=timezone.now(),
        actor=actor,
        payload={"number": invoice.number, "to": notice.recipients, "notice": notice.pk},
        dedupe_key=key,
    )


def invoice_receipt_build(invoice: Invoice) -> EmailMultiAlternatives:
    return notice_message(
        kind=NoticeKind.RECEIPT,
        context=invoice_receipt_context(invoice),
        recipients=invoice_email_recipients(invoice),
        attachments=_pdf_attachment(invoice),
    )


def invoice_receipt_send(*, invoice_id: int) -> None:
    """Email the receipt of a paid invoice (with its PDF, stamped paid), once per invoice
    (the `receipt` notice and `invoice.receipt_sent` event, at most once like
    `invoice_email_send`). Queued on commit of every `invoice.paid` event; an invoice paid
    when it is finalized gets only this mail (the invoice mail task, queued too, finds it
    paid and sends the receipt instead, deduplicated by the same key). Sent whatever the
    customer's invoice delivery: a payment is confirmed by mail."""
    key = f"invoice.receipt_sent:{invoice_id}"
    notice_key = f"{NoticeKind.RECEIPT}:{invoice_id}"
    if notice_exists(notice_key) or BillingEvent.objects.filter(dedupe_key=key).exists():
        return
    invoice = Invoice.objects.select_related("customer").get(pk=invoice_id)
    if invoice.status != InvoiceStatus.PAID:
        return  # refunded or voided meanwhile: nothing to confirm
    notice_send(
        customer=invoice.customer,
        kind=NoticeKind.RECEIPT,
        key=notice_key,
        context=invoice_receipt_context(invoice),
        attachments=partial(_pdf_attachment, invoice),
        related=f"invoice {invoice.number}",
        recipients=invoice_email_recipients(invoice),
        on_record=partial(_event_record, invoice, "invoice.receipt_sent", key, None),
    )
