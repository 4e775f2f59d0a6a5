"""The admin index grouped by job (config/admin_site.py): every model has its group, staff
see the groups in the set order, and dj-stripe's models only superusers see."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from config.admin_site import GROUP_ORDER, OTHER, SECTIONS, StaffAdminSite, section_of
from portal.tests.test_csp import assert_no_inline
from reports.tests.console_helpers import GROUPS, staff_user

pytestmark = pytest.mark.django_db

JOBS = ["Billing", "Revenue", "Payments", "Provisioning", "Customers", "Settings"]


def index_groups(user) -> list[dict]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return admin.site.get_app_list(request)


def names(groups) -> list[str]:
    return [group["name"] for group in groups]


def test_the_site_is_ours_and_keeps_the_admin_urls():
    assert isinstance(admin.site._wrapped, StaffAdminSite)
    assert reverse("admin:index") == "/admin/"
    assert reverse("admin:billing_invoice_changelist") == "/admin/billing/invoice/"
    assert reverse("admin:app_list", args=["billing"]) == "/admin/billing/"
    assert reverse("admin:section", args=["billing"]) == "/admin/section/billing/"


def test_every_registered_model_has_a_group():
    left_out = [
        model._meta.label_lower
        for model in admin.site._registry
        if section_of(model._meta.label_lower)[0] == OTHER
    ]
    assert left_out == []


def test_every_model_named_in_the_map_is_registered():
    registered = {model._meta.label_lower for model in admin.site._registry}
    apps = {model._meta.app_label for model in admin.site._registry}
    named = [entry for _, entries in SECTIONS for entry in entries]
    stale = [
        e for e in named if ("." in e and e not in registered) or ("." not in e and e not in apps)
    ]
    assert stale == []


def test_the_jobs_come_first_in_the_issues_order():
    assert GROUP_ORDER[: len(JOBS)] == JOBS
    assert GROUP_ORDER[-2:] == ["Stripe (dj-stripe)", OTHER]


@pytest.mark.parametrize("group", GROUPS)
def test_staff_see_the_jobs_in_order_and_no_stripe(group):
    groups = index_groups(staff_user(group))
    assert names(groups) == [*JOBS, "System"]
    labels = {m["model"]._meta.app_label for g in groups for m in g["models"]}
    assert "djstripe" not in labels
    assert "auth" not in labels  # staff users and groups: superusers


def test_finance_index_in_order_with_the_billing_models_by_job():
    groups = {g["name"]: g for g in index_groups(staff_user("finance"))}
    billing = [m["model"]._meta.label_lower for m in groups["Billing"]["models"]]
    assert billing[:3] == ["billing.subscription", "billing.invoice", "billing.creditnote"]
    payments = [m["model"]._meta.label_lower for m in groups["Payments"]["models"]]
    assert payments[:2] == ["billing.payment", "billing.refund"]
    revenue = [m["model"]._meta.label_lower for m in groups["Revenue"]["models"]]
    assert revenue[0] == "reports.journalentry"
    assert groups["Billing"]["app_url"] == "/admin/section/billing/"
    invoices = groups["Billing"]["models"][1]
    assert invoices["admin_url"] == reverse("admin:billing_invoice_changelist")


def test_superusers_also_see_settings_system_and_stripe_in_one_group():
    user = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    groups = {g["name"]: g for g in index_groups(user)}
    assert list(groups) == [*JOBS, "System", "Stripe (dj-stripe)"]
    stripe = groups["Stripe (dj-stripe)"]["models"]
    assert len(stripe) > 30
    assert {m["model"]._meta.app_label for m in stripe} == {"djstripe"}
    settings = [m["model"]._meta.label_lower for m in groups["Settings"]["models"]]
    assert {"auth.user", "auth.group", "api.apikey", "catalog.plan"} <= set(settings)


def test_stripe_stays_hidden_from_staff_given_a_stripe_permission(client):
    user = staff_user("finance")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="djstripe", codename="view_customer")
    )
    assert "Stripe (dj-stripe)" not in names(index_groups(user))
    client.force_login(user)
    assert client.get(reverse("admin:app_list", args=["djstripe"])).status_code == 404
    assert client.get(reverse("admin:section", args=["stripe-dj-stripe"])).status_code == 404


def test_staff_groups_may_not_open_stripe_pages(client):
    client.force_login(staff_user("finance"))
    assert client.get(reverse("admin:djstripe_customer_changelist")).status_code == 403


def test_the_index_page_and_a_section_page(client):
    client.force_login(staff_user("finance"))
    page = client.get(reverse("admin:index")).content.decode()
    positions = [page.index(f"Models in the {name} application") for name in JOBS]
    assert positions == sorted(positions)
    assert "dj-stripe" not in page
    section = client.get(reverse("admin:section", args=["payments"]))
    assert section.status_code == 200
    assert_no_inline(section)
    assert reverse("admin:billing_payment_changelist") in section.content.decode()
    content = section.content.decode().split('id="content-main"')[1]
    assert "Models in the Payments application" in content
    assert "Models in the Billing application" not in content
    assert client.get(reverse("admin:section", args=["nothing"])).status_code == 404
    # An app's own page (the breadcrumbs' link) stays Django's, by app.
    assert client.get(reverse("admin:app_list", args=["billing"])).status_code == 200
