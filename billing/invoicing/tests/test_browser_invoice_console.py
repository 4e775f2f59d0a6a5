"""The invoice console in a real browser (Debian's Chromium through Playwright): a finance
staff member issues a credit note by line after its preview, refunds part of a payment after
its confirmation, creates a one-off invoice scheduled for a later day, and downloads an
invoice's PDF. Screenshots in build/screenshots/."""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from billing.models import CreditNote, Invoice, Payment, Refund
from billing.payments.services.payments import payment_collect
from billing.tax.services import tax_registration_create, tax_settings_update
from billing.tests import factories
from billing.tests.payment_helpers import customer_with_card, open_invoice
from customers.services import customer_create

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in_as_finance(page):
    user = get_user_model().objects.create_user("fiona", password="pw-fiona", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("fiona")
    page.get_by_label("Password").fill("pw-fiona")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


def test_finance_works_invoices_in_the_console(page, screenshot, tmp_path):
    now = timezone.now()
    factories.customer(external_id="acme")
    tax_settings_update(at=now, legal_name="Northwind Ltd", seller_country="IE")
    tax_registration_create(country="IE", number="IE6388047V", at=now)
    dublin = customer_create(
        external_id="dublin",
        name="Dublin Person",
        email="p@dublin.example",
        currency="EUR",
        country="IE",
    )
    invoice = open_invoice(dublin, "120.00", at=now, description="Annual support")
    assert invoice.total == Decimal("147.60")  # 23% VAT
    payer, _ = customer_with_card(external_id="payer")
    payment = payment_collect(invoice=open_invoice(payer, "30.00", at=now), at=now, source="api")
    sign_in_as_finance(page)

    # The invoice page: its tools, and the PDF
    page.goto(f"/admin/billing/invoice/{invoice.pk}/change/")
    for tool in ("Download PDF", "Resend…", "Credit note…", "Void…", "Write off…"):
        assert page.get_by_role("link", name=tool).is_visible()
    screenshot(page, "admin-invoice-page")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download PDF").click()
    download = info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    saved = Path(tmp_path) / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")

    # A credit note by line, previewed first
    page.get_by_role("link", name="Credit note…").click()
    line = invoice.lines.get()
    page.locator(f"#id_line_{line.pk}").fill("73.80")  # half the line, tax included
    page.locator("#id_reason").select_option("product_unsatisfactory")
    page.locator("#id_memo").fill("Support hours not delivered")
    page.get_by_role("button", name="Preview").click()
    assert page.locator("#preview-total").inner_text() == "73.80 EUR"
    assert page.locator("#preview-tax").inner_text() == "13.80 EUR"  # its share of the VAT
    assert page.locator("#preview-subtotal").inner_text() == "60.00 EUR"
    assert not CreditNote.objects.exists()
    screenshot(page, "admin-credit-note-by-line")
    page.get_by_role("button", name="Issue credit note").click()
    page.wait_for_url(re.compile(r".*/admin/billing/creditnote/\d+/change/$"))
    assert "issued: 73.80 EUR" in page.locator(".messagelist").inner_text()
    note = CreditNote.objects.get()
    assert (note.total, note.tax) == (Decimal("73.80"), Decimal("13.80"))
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("73.80")

    # Part of a payment refunded, after its confirmation
    page.goto(f"/admin/billing/payment/{payment.pk}/change/")
    page.get_by_role("link", name="Refund…").click()
    assert "30.00" in page.locator("#id_amount").input_value()
    page.locator("#id_amount").fill("12.50")
    page.locator("#id_reason").fill("Late delivery")
    page.get_by_role("button", name=f"Refund payment #{payment.pk}").click()
    assert "12.50 USD" in page.locator("#refund-confirm-amount").inner_text()
    assert "17.50 USD stays refundable" in page.locator(".refund-confirm").inner_text()
    assert not Refund.objects.exists()
    screenshot(page, "admin-partial-refund")
    page.get_by_role("button", name="Yes, refund 12.50 USD").click()
    page.wait_for_url(f"**/admin/billing/payment/{payment.pk}/change/")
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("12.50"))

    # A one-off invoice, issued on a later day
    page.goto("/admin/billing/invoice/")
    page.get_by_role("link", name="Add one-off invoice").click()
    day = (now + timedelta(days=10)).date()
    page.locator("#id_customer").fill("acme")
    page.locator("#id_issue_on").fill(day.isoformat())
    page.get_by_label("Description of line 1").fill("On-site training")
    page.get_by_label("Quantity of line 1").fill("2")
    page.get_by_label("Unit amount of line 1").fill("400.00")
    page.get_by_label("Tax code of line 1").select_option("services")
    page.get_by_label("Description of line 2").fill("Travel")
    page.get_by_label("Unit amount of line 2").fill("95.50")
    screenshot(page, "admin-one-off-invoice")
    page.get_by_role("button", name="Create invoice").click()
    page.wait_for_url(re.compile(r".*/admin/billing/invoice/\d+/change/$"))
    assert f"issued on {day.isoformat()}" in page.locator(".messagelist").inner_text()
    scheduled = Invoice.objects.get(scheduled_issue_at__isnull=False)
    assert (scheduled.status, scheduled.total) == ("draft", Decimal("895.50"))
    page.goto("/admin/billing/invoice/?scheduled=yes")
    assert page.locator("#result_list tbody tr").count() == 1
