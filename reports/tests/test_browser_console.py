"""The console in a real browser: a finance user signs in to the admin, sees the dashboard,
opens a customer's 360 page from the customer list, writes an invoice off with the admin
action, and finds it on the 360 timeline with their name."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from billing.models import InvoiceStatus
from reports.consumer import reports_events_consume_all
from reports.tests.console_helpers import full_customer

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_writes_off_an_invoice_and_sees_it_on_the_360(page, screenshot):
    page.set_viewport_size({"width": 1400, "height": 900})
    customer, _, invoice = full_customer(at=timezone.now())  # the live server's clock
    reports_events_consume_all(at=timezone.now())  # the MRR card reads the MRR history
    user = get_user_model().objects.create_user("fiona", password="pw-fiona", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))

    page.goto("/admin/login/")
    page.get_by_label("Username").fill("fiona")
    page.get_by_label("Password").fill("pw-fiona")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    dashboard = page.locator(".staff-dashboard")
    assert "30.00 USD" in dashboard.locator("#dashboard-mrr").inner_text()
    assert "1 for 10.00 USD" in dashboard.locator("#dashboard-payments").inner_text()
    assert page.locator("#ageing-chart-USD text.value").count() == 5  # a value on every bar
    screenshot(page, "console_dashboard")

    page.goto("/admin/customers/customer/")
    page.get_by_role("link", name="Customer 360").first.click()
    page.wait_for_url(re.compile(rf".*/admin/reports/customers/{customer.pk}/$"))
    assert page.get_by_role("heading", name=re.compile("Subscriptions")).is_visible()
    assert invoice.number in page.locator("#c360-invoices").inner_text()
    screenshot(page, "console_customer_360")

    page.locator("#c360-invoices").get_by_role("link", name=invoice.number).click()
    page.get_by_role("link", name="Customer 360").wait_for()  # back link on the invoice
    page.goto("/admin/billing/invoice/")
    page.locator(f'input[name="_selected_action"][value="{invoice.pk}"]').check()
    page.locator('select[name="action"]').select_option("mark_uncollectible_selected")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Reason").fill("Customer insolvent")  # the confirmation page
    page.get_by_role("button", name="Yes, write off").click()
    assert "Written off: 1." in page.locator(".messagelist").inner_text()

    page.goto(f"/admin/reports/customers/{customer.pk}/")
    timeline = page.locator("#c360-timeline").inner_text()
    assert "invoice.marked_uncollectible" in timeline
    assert f"fiona (user #{user.pk})" in timeline
    assert "Written off (admin action)." in timeline
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
