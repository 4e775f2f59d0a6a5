"""The console at 1280 and 1400 px wide: the change lists staff use all day and the dashboard
fit the window — the last column (the customer 360 link, the payment columns) is on screen,
not cut off by the list's scroll box or the window (reports/static/reports/console.css)."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from reports.consumer import reports_events_consume_all
from reports.tests.console_helpers import full_customer

pytestmark = pytest.mark.django_db(transaction=True)

LISTS = {
    "customers": "/admin/customers/customer/",
    "payments": "/admin/billing/payment/",
    "invoices": "/admin/billing/invoice/",
    "subscriptions": "/admin/billing/subscription/",
}
# The right edge of every row's last cell, of the list's scroll box and of the window, and
# how wide the document scrolls.
LIST_EDGES = """() => {
  const table = document.querySelector('#result_list');
  const cells = [...table.querySelectorAll('tr')].map(row => row.lastElementChild);
  return {
    last: Math.max(...cells.map(cell => cell.getBoundingClientRect().right)),
    box: table.parentElement.getBoundingClientRect().right,
    window: window.innerWidth,
    scroll: document.scrollingElement.scrollWidth,
    rows: table.querySelectorAll('tbody tr').length,
  };
}"""
DASHBOARD_EDGES = """() => {
  const parts = [...document.querySelectorAll(
    '.staff-dashboard, .dashboard-card, .staff-dashboard svg, .staff-dashboard table'
  )];
  return {
    last: Math.max(...parts.map(part => part.getBoundingClientRect().right)),
    window: window.innerWidth,
    scroll: document.scrollingElement.scrollWidth,
  };
}"""


@pytest.fixture
def books():
    at = timezone.now()  # the live server's clock
    full_customer("acme", at=at)
    full_customer("globex-international-holdings-emea-subsidiary", at=at)
    reports_events_consume_all(at=at)


def sign_in(page):
    get_user_model().objects.create_superuser("ada", "ada@example.com", "pw-ada")
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("pw-ada")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


@pytest.mark.parametrize("width", [1280, 1400])
def test_the_change_lists_and_the_dashboard_fit(page, books, screenshot, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page)
    for name, path in LISTS.items():
        page.goto(path)
        edges = page.evaluate(LIST_EDGES)
        assert edges["rows"] >= 2, (name, edges)
        assert edges["last"] <= edges["box"] + 0.5, (name, width, edges)
        assert edges["last"] <= width, (name, width, edges)
        assert edges["scroll"] <= width, (name, width, edges)
        if name == "customers":
            link = page.get_by_role("link", name="Customer 360").first
            assert link.is_visible()
            assert link.bounding_box()["x"] + link.bounding_box()["width"] <= edges["box"]
        if name == "payments" and width == 1280:
            screenshot(page, "admin-payments-1280")

    page.goto("/admin/")
    edges = page.evaluate(DASHBOARD_EDGES)
    assert edges["last"] <= width, edges
    assert edges["scroll"] <= width, edges
    assert page.locator("#dashboard-ageing").is_visible()
    assert page.locator("svg#mrr-chart-USD").is_visible()
    if width == 1280:
        screenshot(page, "admin-dashboard")
