"""The staff dashboard on the admin index: today's figures and a chart, each block only for
staff who may view its data."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from provisioning.models import DriftAuditRun, DriftFinding
from reports.consumer import reports_events_consume_all
from reports.selectors import DayCounts
from reports.templatetags.reports_console import money, stacked_bars
from reports.tests.console_helpers import AT, GROUPS, full_customer, staff_user

pytestmark = pytest.mark.django_db

BLOCKS = ("dashboard-mrr", "dashboard-payments", "dashboard-overdue", "dashboard-orders")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False):
        yield


def index(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def test_figures_of_the_day(client, admin_user):
    full_customer()  # one subscription of 30.00, one invoice overdue, a payment failed today…
    open_invoice(factories.customer("eur-co", currency="EUR"), "7.5", at=AT - timedelta(days=60))
    late = factories.customer("late")
    factories.subscription(customer=late, plan=factories.plan("late", amount="5.00"), at=AT)
    run = DriftAuditRun.objects.create(started_at=AT, findings_count=1)
    DriftFinding.objects.create(
        run=run, customer=factories.customer("drifty"), kind="seats_over", detail="3 > 2"
    )
    reports_events_consume_all(at=AT)  # the MRR card reads the reports' MRR history
    html = index(client, admin_user)
    for block in (*BLOCKS, "dashboard-drift"):
        assert f'id="{block}"' in html, block
    assert "<strong>35.00 USD</strong>" in html  # MRR
    assert "<strong>1</strong> today, <strong>1</strong> in 7 days" in html
    assert "<strong>1</strong> for 7.50 EUR" in html
    assert "<strong>1</strong> failed" in html  # orders
    assert "<strong>1</strong> open finding" in html
    assert '<svg id="payments-chart" role="img"' in html
    assert 'class="bar-failed"' in html
    assert '<svg id="subscriptions-chart" role="img"' in html
    assert "1 activated, 0 canceled" in html
    assert "More seats assigned than purchased: 1" in html
    assert 'id="dashboard-customer-search"' in html
    assert "Site administration" in html or 'id="content-main"' in html  # the app list stays


def test_empty_dashboard(client, admin_user):
    html = index(client, admin_user)
    assert "No paying subscription." in html
    assert "No audit has run yet." in html


@pytest.mark.parametrize("group", GROUPS)
def test_every_staff_group_sees_it(client, group):
    html = index(client, staff_user(group))
    for block in (*BLOCKS, "dashboard-drift"):
        assert f'id="{block}"' in html, (group, block)


def test_only_the_blocks_the_user_may_view(client):
    user = staff_user(None, perms=("billing.view_invoice", "customers.view_customer"))
    html = index(client, user)
    assert 'id="dashboard-overdue"' in html
    for block in ("dashboard-mrr", "dashboard-payments", "dashboard-orders", "dashboard-drift"):
        assert f'id="{block}"' not in html
    assert "payments-chart" not in html
    assert "subscriptions-chart" not in html


def test_staff_without_permissions_sees_no_dashboard(client):
    assert "staff-dashboard" not in index(client, staff_user(None))


def test_chart_geometry_scales_to_the_busiest_day():
    days = [
        DayCounts(AT.date() - timedelta(days=2), 0, 0),
        DayCounts(AT.date() - timedelta(days=1), 3, 1),
        DayCounts(AT.date(), 1, 1),
    ]
    chart = stacked_bars(days, height=80)
    assert chart.peak == 4
    assert chart.width == 3 * 13 - 3
    empty, busy, small = chart.bars
    assert (empty.h_ok, empty.h_bad) == (0, 0)
    assert (busy.h_ok, busy.h_bad, busy.y_ok, busy.y_bad) == (60, 20, 20, 0)
    assert (small.h_ok, small.h_bad) == (20, 20)
    assert small.label.endswith("1 succeeded, 1 failed")
    assert stacked_bars([]).bars == []


def test_money_filter():
    from decimal import Decimal

    assert money(Decimal("1234.5"), "USD") == "1,234.50 USD"
    assert money(Decimal("1000"), "JPY") == "1,000 JPY"
    assert money(None, "USD") == "-"


def test_only_on_the_site_index_not_on_an_app_index(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:app_list", args=["billing"]))
    assert response.status_code == 200
    assert "staff-dashboard" not in response.content.decode()
    assert "Subscriptions" in response.content.decode()


def test_dashboard_queries_do_not_grow_with_the_rows(client, admin_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    full_customer("first")
    client.force_login(admin_user)
    client.get(reverse("admin:index"))  # warm the caches
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:index"))
    for i in range(5):
        full_customer(f"more-{i}")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("admin:index"))
    assert len(many) == len(few) <= 20
