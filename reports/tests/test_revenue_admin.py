"""The staff console of the revenue and ledger: the admin screens (accounts, journal, month
closes, the event cursor), the revenue page with its charts and CSV exports, "Post
recognition now", and the dashboard's MRR card — per staff group.

The books, made through billing's services and read by the reports' consumer on 10 March
2026 (the clock of every test):

    acme   1,200.00 for 2026-01-15 → 2027-01-15, invoiced 15 Jan (the issue's example):
           55.89 recognised in January, 92.06 in February, 1,052.05 deferred at its end.
    gamma  a 50.00 monthly plan from 5 Jan, cancelled at once on 20 Feb: its Jan 5 – Feb 5
           invoice recognises 43.55 in January (27 of 31 days) and 6.45 in February;
           MRR 50.00 new in January, churned in February.
    beta   a 30.00 monthly plan from 1 Feb: 30.00 recognised in February; MRR 30.00 new.

    month    billed     recognised   deferred at end   MRR start new  churn  end
    2026-01  1,250.00       99.44         1,150.56           0.00 50.00  0.00  50.00
    2026-02     30.00      128.51         1,052.05          50.00 30.00 50.00  30.00
"""

import csv
import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.admin.models import ADDITION, LogEntry
from django.db import transaction
from django.urls import reverse

from billing.invoicing.services.invoices import invoice_create, invoice_finalize
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import Invoice, InvoiceLine, LineKind
from billing.tests import factories
from reports.consumer import CONSUMER, reports_events_consume_all
from reports.models import EventCursor, JournalEntry, LedgerAccount, MonthClose
from reports.revenue_charts import Series, nice_step, short_amount, value_chart
from reports.tests.console_helpers import GROUPS, staff_user

pytestmark = pytest.mark.django_db
D = Decimal
AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
PAGE = reverse("reports:revenue")
RANGE = {"currency": "USD", "from": "2026-01", "to": "2026-02", "as_of": "2026-03-10"}
READERS = ("read-only", "support", "operations")


def at(year, month, day, hour=10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def export(name: str) -> str:
    return reverse("reports:revenue_export", args=[name])


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False):
        yield


@pytest.fixture
def books():
    acme = factories.customer("acme")
    line = InvoiceLine(
        customer=acme,
        currency="USD",
        kind=LineKind.SUBSCRIPTION,
        description="Pro, yearly",
        quantity=D(1),
        unit_amount=D("1200.00"),
        amount=D("1200.00"),
        period_start=at(2026, 1, 15, 0),
        period_end=at(2027, 1, 15, 0),
    )
    with transaction.atomic():
        draft = invoice_create(customer=acme, currency="USD", lines=[line], at=at(2026, 1, 15))
        yearly = invoice_finalize(invoice=draft, at=at(2026, 1, 15))
    gamma = factories.subscription(
        customer=factories.customer("gamma"),
        plan=factories.plan("basic", amount="50.00"),
        at=at(2026, 1, 5),
    )
    subscription_cancel(subscription=gamma, at=at(2026, 2, 20), when="immediately")
    factories.subscription(
        customer=factories.customer("beta"), plan=factories.plan("pro"), at=at(2026, 2, 1)
    )
    reports_events_consume_all(at=AT)
    return yearly


def login(client, group: str | None):
    user = staff_user(group)
    client.force_login(user)
    return user


def rows(response) -> list[list[str]]:
    content = b"".join(response) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode())))


# -- The revenue page ----------------------------------------------------------------------


def test_the_page_shows_the_books_in_tables_and_charts(client, books):
    login(client, "read-only")
    response = client.get(PAGE, RANGE)
    assert response.status_code == 200
    context = response.context
    assert context["months"] == ["2026-01", "2026-02"]
    assert [
        (m["month"], m["billed"], m["recognized"], m["deferred_end"])
        for m in context["recognition"]["months"]
    ] == [
        ("2026-01", D("1250.00"), D("99.44"), D("1150.56")),
        ("2026-02", D("30.00"), D("128.51"), D("1052.05")),
    ]
    assert [
        (m["month"], m["start"], m["new"], m["churn"], m["end"], m["arr"])
        for m in context["mrr"]["months"]
    ] == [
        ("2026-01", D("0.00"), D("50.00"), D(0), D("50.00"), D("600.00")),
        ("2026-02", D("50.00"), D("30.00"), D("50.00"), D("30.00"), D("360.00")),
    ]
    assert context["roll_forward"]["balanced"] is True
    assert context["waterfall"]["rows"][0]["cells"][:2] == [D("99.44"), D("98.51")]
    html = response.content.decode()
    for table in (
        "revenue-recognition",
        "revenue-waterfall",
        "revenue-roll-forward",
        "revenue-mrr-movements",
        "revenue-mrr-rates",
        "revenue-trial-balance",
        "revenue-ageing",
    ):
        assert f'id="{table}"' in html, table
    assert "<td>1,150.56</td>" in html
    assert "<td>1,052.05</td>" in html
    # Every chart is an SVG with its values written on it and month labels.
    for chart in ("chart-mrr", "chart-mrr-movements", "chart-recognised", "chart-deferred"):
        assert f'<svg id="{chart}" role="img"' in html, chart
    assert '<text class="value"' in html
    assert ">1,052.05</text>" in html  # February's deferred balance on its bar
    assert ">+80.00</text>" not in html  # movements are per month: +50.00, then +30.00
    assert ">+30.00</text>" in html
    assert ">-50.00</text>" in html
    assert ">Feb<tspan" in html
    assert "✓ balances" in html
    # Read-only staff see neither the post button nor the close link.
    assert "revenue-post-recognition" not in html
    assert "revenue-close-month" not in html


def test_rates_over_a_range_that_starts_with_mrr(client, books):
    login(client, "finance")
    response = client.get(PAGE, {**RANGE, "from": "2026-02"})
    rates = dict((label, value) for label, value, _ in response.context["rates"])
    assert rates["Customer churn"] == "100.00 %"  # gamma, the one customer at the start
    assert rates["Gross MRR churn"] == "100.00 %"  # 50.00 of 50.00
    assert rates["Net MRR churn"] == "100.00 %"  # new MRR is not netted
    assert rates["Net revenue retention"] == "0.00 %"


def test_defaults_are_the_last_twelve_months_and_the_default_currency(client, books, settings):
    settings.DEFAULT_CURRENCY = "EUR"  # no EUR data: the first currency with some
    login(client, "read-only")
    response = client.get(PAGE)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.cleaned_data["currency"] == "USD"
    assert str(form.cleaned_data["first"]) == "2025-04"
    assert str(form.cleaned_data["last"]) == "2026-03"
    assert form.cleaned_data["as_of"] == date(2026, 3, 10)
    assert len(response.context["months"]) == 12


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13"}, "first"),
        ({"from": "2026-03", "to": "2026-01"}, "last"),
        ({"from": "2010-01", "to": "2026-02"}, "last"),  # more than 120 months
        ({"currency": "XYZ"}, "currency"),
    ],
)
def test_bad_filters_show_errors_and_exports_go_back(client, books, params, field):
    login(client, "finance")
    response = client.get(PAGE, {**RANGE, **params})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert "months" not in response.context
    back = client.get(export("waterfall"), {**RANGE, **params})
    assert back.status_code == 302
    assert back["Location"].startswith(PAGE)


def test_staff_groups_see_the_page_and_others_do_not(client, books):
    assert client.get(PAGE).status_code == 302  # to the admin login
    login(client, None)
    assert client.get(PAGE).status_code == 403
    assert client.get(export("journal"), RANGE).status_code == 403
    for group in GROUPS:
        login(client, group)
        assert client.get(PAGE, RANGE).status_code == 200, group
        assert client.get(export("journal"), RANGE).status_code == 200, group
    assert client.get(export("nonsense"), RANGE).status_code == 404


def test_the_dashboard_links_the_page_and_shows_the_new_mrr(client, books):
    login(client, "read-only")
    html = client.get(reverse("admin:index")).content.decode()
    assert PAGE in html
    card = html[html.index('id="dashboard-mrr"') :]
    card = card[: card.index('<div class="dashboard-card')]
    assert "<strong>30.00 USD</strong>" in card  # beta: gamma has churned
    assert ">360.00 USD</a>" in card  # ARR
    assert "after recurring" in card


# -- Exports -------------------------------------------------------------------------------


def test_journal_exports_hold_the_entries_of_the_range(client, books):
    login(client, "read-only")
    entry = JournalEntry.objects.get(source=books.number)
    response = client.get(export("journal"), RANGE)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="journal-USD-2026-01-2026-02.csv"'
    )
    lines = rows(response)
    assert lines[0] == [
        "entry_id",
        "date",
        "kind",
        "source",
        "currency",
        "account",
        "debit",
        "credit",
        "memo",
    ]
    mine = [line for line in lines[1:] if line[0] == str(entry.pk)]
    assert mine == [
        [str(entry.pk), "2026-01-15", "invoice", books.number, "USD"]
        + ["accounts_receivable", "1200.00", "0.00", entry.memo],
        [str(entry.pk), "2026-01-15", "invoice", books.number, "USD"]
        + ["deferred_revenue", "0.00", "1200.00", entry.memo],
    ]
    assert len(lines) == 1 + 2 * 3  # three invoices of two lines in Jan–Feb
    # The range filters: March holds nothing posted yet.
    march = client.get(export("journal"), {**RANGE, "from": "2026-03", "to": "2026-03"})
    assert rows(march) == [lines[0]]

    xero = client.get(export("journal-xero"), RANGE)
    assert xero["Content-Disposition"] == (
        'attachment; filename="journal-USD-2026-01-2026-02-xero.csv"'
    )
    xero_rows = rows(xero)
    assert xero_rows[0][:6] == [
        "Narration",
        "Date",
        "Description",
        "AccountCode",
        "TaxRate",
        "Amount",
    ]
    narration = f"{entry.pk} invoice {books.number}"
    assert [r[:6] for r in xero_rows if r[0] == narration] == [
        [narration, "15/01/2026", entry.memo, "accounts_receivable", "Tax Exempt", "1200.00"],
        [narration, "15/01/2026", entry.memo, "deferred_revenue", "Tax Exempt", "-1200.00"],
    ]
    named = rows(client.get(export("journal-xero"), {**RANGE, "tax_rate": "No GST"}))
    assert {r[4] for r in named[1:]} == {"No GST"}

    quickbooks = rows(client.get(export("journal-quickbooks"), RANGE))
    assert quickbooks[0] == [
        "Journal No.",
        "Journal Date",
        "Currency",
        "Account Name",
        "Debits",
        "Credits",
        "Description",
        "Name",
    ]
    assert [r for r in quickbooks if r[0] == str(entry.pk)] == [
        [
            str(entry.pk),
            "01/15/2026",
            "USD",
            "accounts_receivable",
            "1200.00",
            "",
            entry.memo,
            "Acme",
        ],
        [str(entry.pk), "01/15/2026", "USD", "deferred_revenue", "", "1200.00", entry.memo, "Acme"],
    ]


def test_a_long_xero_export_comes_as_a_zip_of_files(client, books, monkeypatch):
    from reports.ledger import exports

    monkeypatch.setattr(exports, "XERO_MAX_LINES", 4)  # two entries of two lines a file
    monkeypatch.setattr(
        "reports.revenue_views.xero_batches",
        lambda entries: exports.xero_batches(entries, max_lines=4),
    )
    login(client, "finance")
    response = client.get(export("journal-xero"), RANGE)
    assert response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert names == [
        "journal-USD-2026-01-2026-02-xero-001.csv",
        "journal-USD-2026-01-2026-02-xero-002.csv",
    ]


def test_report_exports(client, books):
    login(client, "read-only")
    recognition = rows(client.get(export("recognition"), RANGE))
    assert recognition == [
        ["month", "currency", "billed", "recognized", "deferred_end"],
        ["2026-01", "USD", "1250.00", "99.44", "1150.56"],
        ["2026-02", "USD", "30.00", "128.51", "1052.05"],
    ]

    response = client.get(export("waterfall"), RANGE)
    assert response["Content-Disposition"] == (
        'attachment; filename="waterfall-USD-2026-01-2026-02.csv"'
    )
    waterfall = rows(response)
    months = [f"2026-{m:02d}" for m in range(1, 13)] + ["2027-01"]
    assert waterfall[0] == [
        "booking_month",
        "currency",
        "billed",
        *months,
        "reversed",
        "recognized_to_date",
        "remaining",
    ]
    # January's bookings: acme's year and gamma's first month; recognised to date through
    # February (the range's last month): 99.44 + 98.51; the rest of acme's year remains.
    january = waterfall[1]
    assert january[:5] == ["2026-01", "USD", "1250.00", "99.44", "98.51"]
    assert january[-3:] == ["0.00", "197.95", "1052.05"]
    assert waterfall[-1][0] == "total"

    roll = rows(client.get(export("roll-forward"), RANGE))
    assert roll == [
        ["month", "currency", "opening", "billed", "recognized", "reversed", "closing", "balanced"],
        ["2026-01", "USD", "0.00", "1250.00", "99.44", "0.00", "1150.56", "true"],
        ["2026-02", "USD", "1150.56", "30.00", "128.51", "0.00", "1052.05", "true"],
    ]

    movements = rows(client.get(export("mrr-movements"), RANGE))
    assert movements[0] == [
        "month",
        "currency",
        "start",
        "new",
        "expansion",
        "reactivation",
        "contraction",
        "churn",
        "voluntary_churn",
        "involuntary_churn",
        "end",
        "customers_at_start",
        "customers_at_end",
        "new_customers",
        "reactivated_customers",
        "churned_customers",
    ]
    assert movements[1:] == [
        ["2026-01", "USD", "0.00", "50.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"]
        + ["50.00", "0", "1", "1", "0", "0"],
        ["2026-02", "USD", "50.00", "30.00", "0.00", "0.00", "0.00", "50.00", "50.00", "0.00"]
        + ["30.00", "1", "1", "1", "0", "1"],
    ]

    # Ageing as of 10 March: acme's invoice was due 29 Jan (40 days: 31–60); beta's 15 Feb
    # (23 days: 1–30); gamma's first invoice was due 19 Jan (50 days).
    response = client.get(export("ageing"), RANGE)
    assert response["Content-Disposition"] == 'attachment; filename="ageing-USD-2026-03-10.csv"'
    ageing = rows(response)
    assert ageing[0] == [
        "as_of",
        "currency",
        "customer",
        "customer_name",
        "current",
        "days_1_30",
        "days_31_60",
        "days_61_90",
        "over_90",
        "total",
    ]
    assert ageing[1] == [
        "2026-03-10",
        "USD",
        "acme",
        "Acme",
        "0.00",
        "0.00",
        "1200.00",
        "0.00",
        "0.00",
        "1200.00",
    ]
    assert ageing[-1][:3] == ["2026-03-10", "USD", "total"]


def test_ageing_needs_the_invoices_view_permission(client, books):
    staff_only_reports = staff_user(None, name="ledger-only", perms=("reports.view_journalentry",))
    client.force_login(staff_only_reports)
    page = client.get(PAGE, RANGE)
    assert page.status_code == 200
    assert 'id="revenue-ageing"' not in page.content.decode()
    assert client.get(export("ageing"), RANGE).status_code == 403


# -- Post recognition now ------------------------------------------------------------------


def test_finance_posts_recognition_through_the_last_complete_month(client, books):
    login(client, "finance")
    html = client.get(PAGE, RANGE).content.decode()
    assert "Post recognition now (through 2026-02)" in html
    response = client.post(
        reverse("reports:revenue_recognition_post"), {"query": "currency=USD&from=2026-01"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}?currency=USD&from=2026-01"
    posted = JournalEntry.objects.filter(kind="recognition")
    gamma = Invoice.objects.get(customer__external_id="gamma").number
    beta = Invoice.objects.get(customer__external_id="beta").number
    # acme Jan and Feb, gamma Jan and Feb, beta Feb: nothing of March (not over).
    assert sorted((e.date, e.source) for e in posted) == sorted(
        [
            (date(2026, 1, 31), books.number),
            (date(2026, 2, 28), books.number),
            (date(2026, 1, 31), gamma),
            (date(2026, 2, 28), gamma),
            (date(2026, 2, 28), beta),
        ]
    )
    revenue = sum(
        (line.credit for e in posted for line in e.lines.all() if line.role == "revenue"), D(0)
    )
    assert revenue == D("99.44") + D("128.51")
    page = client.get(response["Location"])
    assert "Posted 5 recognition entries through 2026-02." in page.content.decode()
    again = client.post(reverse("reports:revenue_recognition_post"), follow=True)
    assert "Nothing to post" in again.content.decode()
    assert posted.count() == 5


@pytest.mark.parametrize("group", READERS)
def test_others_cannot_post_recognition(client, books, group):
    login(client, group)
    assert client.post(reverse("reports:revenue_recognition_post")).status_code == 403
    assert not JournalEntry.objects.filter(kind="recognition").exists()


# -- The admin screens ---------------------------------------------------------------------


def test_finance_closes_a_month_with_the_form(client, books):
    user = login(client, "finance")
    add = reverse("admin:reports_monthclose_add")
    assert "revenue-close-month" in client.get(PAGE, RANGE).content.decode()
    form = client.get(add)
    assert form.status_code == 200
    assert 'value="2026-02"' in form.content.decode()  # the last complete month
    response = client.post(add, {"month": "2026-01"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:reports_monthclose_changelist")
    close = MonthClose.objects.get()
    assert (close.month, close.closed_at) == (date(2026, 1, 1), AT)
    assert close.closed_by == f"user:{user.pk}:{user.username}"
    assert close.after_event == EventCursor.objects.get(consumer=CONSUMER).last_event_id
    assert LogEntry.objects.get(action_flag=ADDITION, object_id=str(close.pk)).user == user
    recognised = JournalEntry.objects.filter(kind="recognition")
    assert {e.date for e in recognised} == {date(2026, 1, 31)}
    listing = client.get(response["Location"]).content.decode()
    assert "2026-01 is closed" in listing
    assert f"user:{user.pk}:{user.username}" in listing
    # The form suggests the next month now.
    assert 'value="2026-02"' in client.get(add).content.decode()


@pytest.mark.parametrize(
    ("month", "error"),
    [
        ("2026-03", "2026-03 is not over yet."),
        ("2026-13", "A month is written YYYY-MM"),
    ],
)
def test_the_close_form_refuses_a_month_not_over(client, books, month, error):
    login(client, "finance")
    response = client.post(reverse("admin:reports_monthclose_add"), {"month": month})
    assert response.status_code == 200
    assert error in str(response.context["form"].errors["month"])
    assert not MonthClose.objects.exists()


def test_the_close_form_refuses_a_month_closed_already(client, books):
    login(client, "finance")
    add = reverse("admin:reports_monthclose_add")
    client.post(add, {"month": "2026-02"})
    response = client.post(add, {"month": "2026-01"})
    assert "closed already (the books are closed through 2026-02)" in str(
        response.context["form"].errors["month"]
    )
    assert MonthClose.objects.count() == 1


@pytest.mark.parametrize("group", READERS)
def test_view_only_staff_see_closes_but_no_close_form(client, books, group):
    login(client, group)
    listing = client.get(reverse("admin:reports_monthclose_changelist"))
    assert listing.status_code == 200
    assert reverse("admin:reports_monthclose_add") not in listing.content.decode()
    assert client.get(reverse("admin:reports_monthclose_add")).status_code == 403
    assert (
        client.post(reverse("admin:reports_monthclose_add"), {"month": "2026-01"}).status_code
        == 403
    )
    assert not MonthClose.objects.exists()


def test_accounts_list_and_finance_edits_a_code(client, books):
    login(client, "read-only")
    changelist = reverse("admin:reports_ledgeraccount_changelist")
    html = client.get(changelist).content.decode()
    assert html.count('class="field-code"') == 7
    assert 'name="form-0-code"' not in html  # not editable for read-only
    account = LedgerAccount.objects.get(role="revenue")
    change = reverse("admin:reports_ledgeraccount_change", args=[account.pk])
    assert client.post(change, {"code": "4000", "name": "Sales"}).status_code == 403

    login(client, "finance")
    assert 'name="form-0-code"' in client.get(changelist).content.decode()
    assert client.get(reverse("admin:reports_ledgeraccount_add")).status_code == 403
    delete = reverse("admin:reports_ledgeraccount_delete", args=[account.pk])
    assert client.get(delete).status_code == 403
    response = client.post(change, {"role": "cash", "code": "4000", "name": "Sales"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.role, account.code, account.name) == ("revenue", "4000", "Sales")


def test_the_journal_is_read_only_with_its_lines(client, books):
    login(client, "finance")
    changelist = reverse("admin:reports_journalentry_changelist")
    html = client.get(changelist).content.decode()
    assert html.count('class="field-total_debit"') == 3
    assert '<td class="field-total_debit">1200.00</td>' in html
    assert reverse("admin:reports_journalentry_add") not in html
    found = client.get(changelist, {"q": "acme"}).context["cl"].result_count
    assert found == 1
    assert client.get(changelist, {"q": books.number}).context["cl"].result_count == 1
    assert client.get(changelist, {"kind__exact": "payment"}).context["cl"].result_count == 0
    assert client.get(changelist, {"currency": "USD"}).context["cl"].result_count == 3
    entry = JournalEntry.objects.get(source=books.number)
    change = reverse("admin:reports_journalentry_change", args=[entry.pk])
    page = client.get(change)
    assert page.status_code == 200
    text = page.content.decode()
    assert "accounts_receivable" in text
    assert "1200.0000" in text
    assert client.post(change, {"memo": "changed"}).status_code == 403
    assert client.get(reverse("admin:reports_journalentry_add")).status_code == 403
    delete = reverse("admin:reports_journalentry_delete", args=[entry.pk])
    assert client.get(delete).status_code == 403


def test_the_cursor_shows_the_events_that_failed(client, books):
    cursor = EventCursor.objects.get(consumer=CONSUMER)
    cursor.failed = [{"id": 7, "error": "the posting broke"}]
    cursor.save()
    login(client, "read-only")
    page = client.get(reverse("admin:reports_eventcursor_change", args=[cursor.pk]))
    assert page.status_code == 200
    assert "the posting broke" in page.content.decode()
    listing = client.get(reverse("admin:reports_eventcursor_changelist")).content.decode()
    assert '<td class="field-failed_count">1</td>' in listing
    revenue = client.get(PAGE, RANGE).content.decode()
    assert "1</strong> could not be handled" in revenue


# -- Chart geometry ------------------------------------------------------------------------


def test_chart_scales_to_round_ticks_and_writes_values():
    chart = value_chart(
        ["2026-01", "2026-02"],
        [Series("Deferred", "#000", [D("1150.56"), D("1052.05")])],
        currency="USD",
    )
    assert [tick.label for tick in chart.ticks] == ["0.00", "500.00", "1,000.00", "1,500.00"]
    assert chart.ticks[0].y == chart.zero_y == chart.bottom
    first, second = chart.columns
    assert first.labels[0][1] == "1,150.56"
    assert (first.month_name, first.year) == ("Jan", "2026")
    # Heights in proportion: 1,150.56 of 1,500 over 200 px.
    assert first.rects[0].height == round(1150.56 / 1500 * 200, 1)
    assert second.x - first.x == 66


def test_stacked_chart_puts_losses_below_zero():
    chart = value_chart(
        ["2026-02"],
        [Series("New", "#0a0", [D("30.00")]), Series("Churn", "#a00", [D("-50.00")])],
        currency="USD",
        totals=True,
    )
    (column,) = chart.columns
    gained, lost = column.rects
    assert gained.y + gained.height == chart.zero_y
    assert lost.y == chart.zero_y
    assert [text for _, text in column.labels] == ["+30.00", "-50.00"]
    assert chart.ticks[0].label == "-60.00"
    assert "Churn -50.00" in column.title


def test_chart_helpers():
    assert nice_step(1150) == 500
    assert nice_step(80) == 20
    assert nice_step(0) == 1
    assert short_amount(D("12500.4"), "USD") == "12,500"
    assert short_amount(D("55.891"), "USD") == "55.89"
    assert short_amount(D("5000"), "JPY") == "5,000"
    empty = value_chart(["2026-01"], [Series("MRR", "#000", [D(0)])], currency="USD")
    assert [tick.label for tick in empty.ticks] == ["0.00", "1.00"]
