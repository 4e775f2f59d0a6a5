"""Exports of the admin's filtered lists (django-import-export; customers/admin_exports.py
and the resources beside each admin): what is exported is the list as filtered and searched,
money and dates read plainly, and only staff who may view a model export it."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import reverse

from billing.invoicing.services.credits import credit_note_issue
from billing.models import BankTransfer, Invoice, UsageAggregate
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from catalog.tests.factories import metric as metric_create
from customers.admin_exports import StaffExportMixin, spreadsheet_safe
from portal.tests.test_csp import assert_no_inline
from reports.models import JournalEntry, JournalLine
from reports.staff_groups import STAFF_GROUPS
from reports.tests.console_helpers import AT, GROUPS, payment, staff_user

pytestmark = pytest.mark.django_db

# admin URL name prefix -> (model label, what the export must hold)
EXPORTS = {
    "customers_customer": "customers.customer",
    "billing_subscription": "billing.subscription",
    "billing_invoice": "billing.invoice",
    "billing_payment": "billing.payment",
    "billing_creditnote": "billing.creditnote",
    "billing_usageaggregate": "billing.usageaggregate",
    "reports_journalentry": "reports.journalentry",
}
CSV_FORMAT, XLSX_FORMAT = "0", "1"  # the export form's choices, in StaffExportMixin's order


@pytest.fixture
def books():
    """Two customers (one named like a formula), open, paid and JPY invoices, a payment, a
    credit note, a usage aggregate and a journal entry with its lines."""
    acme = factories.customer(external_id="acme")
    evil = factories.customer(external_id="evil")
    evil.name = '=HYPERLINK("http://x")'
    evil.save(update_fields=["name"])
    tokyo = factories.customer(external_id="tokyo", currency="JPY")
    subco = factories.customer(external_id="subco")
    sub = factories.subscription(customer=subco, plan=factories.plan(), at=AT - timedelta(days=3))
    open_one = open_invoice(acme, amount="25.00", at=AT)
    paid = open_invoice(acme, amount="40.50", at=AT + timedelta(days=1))
    Invoice.objects.filter(pk=paid.pk).update(status="paid", amount_due=Decimal(0))
    yen = open_invoice(tokyo, amount="1200", at=AT)
    pay = payment(acme, amount="40.50", invoice=paid)
    pay.gateway_reference = "ch_abc123"
    pay.save(update_fields=["gateway_reference"])
    with transaction.atomic():
        note = credit_note_issue(invoice=paid, at=AT + timedelta(days=2), reason="other")
    aggregate = UsageAggregate.objects.create(
        customer=subco,
        subscription=sub,
        metric=metric_create(),
        period_start=AT,
        period_end=AT + timedelta(days=30),
        due_at=AT + timedelta(days=30),
        event_count=3,
        value_sum=Decimal("12.500000000000"),
        billed_amount=Decimal("1.2500"),
        updated_at=AT,
    )
    entry = JournalEntry.objects.create(
        date=AT.date(),
        kind="payment",
        source="PAY-1",
        source_key="test:pay-1",
        customer=acme,
        currency="USD",
        posted_at=AT,
    )
    JournalLine.objects.create(
        entry=entry, role="cash", account="1000", debit=Decimal("40.5"), credit=0
    )
    JournalLine.objects.create(
        entry=entry, role="receivables", account="1100", debit=0, credit=Decimal("40.5")
    )
    return {
        "acme": acme,
        "evil": evil,
        "sub": sub,
        "open": open_one,
        "paid": paid,
        "yen": yen,
        "payment": pay,
        "note": note,
        "aggregate": aggregate,
        "entry": entry,
    }


def model_admin_of(label: str):
    return next(a for m, a in admin.site._registry.items() if m._meta.label_lower == label)


def all_columns(name: str, resource_index: int = 0) -> dict[str, str]:
    """The export form's column boxes of a resource, all ticked (as the form starts)."""
    resource = model_admin_of(EXPORTS[name]).resource_classes[resource_index]
    prefix = resource.__name__.lower()
    return {f"{prefix}_{column}": "on" for column in resource._meta.fields}


def export(client, name: str, query: str = "", file_format: str = CSV_FORMAT, **columns):
    """POST the export form of `name`'s list (its filters in `query`) as the browser does:
    every column unless some are named."""
    url = reverse(f"admin:{name}_export") + (f"?{query}" if query else "")
    form = {"format": file_format, "resource": "0", **(columns or all_columns(name))}
    return client.post(url, form)


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


@pytest.fixture
def finance(client):
    client.force_login(staff_user("finance"))
    return client


def test_every_export_is_a_staff_export_mixin_with_named_columns():
    for name, label in EXPORTS.items():
        model_admin = model_admin_of(label)
        assert isinstance(model_admin, StaffExportMixin), name
        for resource in model_admin.resource_classes:
            assert resource._meta.fields, resource  # explicit columns, not every field


def test_invoice_csv_holds_the_filtered_list_only(finance, books):
    found = rows(
        export(finance, "billing_invoice", "status__exact=open&currency__exact=USD&q=acme")
    )
    assert [r["number"] for r in found] == [books["open"].number]
    row = found[0]
    assert row["customer_external_id"] == "acme"
    assert row["customer_name"] == "Acme"
    assert (row["currency"], row["total"], row["amount_due"]) == ("USD", "25.00", "25.00")
    assert row["issued_at"] == AT.isoformat()  # ISO 8601, UTC
    assert row["payment_reference"] == books["open"].payment_reference


def test_the_search_box_and_every_page_of_the_list_are_exported(finance, books):
    searched = rows(export(finance, "billing_invoice", "q=tokyo"))
    assert [r["number"] for r in searched] == [books["yen"].number]
    assert searched[0]["total"] == "1200"  # JPY has no minor unit
    everything = rows(export(finance, "billing_invoice"))
    assert len(everything) == Invoice.objects.count() > 3


def test_choosing_columns(finance, books):
    found = rows(
        export(
            finance,
            "billing_invoice",
            "status__exact=paid&q=acme",
            invoiceresource_number="on",
            invoiceresource_total="on",
        )
    )
    assert found == [{"number": books["paid"].number, "total": "40.50"}]


def test_xlsx_opens_with_numbers_and_dates(finance, books):
    response = export(finance, "billing_invoice", "status__exact=paid&q=acme", XLSX_FORMAT)
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.xlsx"')
    assert response["Content-Disposition"].startswith('attachment; filename="invoices-')
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.values)
    header, row = values[0], dict(zip(values[0], values[1], strict=True))
    assert len(values) == 2
    assert "customer_external_id" in header
    assert row["number"] == books["paid"].number
    assert row["total"] == pytest.approx(40.5)  # a number the spreadsheet can add up
    assert row["issued_at"] == (AT + timedelta(days=1)).replace(tzinfo=None)  # UTC


def test_customers_export_neutralises_formulas(finance, books):
    found = {r["external_id"]: r for r in rows(export(finance, "customers_customer"))}
    assert found["evil"]["name"] == '\'=HYPERLINK("http://x")'
    assert found["acme"]["email"] == "acme@example.com"
    assert found["tokyo"]["currency"] == "JPY"
    response = export(finance, "customers_customer", "q=evil", XLSX_FORMAT)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    name_column = [cell.value for cell in sheet[1]].index("name")
    cell = sheet.cell(row=2, column=name_column + 1)
    assert cell.data_type == "s"  # text, not a formula
    assert spreadsheet_safe("-12.50") == "-12.50"  # numbers stay numbers
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"


def test_payments_subscriptions_credit_notes_and_usage(finance, books):
    (pay,) = rows(export(finance, "billing_payment", "q=ch_abc123"))
    assert pay["customer_external_id"] == "acme"
    assert pay["invoice_number"] == books["paid"].number
    assert (pay["amount"], pay["currency"], pay["status"]) == ("40.50", "USD", "succeeded")
    assert pay["gateway_reference"] == "ch_abc123"

    (sub,) = rows(export(finance, "billing_subscription"))
    assert (sub["customer_external_id"], sub["plan_code"]) == ("subco", "pro")
    assert sub["status"] == books["sub"].status

    (note,) = rows(export(finance, "billing_creditnote"))
    assert note["invoice_number"] == books["paid"].number
    assert (note["total"], note["currency"], note["reason"]) == ("40.50", "USD", "other")

    (usage,) = rows(export(finance, "billing_usageaggregate"))
    assert (usage["event_count"], usage["value_sum"], usage["unbilled"]) == ("3", "12.5", "true")
    assert (usage["billed_amount"], usage["currency"]) == ("1.25", "USD")
    assert (usage["subscription_id"], usage["customer_external_id"]) == (
        str(books["sub"].pk),
        "subco",
    )


def test_journal_exports_one_row_per_line_or_per_entry(finance, books):
    lines = rows(export(finance, "reports_journalentry", "kind__exact=payment"))
    assert [(r["account"], r["debit"], r["credit"]) for r in lines] == [
        ("1000", "40.50", "0.00"),
        ("1100", "0.00", "40.50"),
    ]
    assert {r["source"] for r in lines} == {"PAY-1"}
    assert {r["date"] for r in lines} == {AT.date().isoformat()}
    assert rows(export(finance, "reports_journalentry", "kind__exact=invoice")) == []
    response = finance.post(
        reverse("admin:reports_journalentry_export"),
        {"format": CSV_FORMAT, "resource": "1", **all_columns("reports_journalentry", 1)},
    )
    (entry,) = [r for r in rows(response) if r["source"] == "PAY-1"]
    assert (entry["debits"], entry["credits"], entry["customer_name"]) == ("40.50", "40.50", "Acme")


def test_the_export_button_sits_beside_the_lists_own_buttons(finance, books):
    page = finance.get(reverse("admin:billing_payment_changelist")).content.decode()
    assert reverse("admin:billing_payment_export") in page
    assert reverse("admin:billing_payment_record") in page  # "Record a payment received"
    invoices = finance.get(reverse("admin:billing_invoice_changelist") + "?status__exact=open")
    # The list's own template, found by Django's name (no change_list_template), still wraps it.
    used = [template.name for template in invoices.templates]
    assert "admin/billing/invoice/change_list.html" in used
    assert "admin/import_export/change_list_export.html" in used
    assert (
        f"{reverse('admin:billing_invoice_export')}?status__exact=open" in invoices.content.decode()
    )


def test_a_list_template_found_by_name_stays_under_the_export_button():
    class Plain(StaffExportMixin, admin.ModelAdmin):  # no change_list_template of its own
        pass

    assert Plain(BankTransfer, admin.site).ie_base_change_list_template == (
        "admin/billing/banktransfer/change_list.html"
    )
    assert Plain(JournalLine, admin.site).ie_base_change_list_template == "admin/change_list.html"


def test_the_export_form_page(finance, books):
    response = finance.get(reverse("admin:billing_invoice_export") + "?status__exact=open")
    assert response.status_code == 200
    page = response.content.decode()
    open_count = Invoice.objects.filter(status="open").count()
    assert f"{open_count} invoices:" in page  # the open ones: the list as filtered
    assert f'href="{reverse("admin:billing_invoice_changelist")}?status__exact=open"' in page
    assert '<option value="0">csv</option>' in page
    assert '<option value="1">xlsx</option>' in page
    assert "reports/admin-export.js" in page  # "Select all", without an inline handler
    assert_no_inline(response)  # Content-Security-Policy


@pytest.mark.parametrize("name", EXPORTS)
def test_staff_without_the_view_permission_get_403_and_no_button(client, books, name):
    client.force_login(staff_user(None, perms=("customers.view_customer",)))
    if name == "customers_customer":
        page = client.get(reverse(f"admin:{name}_changelist")).content.decode()
        assert reverse(f"admin:{name}_export") in page
        assert export(client, name).status_code == 200
        return
    assert client.get(reverse(f"admin:{name}_export")).status_code == 403
    assert export(client, name).status_code == 403


def test_the_button_is_shown_only_with_the_permission(client, books):
    user = staff_user(None, perms=("billing.view_invoice",))
    client.force_login(user)
    page = client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert reverse("admin:billing_invoice_export") in page
    assert client.get(reverse("admin:billing_payment_changelist")).status_code == 403


def view_allowed(group: str, label: str) -> bool:
    app_label = label.split(".")[0]
    rules = STAFF_GROUPS[group]
    return app_label in rules.get("view", ()) or app_label in rules.get("change", ())


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", EXPORTS)
def test_export_permission_per_staff_group(client, books, group, name):
    """Each group exports what it may view: today every group views our apps, so each
    exports every list (read-only included: an export is the list it already sees)."""
    client.force_login(staff_user(group))
    response = export(client, name)
    if view_allowed(group, EXPORTS[name]):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
    else:
        assert response.status_code == 403


def test_anonymous_and_non_staff_are_sent_to_sign_in(client, books):
    response = export(client, "billing_invoice")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
