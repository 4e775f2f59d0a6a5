"""Finding and seeing, in a real browser: the index grouped by job, the header's search box,
and a finance user exporting the invoices filtered by status to CSV (the downloaded file
holds exactly the filtered rows)."""

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from billing.models import Invoice, InvoiceStatus
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, username: str, password: str) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


def test_finance_filters_invoices_by_status_and_exports_csv(page, screenshot):
    page.set_viewport_size({"width": 1366, "height": 900})
    now = timezone.now()
    acme = factories.customer(external_id="acme")
    globex = factories.customer(external_id="globex", currency="EUR")
    first = open_invoice(acme, amount="25.00", at=now)
    second = open_invoice(globex, amount="99.90", at=now)
    paid = open_invoice(acme, amount="40.00", at=now)
    Invoice.objects.filter(pk=paid.pk).update(status=InvoiceStatus.PAID)
    user = get_user_model().objects.create_user("fiona", password="pw-fiona", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))

    sign_in(page, "fiona", "pw-fiona")
    # The index, grouped by job; no dj-stripe for staff.
    captions = page.locator("#content-main caption a.section").all_inner_texts()
    assert [c.strip().lower() for c in captions][:7] == [
        "billing",
        "revenue",
        "payments",
        "provisioning",
        "customers",
        "settings",
        "system",
    ]
    assert "dj-stripe" not in page.locator("#content-main").inner_text()
    screenshot(page, "admin-index-grouped")

    # The header's search box: an invoice number finds the invoice and its customer.
    page.locator("#staff-search-q").fill(second.number.lower())
    page.locator("#staff-search").get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r".*/admin/reports/search/\?q=.*"))
    invoices = page.locator("#staff-search-invoices").inner_text()
    assert second.number in invoices
    assert "99.90 EUR" in invoices
    assert "Globex" in page.locator("#staff-search-customers").inner_text()
    assert (
        page.locator("#staff-search-customers").get_by_role("link", name="Customer 360").count()
        == 1
    )
    screenshot(page, "admin-search-results")

    # Invoices, filtered by status, exported to CSV.
    page.goto("/admin/billing/invoice/")
    page.locator("#changelist-filter").get_by_role("link", name="Open", exact=True).first.click()
    page.wait_for_url(re.compile(r".*status__exact=open.*"))
    page.get_by_role("link", name="Export").click()
    page.wait_for_url(re.compile(r".*/admin/billing/invoice/export/\?.*status__exact=open.*"))
    assert "2 invoices:" in page.locator("#export-scope").inner_text()
    page.locator("#id_format").select_option(label="csv")
    screenshot(page, "admin-invoice-export")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Submit").click()
    download = download_info.value
    assert re.fullmatch(r"invoices-\d{4}-\d\d-\d\d\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as file:
        rows = list(csv.DictReader(io.StringIO(file.read())))
    expected = set(
        Invoice.objects.filter(status=InvoiceStatus.OPEN).values_list("number", flat=True)
    )
    assert {row["number"] for row in rows} == expected == {first.number, second.number}
    assert {row["status"] for row in rows} == {"open"}
    by_number = {row["number"]: row for row in rows}
    assert (by_number[second.number]["total"], by_number[second.number]["currency"]) == (
        "99.90",
        "EUR",
    )
    assert by_number[first.number]["customer_external_id"] == "acme"
