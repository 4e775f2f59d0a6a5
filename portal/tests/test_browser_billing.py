"""Billing in a real Chromium: add a card in the sandbox, pay an invoice, download a PDF."""

from pathlib import Path

from django.utils import timezone

from billing.models import InvoiceStatus
from billing.tests.payment_helpers import card, open_invoice
from portal.tests.conftest import sign_in


def test_add_a_card_in_the_sandbox(page, acme, screenshot):
    sign_in(page, acme.owner.user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Payment methods").click()
    page.get_by_role("heading", name="Add a card (sandbox)").wait_for()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Make it the default").check()
    page.get_by_role("button", name="Add card").click()
    page.get_by_text("Visa •••• 4242 12/2034 added.").wait_for()
    row = page.locator("tbody tr").filter(has_text="Visa •••• 4242")
    assert "Default" in row.inner_text()
    assert "12/2034" in row.inner_text()
    assert page.get_by_label("Card number").input_value() == ""  # never echoed back
    screenshot(page, "billing-card-added")


def test_pay_an_open_invoice(page, acme, screenshot):
    now = timezone.now()
    card(acme.customer, at=now)
    invoice = open_invoice(acme.customer, amount="40.00", at=now)
    sign_in(page, acme.owner.user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    row = page.locator(f'tr[data-invoice="{invoice.number}"]')
    assert "Open" in row.inner_text()
    row.get_by_role("link", name=f"Pay invoice {invoice.number}").click()
    page.get_by_role("button", name="Pay 40.00 USD").click()
    page.get_by_role("heading", name="Paid").wait_for()
    assert f"invoice {invoice.number} is paid" in page.locator("main").inner_text()
    page.get_by_role("link", name="Back to invoices").click()
    row = page.locator(f'tr[data-invoice="{invoice.number}"]')
    assert row.locator("[data-status]").inner_text() == "Paid"
    assert row.get_by_role("link", name=f"Pay invoice {invoice.number}").count() == 0
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    screenshot(page, "billing-invoice-paid")


def test_download_an_invoice_pdf(page, acme, screenshot):
    invoice = open_invoice(acme.customer, amount="40.00", at=timezone.now())
    sign_in(page, acme.owner.user.email)
    page.goto("/portal/invoices/")
    link = page.get_by_role("link", name=f"PDF of {invoice.number}")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
    screenshot(page, "billing-invoices")


def test_pay_with_3d_secure_and_come_back_paid(page, acme, screenshot):
    now = timezone.now()
    card(acme.customer, token="tok_threeDSecureRequired", at=now)  # noqa: S106
    invoice = open_invoice(acme.customer, amount="25.00", at=now)
    sign_in(page, acme.owner.user.email)
    page.goto(f"/portal/invoices/{invoice.pk}/pay/")
    page.get_by_role("button", name="Pay 25.00 USD").click()
    page.get_by_role("heading", name="Authentication needed").wait_for()
    page.get_by_role("link", name="Authenticate the payment").click()
    page.get_by_role("heading", name="Sandbox 3-D Secure").wait_for()
    page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("link", name="Return to the merchant").click()
    page.get_by_role("heading", name="Paid").wait_for()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    screenshot(page, "billing-3ds-paid")


def test_the_portal_fits_a_phone_screen(page, acme, screenshot):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, acme.owner.user.email)
    for path in ("/portal/", "/portal/subscriptions/", "/portal/invoices/", "/portal/team/"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    page.goto("/portal/")
    assert page.get_by_role("navigation", name="Main").is_visible()
    screenshot(page, "overview-phone")
