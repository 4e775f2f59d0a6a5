"""One rule for the dates a customer sees: its local day, in its time zone, the same on the
portal, the invoice PDF and the emails; staff see that day with the zone (admin)."""

from datetime import UTC, datetime

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from billing.invoicing.admin.dates import CustomerDaysMixin
from billing.invoicing.services.documents import (
    PDF_TEMPLATE,
    invoice_email_build,
    invoice_pdf_context,
)
from billing.tests.payment_helpers import open_invoice
from customers.dates import customer_day
from customers.models import CustomerRole

# 11:30 UTC on 1 Dec is 00:30 on 2 Dec in Auckland (UTC+13) and 03:30 on 1 Dec in Los Angeles.
ISSUED = datetime(2026, 12, 1, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "issued", "due"),
    [
        ("Pacific/Auckland", "2 Dec 2026", "16 Dec 2026"),
        ("America/Los_Angeles", "1 Dec 2026", "15 Dec 2026"),
    ],
)
def test_portal_pdf_email_and_admin_show_the_customers_day(acme, zone, issued, due, settings):
    settings.INVOICE_DUE_DAYS = 14
    customer = acme.customer
    customer.timezone = zone
    customer.save(update_fields=["timezone"])
    invoice = open_invoice(customer, amount="40.00", at=ISSUED)
    assert customer_day(invoice.issued_at, customer) == issued

    page = acme.client(CustomerRole.VIEWER).get(reverse("portal:invoices")).content.decode()
    row = page[page.index(f'data-invoice="{invoice.number}"') :].split("</tr>")[0]
    assert f'<td data-label="Issued">{issued}</td>' in row
    assert f'<td data-label="Due">{due}</td>' in row

    pdf = render_to_string(PDF_TEMPLATE, invoice_pdf_context(invoice=invoice))
    assert f"Issue date</td><td>{issued}" in pdf
    assert f"Due date</td><td>{due}" in pdf

    body = invoice_email_build(invoice).body
    assert f"Issue date: {issued}" in body
    assert f"Due date: {due}" in body

    staff = CustomerDaysMixin()
    assert staff.issue_day(invoice) == f"{issued} ({zone})"
    assert staff.customer_days(invoice) == f"issued {issued}, due {due} ({zone})"
