"""The invoices page shows each invoice's tax: who issued it with its tax numbers, the
buyer's VAT number, the tax point, each line's rate, one row per tax rate, the statements
(reverse charge); credit notes show their subtotal, tax and total."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.invoicing.services.credits import credit_note_issue
from billing.tax.engine import REVERSE_CHARGE_NOTE
from billing.tax.services import tax_registration_create, tax_settings_update
from billing.tests.payment_helpers import open_invoice
from customers.models import Customer, CustomerRole, TaxIdStatus

INVOICES = reverse("portal:invoices")


@pytest.fixture
def seller(db):
    now = timezone.now()
    tax_settings_update(
        at=now, legal_name="Northwind Software Ltd", address="1 Grand Canal Square\nDublin 2"
    )
    tax_settings_update(at=now, seller_country="IE")
    tax_registration_create(country="IE", number="IE6388047V", at=now)
    tax_registration_create(country="CA", number="123456789RT0001", at=now)
    tax_registration_create(country="CA", region="QC", number="1234567890TQ0001", at=now)


def details_of(page: str, number: str) -> str:
    match = re.search(rf'data-tax-details="{number}">(.*?)</details>', page, re.S)
    assert match, number
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1)))


def test_a_quebec_invoice_and_its_credit_note(acme, seller):
    Customer.objects.filter(pk=acme.customer.pk).update(
        country="CA", address_country="CA", address_state="QC"
    )
    acme.customer.refresh_from_db()
    invoice = open_invoice(acme.customer, amount="100.00", at=timezone.now(), description="Pro")
    note = credit_note_issue(invoice=invoice, at=timezone.now(), reason="other")

    page = acme.client(CustomerRole.VIEWER).get(INVOICES).content.decode()
    text = details_of(page, invoice.number)
    tax_point = f"{invoice.tax_date:%-d %b %Y}"
    for expected in [
        "Issued by Northwind Software Ltd 1 Grand Canal Square Dublin 2",
        "Tax number (CA): 123456789RT0001",
        "Tax number (CA-QC): 1234567890TQ0001",
        f"Tax point {tax_point}",
        "Pro 14.975% 14.98 USD 100.00 USD",
        "GST CA-QC 5% 100.00 USD 5.00 USD",
        "QST CA-QC 9.975% 100.00 USD 9.98 USD",
        "Total tax 14.98 USD",
    ]:
        assert expected in text, f"{expected!r} not in {text!r}"
    assert "Reverse charge" not in text
    row = re.search(rf'<tr data-credit-note="{note.number}">(.*?)</tr>', page, re.S).group(1)
    amounts = re.findall(r'class="num"[^>]*>([^<]+)<', row)
    assert amounts == ["100.00 USD", "14.98 USD", "114.98 USD"]


def test_a_reverse_charged_invoice_shows_the_statement(acme, seller):
    Customer.objects.filter(pk=acme.customer.pk).update(
        country="DE", address_country="DE", tax_id="DE136695976", tax_id_status=TaxIdStatus.VALID
    )
    acme.customer.refresh_from_db()
    invoice = open_invoice(acme.customer, amount="50.00", at=timezone.now())

    page = acme.client(CustomerRole.VIEWER).get(INVOICES).content.decode()
    text = details_of(page, invoice.number)
    assert "Your VAT number DE136695976" in text
    assert "VAT (reverse charge) DE 0% 50.00 USD 0.00 USD" in text
    assert REVERSE_CHARGE_NOTE in text


def test_an_invoice_without_a_snapshot_shows_the_seller_of_now(acme, seller):
    invoice = open_invoice(acme.customer, amount="10.00", at=timezone.now())
    type(invoice).objects.filter(pk=invoice.pk).update(seller_details={})
    tax_settings_update(at=timezone.now(), legal_name="Northwind Holdings Ltd")
    page = acme.client().get(INVOICES).content.decode()
    assert "Issued by Northwind Holdings Ltd" in details_of(page, invoice.number)
