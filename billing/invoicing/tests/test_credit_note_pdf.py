"""The credit note PDF (billing.invoicing.services.documents.credit_note_pdf)."""

from datetime import UTC, datetime
from decimal import Decimal

from django.template.loader import render_to_string

from billing.invoicing.services.credits import credit_note_issue
from billing.invoicing.services.documents import (
    CREDIT_NOTE_PDF_TEMPLATE,
    credit_note_pdf,
    credit_note_pdf_context,
    credit_note_pdf_filename,
)
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice

AT = datetime(2027, 1, 15, 9, tzinfo=UTC)


def test_credit_note_pdf_shows_the_note_and_is_a_pdf(db):
    customer = factories.customer("cn-acme", timezone="America/New_York")
    invoice = open_invoice(customer, amount="1200.00", at=AT, description="Annual fee")
    note = credit_note_issue(
        invoice=invoice,
        at=AT,
        reason="product_unsatisfactory",
        lines=[{"invoice_line": invoice.lines.get(), "amount": Decimal("200.00")}],
        memo="Partial credit.",
    )
    context = credit_note_pdf_context(credit_note=note)
    assert context["total"] == "200.00 USD"
    assert context["amount_due_reduction"] == "200.00 USD"
    assert context["has_reduction"]
    assert not context["has_refund"]
    assert context["issue_date"] == "15 Jan 2027"
    html = render_to_string(CREDIT_NOTE_PDF_TEMPLATE, context)
    for text in (
        note.number,
        invoice.number,
        "Product unsatisfactory",
        "Partial credit.",
        "Annual fee",
    ):
        assert text in html
    pdf = credit_note_pdf(credit_note=note)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 1024
    assert credit_note_pdf_filename(note) == f"{note.number}.pdf"
