"""The customer 360 page: one read-only screen in the admin's chrome, for staff who may view
customers, linked from the admin pages, with a bounded number of queries."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import BillingEvent, DunningCampaign, DunningCase
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from customers.services import contact_create
from provisioning.services import accounts
from provisioning.services.entitlements import entitlements_sync
from provisioning.tests.entitlement_helpers import Catalog, subscribe, use
from reports.tests.console_helpers import AT, GROUPS, full_customer, order, payment, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False):
        yield


def page_url(customer) -> str:
    return reverse("reports:customer_360", args=[customer.pk])


def test_url_is_under_the_admin():
    assert page_url(factories.customer()).startswith("/admin/reports/customers/")


def test_shows_every_section(client, admin_user):
    customer, sub, overdue = full_customer()
    client.force_login(admin_user)
    response = client.get(page_url(customer))
    assert response.status_code == 200
    html = response.content.decode()
    # the admin chrome
    assert 'id="site-name"' in html
    assert "Customer 360" in html
    for section in (
        "c360-profile",
        "c360-subscriptions",
        "c360-invoices",
        "c360-payments",
        "c360-balance",
        "c360-dunning",
        "c360-entitlements",
        "c360-orders",
        "c360-timeline",
    ):
        assert f'id="{section}"' in html, section
    assert customer.email in html
    assert reverse("admin:billing_subscription_change", args=[sub.pk]) in html
    assert reverse("admin:billing_invoice_change", args=[overdue.pk]) in html
    assert "Your card was declined." in html
    assert "subscription.activated" in html or "subscription.created" in html
    assert "MRR 30.00 USD" in html
    assert "Overdue: <strong>" in html


def test_usage_against_quotas_and_entitlements(client, admin_user):
    cat = Catalog()
    customer = factories.customer("metered")
    sub = subscribe(customer, cat.pro, at=AT - timedelta(days=1))
    accounts.account_activate(customer=customer, at=AT)
    entitlements_sync(customer=customer, at=AT)
    use(sub, "api_calls", 7, at=AT - timedelta(hours=1))
    client.force_login(admin_user)
    html = client.get(page_url(customer)).content.decode()
    assert "access: active" in html
    access_list = reverse("admin:provisioning_customeraccess_changelist")
    link = f"{access_list}?customer__id__exact={customer.pk}"
    assert f'<a href="{link}">suspend or restore</a>' in html
    listed = client.get(link)
    assert listed.status_code == 200
    assert [row.customer_id for row in listed.context["cl"].result_list] == [customer.pk]
    assert "api_quota" in html
    assert "<td>7</td>" in html  # used
    assert "<td>5000</td>" in html  # limit
    assert "<td>4993</td>" in html  # remaining


def test_timeline_shows_who_and_when(client, admin_user):
    customer = factories.customer()
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=AT)
    finance = staff_user("finance", name="fiona")
    subscription_cancel(
        subscription=sub, at=AT, when="immediately", reason="too expensive", actor=finance
    )
    client.force_login(admin_user)
    html = client.get(page_url(customer)).content.decode()
    assert "subscription.canceled" in html
    assert f"fiona (user #{finance.pk})" in html
    assert AT.strftime("%Y-%m-%d %H:%M") in html


def test_admin_action_appears_on_the_timeline_with_its_user(client):
    customer, _, invoice = full_customer()
    finance = staff_user("finance", name="fiona")
    client.force_login(finance)
    response = client.post(
        reverse("admin:billing_invoice_changelist"),
        {
            "action": "mark_uncollectible_selected",
            "_selected_action": [invoice.pk],
            "post": "yes",  # the confirmation page, with its reason
            "reason": "insolvent",
        },
    )
    assert response.status_code == 302
    event = BillingEvent.objects.get(kind="invoice.marked_uncollectible")
    assert event.actor == f"user:{finance.pk}:fiona"
    html = client.get(page_url(customer)).content.decode()
    assert "invoice.marked_uncollectible" in html
    assert "Written off (admin action)." in html  # the admin log entry, by fiona
    assert html.count(f"fiona (user #{finance.pk})") >= 2


def more_of_everything(customer, n):
    plan = factories.plan(code=f"extra-{customer.pk}-{n}", amount="5.00")
    for i in range(n):
        factories.subscription(customer=customer, plan=plan, at=AT - timedelta(days=i))
        invoice = open_invoice(customer, amount="3.00", at=AT - timedelta(days=i))
        payment(customer, status="failed", at=AT - timedelta(minutes=i), invoice=invoice)
        order(customer, status="failed")
        contact_create(customer=customer, name=f"c{i}", email=f"c{i}@example.com")


def queries_for(client, customer) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page_url(customer)).status_code == 200
    return len(queries)


def test_queries_do_not_grow_with_the_rows(client, admin_user):
    client.force_login(admin_user)
    small, _, _ = full_customer("small")
    big, _, _ = full_customer("big")
    more_of_everything(big, 6)
    queries_for(client, small)  # warm the content type cache
    few = queries_for(client, small)
    many = queries_for(client, big)
    assert many == few
    assert few <= 40


@pytest.mark.parametrize("group", GROUPS)
def test_every_staff_group_sees_it(client, group):
    customer, _, _ = full_customer()
    client.force_login(staff_user(group))
    response = client.get(page_url(customer))
    assert response.status_code == 200
    assert 'id="c360-invoices"' in response.content.decode()


def test_staff_without_the_permission_is_refused(client):
    customer = factories.customer()
    client.force_login(staff_user(None))
    assert client.get(page_url(customer)).status_code == 403


def test_a_section_needs_its_own_view_permission(client):
    customer, _, _ = full_customer()
    client.force_login(staff_user(None, perms=("customers.view_customer",)))
    html = client.get(page_url(customer)).content.decode()
    assert 'id="c360-profile"' in html
    assert 'id="c360-invoices"' not in html
    assert 'id="c360-timeline"' not in html


def test_anonymous_and_non_staff_go_to_the_admin_login(client, django_user_model):
    customer = factories.customer()
    response = client.get(page_url(customer))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    client.force_login(django_user_model.objects.create_user("joe", password="x"))
    assert client.get(page_url(customer)).status_code == 302


def test_read_only_page(client, admin_user):
    customer = factories.customer()
    client.force_login(admin_user)
    assert client.post(page_url(customer)).status_code == 405


def test_unknown_customer_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("reports:customer_360", args=[999999])).status_code == 404


def test_linked_from_the_admin_pages(client, admin_user):
    customer, sub, invoice = full_customer()
    pay = payment(customer, status="succeeded")
    the_order = order(customer)
    case = DunningCase.objects.create(
        customer=customer,
        invoice=invoice,
        campaign=DunningCampaign.objects.get(is_default=True),
        started_at=AT,
    )
    target = page_url(customer)
    client.force_login(admin_user)
    pages = [
        reverse("admin:customers_customer_changelist"),
        reverse("admin:customers_customer_change", args=[customer.pk]),
        reverse("admin:billing_subscription_change", args=[sub.pk]),
        reverse("admin:billing_invoice_change", args=[invoice.pk]),
        reverse("admin:billing_payment_change", args=[pay.pk]),
        reverse("admin:provisioning_order_change", args=[the_order.pk]),
        reverse("admin:billing_dunningcase_change", args=[case.pk]),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert f'href="{target}"' in response.content.decode(), page
    html = client.get(target).content.decode()
    assert reverse("admin:billing_dunningcase_change", args=[case.pk]) in html  # and back


def test_no_link_for_staff_who_may_not_view_customers(client):
    _, _, invoice = full_customer()
    client.force_login(staff_user(None, perms=("billing.view_invoice",)))
    response = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert response.status_code == 200
    assert "customer-360-link" not in response.content.decode()


def test_the_filtered_lists_it_links_to_are_accepted(client, admin_user):
    customer, _, _ = full_customer()
    client.force_login(admin_user)
    for name in ("billing_invoice", "billing_payment", "billing_billingevent"):
        url = f"{reverse(f'admin:{name}_changelist')}?customer__id__exact={customer.pk}"
        response = client.get(url)
        assert response.status_code == 200, url  # an unknown lookup redirects with ?e=1
