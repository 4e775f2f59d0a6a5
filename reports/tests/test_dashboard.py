"""The staff dashboard on the admin index: a date range (last 30 days by default), its figures
per currency each linked to the admin list that counts the same rows, charts with axes, and
each block only for staff who may view its data."""

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.urls import reverse

from billing.models import BillRun, Payment
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from provisioning.models import DriftAuditRun, DriftFinding, FulfillmentStep
from reports.consumer import reports_events_consume_all
from reports.dashboard import (
    DateRange,
    default_range,
    orders_not_progressing,
    receivables_ageing_totals,
)
from reports.revenue_charts import Series, value_chart
from reports.templatetags.reports_console import money
from reports.tests.console_helpers import AT, GROUPS, full_customer, order, payment, staff_user

pytestmark = pytest.mark.django_db

BLOCKS = (
    "dashboard-mrr",
    "dashboard-churn",
    "dashboard-payments",
    "dashboard-review",
    "dashboard-ageing",
    "dashboard-orders",
    "dashboard-bill-runs",
    "dashboard-drift",
)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False):
        yield


def index(client, user, query: str = "") -> str:
    client.force_login(user)
    response = client.get(reverse("admin:index") + query)
    assert response.status_code == 200
    return response.content.decode()


def block(html: str, block_id: str) -> str:
    """The HTML of one dashboard card."""
    start = html.index(f'id="{block_id}"')
    end = html.find('<div class="dashboard-card', start)
    return html[start : end if end > 0 else len(html)]


def links(html: str) -> list[tuple[str, str]]:
    """(href, text without tags) of every link."""
    found = re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html, re.S)
    return [
        (unescape(href), " ".join(re.sub(r"<[^>]+>", "", text).split())) for href, text in found
    ]


def link(html: str, text: str, under: str = "") -> str:
    hrefs = [href for href, label in links(html) if text in label and href.startswith(under)]
    assert hrefs, (text, links(html))
    return hrefs[0]


def listed(client, href: str) -> int:
    """How many rows the admin change list at `href` shows (its filters applied)."""
    response = client.get(href)
    assert response.status_code == 200, href  # a bad filter redirects to ?e=1
    return response.context_data["cl"].result_count


@pytest.fixture
def books():
    """Two currencies of known figures on 2026-03-10 12:00 UTC (the default range is
    2026-02-09 to 2026-03-10)."""
    customer, _, overdue = full_customer()  # 30.00 USD/month; 25.00 due 26 days ago (1–30)
    # …a payment failed an hour ago (10.00 USD) and an order failed.
    late = factories.customer("late")
    factories.subscription(
        customer=late, plan=factories.plan("late", amount="5.00"), at=AT - timedelta(days=5)
    )
    eur = factories.customer("eur-co", currency="EUR")
    open_invoice(eur, "7.5", at=AT - timedelta(days=60))  # due 46 days ago: 31–60
    open_invoice(eur, "100", at=AT - timedelta(days=120))  # due 106 days ago: over 90
    payment(eur, status="failed", at=AT - timedelta(days=3), amount="40.00")
    payment(eur, status="failed", at=AT - timedelta(days=45), amount="99.00")  # before the range
    held = payment(customer, status="pending", amount="12.00")
    Payment.objects.filter(pk=held.pk).update(status="review", review_reason="velocity")
    BillRun.objects.create(
        as_of=AT - timedelta(days=5), status="completed_with_failures", customers_failed=2
    )
    BillRun.objects.create(as_of=AT - timedelta(days=2), status="failed")
    BillRun.objects.create(as_of=AT - timedelta(days=50), status="failed")  # before the range
    BillRun.objects.create(as_of=AT - timedelta(days=1), status="completed")
    order(customer, status="received", at=AT - timedelta(hours=3))  # stuck
    order(customer, status="in_progress", at=AT - timedelta(hours=2))  # stuck
    order(customer, status="received", at=AT - timedelta(minutes=10))  # just arrived
    run = DriftAuditRun.objects.create(started_at=AT, findings_count=1)
    DriftFinding.objects.create(run=run, customer=eur, kind="seats_over", detail="3 > 2")
    reports_events_consume_all(at=AT)  # the MRR history the revenue figures read
    return customer, eur


def test_every_figure_of_the_default_range_and_the_list_it_links_to(client, admin_user, books):
    html = index(client, admin_user)
    assert "Dashboard: 2026-02-09 to 2026-03-10 (UTC)" in html
    for block_id in BLOCKS:
        assert f'id="{block_id}"' in html, block_id

    mrr = block(html, "dashboard-mrr")
    usd = mrr[mrr.index('data-currency="USD"') :]
    assert "<strong>35.00 USD</strong>" in usd
    assert "420.00 USD" in usd  # ARR
    assert re.search(r"MRR at the start \(2026-02-09\)</th><td[^>]*>30.00 USD", usd)
    assert re.search(r"New</th><td[^>]*>\+5.00 USD", usd)  # "late" started 5 days ago
    revenue = link(usd, "35.00 USD")
    assert revenue.startswith(reverse("reports:revenue") + "?from=2026-02&to=2026-03")
    assert "currency=USD" in revenue
    assert client.get(revenue).status_code == 200
    assert (
        listed(client, link(usd, "2", "/admin/billing/subscription/")) == 2
    )  # subscriptions counting

    payments = block(html, "dashboard-payments")
    assert "<strong>1</strong> for 40.00 EUR" in payments
    assert "<strong>1</strong> for 10.00 USD" in payments
    for text in ("40.00 EUR", "10.00 USD"):
        assert listed(client, link(payments, text)) == 1
    assert "failed_at__gte=2026-02-09T00%3A00%3A00%2B00%3A00" in link(payments, "10.00 USD")

    review = block(html, "dashboard-review")
    assert "<strong>1</strong> held for 12.00 USD" in review
    assert listed(client, link(review, "12.00 USD")) == 1

    ageing = block(html, "dashboard-ageing")
    usd = ageing[ageing.index('data-currency="USD"') :]
    # Issued on 29 January, due on 12 February: the 25.00 invoice and the first 30.00 one.
    assert re.search(r'data-bucket="days_1_30"><a href="[^"]+">55.00 USD</a>', usd)
    assert re.search(r'data-bucket="current"><a href="[^"]+">5.00 USD</a>', usd)  # "late"
    eur = ageing[ageing.index('data-currency="EUR"') : ageing.index('data-currency="USD"')]
    assert re.search(r'data-bucket="days_31_60"><a href="[^"]+">7.50 EUR</a>', eur)
    assert re.search(r'data-bucket="over_90"><a href="[^"]+">100.00 EUR</a>', eur)
    assert "<strong>107.50 EUR</strong>" in eur
    for text, count in (("55.00 USD", 2), ("7.50 EUR", 1), ("100.00 EUR", 1), ("107.50", 2)):
        assert listed(client, link(usd if "USD" in text else eur, text)) == count, text
    assert listed(client, link(usd, "5.00 USD")) == 1
    assert listed(client, link(eur, "0.00 EUR")) == 0  # current

    orders = block(html, "dashboard-orders")
    assert "<strong>2</strong> not progressing for over an hour" in orders
    assert listed(client, link(orders, "not progressing")) == 2
    assert "<strong>1</strong> failed" in orders
    assert listed(client, link(orders, "failed")) == 1

    runs = block(html, "dashboard-bill-runs")
    assert "<strong>2</strong> with failures in the range" in runs
    assert "(2 customers failed)" in runs
    assert listed(client, link(runs, "with failures")) == 2

    drift = block(html, "dashboard-drift")
    assert "<strong>1</strong> open finding" in drift
    assert listed(client, link(drift, "open finding")) == 1

    churn = block(html, "dashboard-churn")
    assert listed(client, link(churn, "voluntary")) == 0

    # The charts: axes, month and bucket labels, values written on the bars.
    assert '<svg id="mrr-chart-USD" role="img"' in html
    assert '<svg id="ageing-chart-EUR" role="img"' in html
    chart = html[html.index('<svg id="ageing-chart-EUR"') :]
    chart = chart[: chart.index("</svg>")]
    assert 'class="axis"' in chart
    assert ">Over 90<tspan" in chart
    assert ">100.00</text>" in chart
    assert 'id="dashboard-customer-search"' in html
    assert 'id="content-main"' in html  # the app list stays


def test_a_chosen_range(client, admin_user, books):
    html = index(client, admin_user, "?from=2026-01-01&to=2026-01-31")
    assert "Dashboard: 2026-01-01 to 2026-01-31 (UTC)" in html
    assert 'id="dashboard-range-errors"' not in html
    assert 'value="2026-01-01"' in html
    payments = block(html, "dashboard-payments")
    assert "99.00 EUR" in payments  # failed 45 days before AT: 24 January
    assert "10.00 USD" not in payments
    assert listed(client, link(payments, "99.00 EUR")) == 1
    runs = block(html, "dashboard-bill-runs")
    assert "<strong>1</strong> with failures in the range" in runs
    ageing = block(html, "dashboard-ageing")
    assert "Receivables ageing as of 2026-01-31" in ageing
    usd = ageing[ageing.index('data-currency="USD"') :]
    assert re.search(r'data-bucket="current"><a href="[^"]+">55.00 USD</a>', usd)
    assert listed(client, link(usd, "55.00 USD")) == 2  # both invoices issued on 29 January
    assert "Movements, 2026-01 to 2026-01" in html


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("?from=2026-03-01&to=2026-02-01", "The range ends before it starts."),
        ("?from=yesterday", "From: Enter a valid date."),
        ("?from=2026-03-01&to=2026-04-01", "The range cannot end after today."),
        ("?from=2024-01-01&to=2026-03-01", "At most 366 days at once."),
    ],
)
def test_a_bad_range_shows_why_and_the_last_30_days(client, admin_user, query, error):
    html = index(client, admin_user, query)
    errors = block(html, "dashboard-range-errors")
    assert error in errors
    assert "Showing the last 30 days instead." in errors
    assert "Dashboard: 2026-02-09 to 2026-03-10 (UTC)" in html


def test_the_default_range_is_the_last_30_days():
    period = default_range(AT)
    assert (period.first.isoformat(), period.last.isoformat(), period.days) == (
        "2026-02-09",
        "2026-03-10",
        30,
    )
    assert period.months == ["2026-02", "2026-03"]
    assert period.end.isoformat() == "2026-03-11T00:00:00+00:00"
    assert period.end_at(AT) == AT


def test_empty_dashboard(client, admin_user):
    html = index(client, admin_user)
    assert "No paying subscription." in html
    assert "Nothing owed." in html
    assert "No audit has run yet." in html
    assert "<strong>0</strong> with failures in the range" in html


@pytest.mark.parametrize("group", GROUPS)
def test_every_staff_group_sees_it(client, group):
    html = index(client, staff_user(group))
    for block_id in BLOCKS:
        assert f'id="{block_id}"' in html, (group, block_id)


def test_only_the_blocks_the_user_may_view(client, books):
    user = staff_user(None, perms=("billing.view_invoice", "customers.view_customer"))
    html = index(client, user)
    assert 'id="dashboard-ageing"' in html
    for block_id in set(BLOCKS) - {"dashboard-ageing"}:
        assert f'id="{block_id}"' not in html, block_id
    assert "mrr-chart" not in html
    assert "30.00 USD" not in html


def test_support_without_the_reports_permission_sees_no_revenue(client, books):
    """A support user whose group lost the reports' view permission: payments, orders and
    ageing, but no MRR, ARR or deferred revenue."""
    from django.contrib.auth.models import Group

    support = Group.objects.get(name="support")
    support.permissions.remove(*support.permissions.filter(content_type__app_label="reports"))
    html = index(client, staff_user("support"))
    assert 'id="dashboard-mrr"' not in html
    assert "mrr-chart" not in html
    assert "360.00 USD" not in html
    for block_id in ("dashboard-payments", "dashboard-review", "dashboard-ageing"):
        assert f'id="{block_id}"' in html


def test_staff_without_permissions_sees_no_dashboard(client):
    assert "staff-dashboard" not in index(client, staff_user(None))


def test_only_on_the_site_index_not_on_an_app_index(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:app_list", args=["billing"]))
    assert response.status_code == 200
    assert "staff-dashboard" not in response.content.decode()
    assert "Subscriptions" in response.content.decode()


def test_dashboard_queries_are_few_and_do_not_grow_with_the_rows(client, admin_user, books):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(admin_user)
    client.get(reverse("admin:index"))  # warm the caches
    with CaptureQueriesContext(connection) as first:
        client.get(reverse("admin:index"))
    # 26 reads: 14 + 6 per currency (PostgreSQL adds, per currency, the savepoint and the
    # two SET LOCALs of the movements query).
    plumbing = ("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL")
    reads = [q for q in first.captured_queries if not q["sql"].startswith(plumbing)]
    assert len(reads) <= 30, "\n".join(q["sql"][:120] for q in reads)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:index"))
    for i in range(5):
        full_customer(f"more-{i}")
    reports_events_consume_all(at=AT)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("admin:index"))
    assert len(many) == len(few)


def test_orders_stuck_not_progressing_failed_and_waiting_for_an_operator():
    customer = factories.customer()
    order(customer, status="failed")
    waiting = order(customer, status="in_progress", at=AT - timedelta(minutes=5))
    FulfillmentStep.objects.create(order=waiting, key="ok", step_type="manual_approval")
    FulfillmentStep.objects.filter(order=waiting).update(status="waiting")
    order(customer, status="received", at=AT - timedelta(hours=2))
    order(customer, status="completed", at=AT - timedelta(days=2))
    stuck = orders_not_progressing(now=AT)
    assert (stuck.not_progressing, stuck.failed, stuck.waiting) == (1, 1, 1)
    assert stuck.threshold_label == "an hour"
    assert orders_not_progressing(now=AT, threshold=timedelta(minutes=1)).not_progressing == 2


def test_ageing_totals_and_their_filters():
    customer = factories.customer("agey")
    open_invoice(customer, "10", at=AT - timedelta(days=10))  # due in 4 days: current
    (section,) = receivables_ageing_totals(as_of=AT.date())
    assert [b.amount for b in section.buckets] == [Decimal("10.00")] + [Decimal("0.00")] * 4
    assert "due_at__gte=2026-03-10T00%3A00%3A00%2B00%3A00" in section.buckets[0].query
    assert "due_at__lt=2026-03-10" in section.buckets[1].query


def test_a_chart_of_buckets_writes_their_names():
    chart = value_chart(
        ["Current", "Over 90 days"],
        [Series("Owed", "#c62828", [Decimal("5"), Decimal("1")])],
        currency="USD",
        column_labels=[("Current", ""), ("Over 90", "days")],
    )
    assert [(c.month_name, c.year) for c in chart.columns] == [("Current", ""), ("Over 90", "days")]


def test_money_filter():
    assert money(Decimal("1234.5"), "USD") == "1,234.50 USD"
    assert money(Decimal("1000"), "JPY") == "1,000 JPY"
    assert money(None, "USD") == "-"


def test_date_range_of_one_day():
    from datetime import date

    period = DateRange(date(2026, 2, 28), date(2026, 2, 28))
    assert period.days == 1
    assert period.months == ["2026-02"]
