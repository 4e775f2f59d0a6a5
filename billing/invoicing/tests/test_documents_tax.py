"""Tax on the documents a customer receives: the text of the real invoice and credit note
PDFs (seller's legal name, address and tax numbers, the buyer's VAT number, the tax point,
one row per tax rate, each line's rate, the reverse-charge statement) and the emails."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from billing.invoicing.services.credits import credit_note_issue
from billing.invoicing.services.documents import (
    credit_note_pdf,
    invoice_email_build,
    invoice_pdf,
    invoice_pdf_context,
    invoice_receipt_build,
)
from billing.invoicing.services.invoices import invoice_create, invoice_mark_paid
from billing.invoicing.tests.pdf_text import pdf_text
from billing.models import Invoice, InvoiceLine, LineKind
from billing.tax.engine import REVERSE_CHARGE_NOTE
from billing.tax.services import tax_registration_create, tax_settings_update
from billing.tests.payment_helpers import open_invoice
from customers.services import customer_create

pytestmark = pytest.mark.django_db

AT = datetime(2027, 3, 10, 12, tzinfo=UTC)
DE_VAT = "DE136695976"  # syntax and check digits right: valid under VAT_VALIDATION=checksum


@pytest.fixture
def seller(settings):
    settings.VAT_VALIDATION = "checksum"
    tax_settings_update(
        at=AT,
        legal_name="Northwind Software Ltd",
        address="1 Grand Canal Square\nDublin 2, D02 P820\nIreland",
        email="billing@northwind.example",
        seller_country="IE",
    )
    tax_registration_create(country="IE", number="IE6388047V", at=AT)
    tax_registration_create(country="CA", number="123456789RT0001", at=AT)
    tax_registration_create(country="CA", region="QC", number="1234567890TQ0001", at=AT)


def berlin_business():
    return customer_create(
        external_id="berlin",
        name="Berlin Widgets GmbH",
        email="ap@berlin.example",
        currency="EUR",
        country="DE",
        tax_id=DE_VAT,
        address={"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117"},
    )


def montreal_customer():
    return customer_create(
        external_id="montreal",
        name="Montréal Média Inc",
        email="ap@montreal.example",
        currency="CAD",
        country="CA",
        timezone="America/Toronto",
        address={
            "line1": "1000 Rue Sherbrooke O",
            "city": "Montréal",
            "postal_code": "H3A 3G4",
            "state": "QC",
        },
    )


def test_reverse_charge_invoice_pdf(seller):
    invoice = open_invoice(berlin_business(), amount="1200.00", at=AT, description="Annual plan")
    assert invoice.buyer_tax_id == DE_VAT
    assert invoice.tax_notes == [REVERSE_CHARGE_NOTE]

    text = pdf_text(invoice_pdf(invoice=invoice))
    for expected in [
        "Northwind Software Ltd",
        "1 Grand Canal Square",
        "Dublin 2, D02 P820",
        "Tax number (IE): IE6388047V",
        "Tax number (CA-QC): 1234567890TQ0001",
        "Berlin Widgets GmbH",
        f"VAT number: {DE_VAT}",
        "Tax point 10 Mar 2027",
        "Annual plan 1 1,200.00 EUR 0% 1,200.00 EUR",  # description, qty, unit, rate, amount
        "TAX JURISDICTION RATE TAXABLE AMOUNT TAX AMOUNT",  # headers in capitals,
        "VAT (reverse charge) DE 0% 1,200.00 EUR 0.00 EUR",
        "Tax 0.00 EUR",
        "Total 1,200.00 EUR",
        REVERSE_CHARGE_NOTE,
    ]:
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert "Example Billing Ltd" not in text


def test_quebec_invoice_pdf_has_a_row_per_tax(seller):
    invoice = open_invoice(montreal_customer(), amount="100.00", at=AT, description="Pro plan")
    assert invoice.tax_notes == []

    text = pdf_text(invoice_pdf(invoice=invoice))
    for expected in [
        "Montréal Média Inc",
        "Tax point 10 Mar 2027",  # 08:00 in Toronto
        "Pro plan 1 100.00 CAD 14.975% 100.00 CAD",
        "GST CA-QC 5% 100.00 CAD 5.00 CAD",
        "QST CA-QC 9.975% 100.00 CAD 9.98 CAD",
        "Subtotal 100.00 CAD",
        "Tax 14.98 CAD",
        "Total 114.98 CAD",
        "Amount due 114.98 CAD",
    ]:
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert "VAT number" not in text
    assert "Reverse charge" not in text


def test_quebec_credit_note_pdf_carries_its_tax(seller):
    invoice = open_invoice(montreal_customer(), amount="100.00", at=AT, description="Pro plan")
    note = credit_note_issue(invoice=invoice, at=AT, reason="other")
    text = pdf_text(credit_note_pdf(credit_note=note))
    for expected in [
        "Northwind Software Ltd",
        "Tax number (CA): 123456789RT0001",
        "Pro plan 14.98 CAD 114.98 CAD",
        "Subtotal 100.00 CAD",
        "Tax 14.98 CAD",
        "Total credited 114.98 CAD",
        "GST CA-QC 5% 100.00 CAD 5.00 CAD",
        "QST CA-QC 9.975% 100.00 CAD 9.98 CAD",
    ]:
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_the_seller_is_the_one_of_the_day_of_issue(seller, settings):
    """A finalized invoice shows its snapshot after the settings change; a draft shows the
    settings of now; an invoice older than tax (no snapshot) too, and settings.INVOICE_SELLER
    fills what the tax settings leave blank."""
    invoice = open_invoice(berlin_business(), amount="10.00", at=AT)
    tax_settings_update(at=AT, legal_name="Northwind Holdings Ltd")
    assert invoice_pdf_context(invoice=invoice)["seller"]["name"] == "Northwind Software Ltd"

    customer = invoice.customer
    with transaction.atomic():
        line = InvoiceLine(customer=customer, currency="EUR", kind=LineKind.ONE_TIME)
        draft = invoice_create(customer=customer, currency="EUR", lines=[line], at=AT)
    assert invoice_pdf_context(invoice=draft)["seller"]["name"] == "Northwind Holdings Ltd"

    Invoice.objects.filter(pk=invoice.pk).update(seller_details={})
    iban = "IBAN: IE29 AIBK 9311 5212 3456 78"
    settings.INVOICE_SELLER = {"email": "", "payment_details": [iban]}
    tax_settings_update(at=AT, legal_name="", address="", email="")
    old = invoice_pdf_context(invoice=Invoice.objects.get(pk=invoice.pk))["seller"]
    assert old["name"] == "Example Billing Ltd"  # the last fallback
    assert old["address"][0] == "1 Example Street"
    assert old["payment_details"] == [iban]
    assert [n["jurisdiction"] for n in old["tax_numbers"]] == ["CA", "CA-QC", "IE"]


def test_emails_show_the_tax(seller):
    invoice = open_invoice(montreal_customer(), amount="100.00", at=AT)
    body = invoice_email_build(invoice).body
    for expected in [
        "Tax point: 10 Mar 2027",
        "Subtotal: 100.00 CAD\nGST 5% (CA-QC): 5.00 CAD\nQST 9.975% (CA-QC): 9.98 CAD\n"
        "Total: 114.98 CAD\n",
        "Amount due: 114.98 CAD",
    ]:
        assert expected in body, f"{expected!r} not in:\n{body}"

    rc = open_invoice(berlin_business(), amount="50.00", at=AT)
    invoice_mark_paid(invoice=rc, at=AT)
    body = invoice_receipt_build(Invoice.objects.get(pk=rc.pk)).body
    for expected in [
        "Tax point: 10 Mar 2027",
        "VAT 0% (DE, reverse charge): 0.00 EUR",
        f"Your VAT number: {DE_VAT}\n{REVERSE_CHARGE_NOTE}\n",
        "Amount paid: 50.00 EUR",
    ]:
        assert expected in body, f"{expected!r} not in:\n{body}"
