"""The tax report (reports/tax_report.py) with worked numbers, and its staff page with the
CSV export.

The documents' tax rows are set on the rows directly (what the tax engine would store), so
the sums below are the report's alone:

    INV-A  DE, 10 Jan, EUR  VAT DE 19%  taxable 100.00  tax 19.00
    INV-B  DE, 20 Jan, EUR  VAT DE 19%  taxable  50.00  tax  9.50
                            VAT DE  7%  taxable  20.00  tax  1.40
    INV-C  QC, 5 Feb,  CAD  GST CA-QC 5%      taxable 200.00  tax 10.00
                            QST CA-QC 9.975%  taxable 200.00  tax 19.95
    CN-1   credits INV-A at 25 Jan 23:30 UTC, 26 Jan in Berlin (the customer's day counts):
                            VAT DE 19%  taxable -40.00  tax -7.60

    January, EUR: VAT DE 19% = 150.00 - 40.00 = 110.00, tax 28.50 - 7.60 = 20.90 (2 invoices,
    1 credit note); VAT DE 7% = 20.00, 1.40 (1 invoice).
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.invoicing.services.credits import credit_note_issue
from billing.models import CreditNote, Invoice
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from reports.tax_report import tax_report
from reports.tests.console_helpers import staff_user

pytestmark = pytest.mark.django_db

KEYS = {
    "jurisdiction",
    "name",
    "rate",
    "currency",
    "taxable_amount",
    "tax_amount",
    "invoices",
    "credit_notes",
}


def tax(name, jurisdiction, rate, taxable, amount, reason="standard") -> dict:
    return {
        "name": name,
        "jurisdiction": jurisdiction,
        "rate": rate,
        "reason": reason,
        "taxable_amount": taxable,
        "amount": amount,
    }


def invoice(customer, tax_date: date, taxes: list[dict], status=None) -> Invoice:
    found = open_invoice(customer, amount="1.00", at=datetime(2027, 1, 1, 12, tzinfo=UTC))
    Invoice.objects.filter(pk=found.pk).update(
        tax_date=tax_date, taxes=taxes, **({"status": status} if status else {})
    )
    return found


def credit_note(of: Invoice, at: datetime, taxes: list[dict], status="issued") -> CreditNote:
    note = credit_note_issue(invoice=of, at=at, reason="other")
    CreditNote.objects.filter(pk=note.pk).update(taxes=taxes, created_at=at, status=status)
    return note


@pytest.fixture
def documents():
    berlin = factories.customer("berlin", currency="EUR", timezone="Europe/Berlin")
    montreal = factories.customer("montreal", currency="CAD", timezone="America/Toronto")
    a = invoice(berlin, date(2027, 1, 10), [tax("VAT", "DE", "19", "100.00", "19.00")])
    b = invoice(
        berlin,
        date(2027, 1, 20),
        [tax("VAT", "DE", "19", "50.00", "9.50"), tax("VAT", "DE", "7", "20.00", "1.40")],
    )
    invoice(
        montreal,
        date(2027, 2, 5),
        [
            tax("GST", "CA-QC", "5", "200.00", "10.00"),
            tax("QST", "CA-QC", "9.975", "200.00", "19.95"),
        ],
    )
    # Not reported: a void invoice, a draft, a void credit note.
    invoice(berlin, date(2027, 1, 15), [tax("VAT", "DE", "19", "999.00", "189.81")], "void")
    invoice(berlin, date(2027, 1, 15), [tax("VAT", "DE", "19", "999.00", "189.81")], "draft")
    credit_note(b, datetime(2027, 1, 22, tzinfo=UTC), [tax("VAT", "DE", "19", "1", "0.19")], "void")
    # 25 Jan 23:30 UTC is 26 Jan 00:30 in Berlin: the note's day is 26 Jan.
    credit_note(
        a, datetime(2027, 1, 25, 23, 30, tzinfo=UTC), [tax("VAT", "DE", "19", "40.00", "7.6000")]
    )


def row(jurisdiction, name, rate, currency, taxable, amount, invoices, credit_notes=0) -> dict:
    return {
        "jurisdiction": jurisdiction,
        "name": name,
        "rate": Decimal(rate),
        "currency": currency,
        "taxable_amount": Decimal(taxable),
        "tax_amount": Decimal(amount),
        "invoices": invoices,
        "credit_notes": credit_notes,
    }


JANUARY_EUR = [
    row("DE", "VAT", "7", "EUR", "20.00", "1.40", 1),
    row("DE", "VAT", "19", "EUR", "110.00", "20.90", 2, 1),
]
QUEBEC = [
    row("CA-QC", "GST", "5", "CAD", "200.00", "10.00", 1),
    row("CA-QC", "QST", "9.975", "CAD", "200.00", "19.95", 1),
]


def test_invoices_less_credit_notes_per_jurisdiction_name_rate_and_currency(documents):
    rows = tax_report(date_from=None, date_to=None, currency=None)
    assert all(set(r) == KEYS for r in rows)
    assert rows == QUEBEC + JANUARY_EUR  # CAD before EUR; 7 before 19
    assert [str(r["tax_amount"]) for r in rows] == ["10.00", "19.95", "1.40", "20.90"]


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        (date(2027, 1, 1), date(2027, 1, 31), JANUARY_EUR),
        (date(2027, 2, 1), date(2027, 2, 28), QUEBEC),
        (date(2027, 2, 5), date(2027, 2, 5), QUEBEC),  # both days included
        (date(2027, 2, 6), None, []),
        (None, date(2027, 1, 9), []),
        # INV-A and INV-B without the credit note (issued on 26 Jan, Berlin time)
        (
            date(2027, 1, 1),
            date(2027, 1, 25),
            [
                row("DE", "VAT", "7", "EUR", "20.00", "1.40", 1),
                row("DE", "VAT", "19", "EUR", "150.00", "28.50", 2),
            ],
        ),
        # The credit note alone, netted in its own period
        (
            date(2027, 1, 26),
            date(2027, 1, 31),
            [row("DE", "VAT", "19", "EUR", "-40.00", "-7.60", 0, 1)],
        ),
    ],
)
def test_periods_are_days_of_the_tax_point(documents, date_from, date_to, expected):
    assert tax_report(date_from=date_from, date_to=date_to, currency=None) == expected


def test_one_currency(documents):
    assert tax_report(date_from=None, date_to=None, currency="CAD") == QUEBEC
    assert tax_report(date_from=None, date_to=None, currency="EUR") == JANUARY_EUR
    assert tax_report(date_from=None, date_to=None, currency="USD") == []


def test_rates_written_differently_are_one_row():
    customer = factories.customer("c", currency="EUR")
    invoice(customer, date(2027, 1, 10), [tax("VAT", "DE", "19", "10.00", "1.90")])
    invoice(customer, date(2027, 1, 11), [tax("VAT", "DE", "19.0000", "10.00", "1.90")])
    (only,) = tax_report(date_from=None, date_to=None, currency=None)
    assert (only["rate"], only["invoices"], only["tax_amount"]) == (Decimal(19), 2, Decimal("3.80"))
    assert str(only["rate"]) == "19"


# The staff page
PAGE = reverse("reports:tax_report")


def test_the_page_shows_the_rows_and_totals(admin_client, documents):
    response = admin_client.get(PAGE, {"from": "2027-01-01", "to": "2027-01-31"})
    assert response.status_code == 200
    assert response.context["rows"] == JANUARY_EUR
    page = response.content.decode()
    assert "<td>19%</td>" in page
    assert "110.00 EUR" in page
    assert "Total EUR" in page
    assert "22.30 EUR" in page  # 1.40 + 20.90
    assert 'href="?from=2027-01-01&amp;to=2027-01-31&amp;format=csv"' in page


def test_the_csv_has_the_same_columns(admin_client, documents):
    response = admin_client.get(PAGE, {"from": "2027-01-01", "to": "2027-02-28", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="tax-report-2027-01-01-2027-02-28.csv"'
    )
    assert response.content.decode().splitlines() == [
        "jurisdiction,name,rate,currency,taxable_amount,tax_amount,invoices,credit_notes",
        "CA-QC,GST,5,CAD,200.00,10.00,1,0",
        "CA-QC,QST,9.975,CAD,200.00,19.95,1,0",
        "DE,VAT,7,EUR,20.00,1.40,1,0",
        "DE,VAT,19,EUR,110.00,20.90,2,1",
    ]
    cad = admin_client.get(PAGE, {"currency": "cad", "format": "csv"})
    assert len(cad.content.decode().splitlines()) == 3
    assert cad["Content-Disposition"] == 'attachment; filename="tax-report-CAD.csv"'


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2027-13-01"}, "date_from"),
        ({"from": "2027-02-01", "to": "2027-01-01"}, "date_to"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
    ],
)
def test_bad_filters_show_errors_and_no_rows(admin_client, documents, params, field):
    response = admin_client.get(PAGE, params)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert response.context["rows"] == []
    csv = admin_client.get(PAGE, {**params, "format": "csv"})
    assert csv["Content-Type"].startswith("text/html")  # the form again, not a file


def test_staff_groups_see_it_and_others_do_not(client, documents):
    assert client.get(PAGE).status_code == 302  # to the admin login
    client.force_login(staff_user(None))
    assert client.get(PAGE).status_code == 403
    client.force_login(staff_user("read-only", name="reader"))
    assert client.get(PAGE).status_code == 200
    client.force_login(staff_user(None, name="half", perms=("billing.view_invoice",)))
    assert client.get(PAGE).status_code == 403  # credit notes too


def test_the_admin_index_links_it(admin_client):
    assert PAGE in admin_client.get(reverse("admin:index")).content.decode()
