"""The subscription console in a real Chromium: a finance staff member changes a plan with
the exact proration preview and confirms it, cancels a subscription now through its
confirmation page, and an operations staff member suspends an account with a reason."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from billing.invoicing.selectors import invoice_preview
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.documents import money
from billing.models import InvoiceLine, Subscription
from billing.tests import factories
from catalog.models import Plan
from provisioning.models import AccessStatus, CustomerAccess
from provisioning.services.accounts import account_activate

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, group: str) -> None:
    name = f"{group}-staff"
    user = get_user_model().objects.create_user(name, password=f"pw-{name}", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(f"pw-{name}")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


@pytest.fixture
def sub():
    customer = factories.customer()
    factories.plan(code="max", amount="60.00")
    plan = factories.plan()  # pro, 30.00 USD a month
    return factories.subscription(
        customer=customer, plan=plan, at=timezone.now() - timedelta(days=5)
    )


def test_finance_changes_a_plan_with_the_preview(page, sub, screenshot):
    page.set_viewport_size({"width": 1400, "height": 900})
    bigger = Plan.objects.get(code="max")
    # What the service previews (the page must show these exact amounts).
    expected = subscription_change(
        subscription=sub, at=timezone.now(), plan=bigger, preview=True
    ).proration_lines
    assert len(expected) == 2
    credit, charge = (line.amount for line in expected)
    assert credit < 0 < charge  # the unused part of pro credited, the rest of max charged
    total = invoice_preview(
        customer=sub.customer, currency="USD", lines=expected, at=timezone.now()
    ).total

    sign_in(page, "finance")
    page.goto(f"/admin/billing/subscription/{sub.pk}/change/")
    page.get_by_test_id("console-change-plan").click()
    page.get_by_label("Plan").select_option(label="Max [max] — 60.00 USD per month")
    page.get_by_label("Now: prorated from today").check()
    page.get_by_test_id("change-preview").click()
    preview = page.get_by_test_id("preview")
    preview.wait_for()
    amounts = preview.get_by_test_id("preview-line-amount").all_inner_texts()
    assert amounts == [money(credit, "USD"), money(charge, "USD")]
    assert preview.get_by_test_id("preview-tax").inner_text() == "0.00 USD"
    assert preview.get_by_test_id("preview-total").inner_text() == money(total, "USD")
    assert "Remaining time on" in preview.inner_text()
    assert "60.00 USD" in preview.get_by_test_id("renewal-line").inner_text()
    screenshot(page, "admin-subscription-change-preview")
    sub.refresh_from_db()
    assert sub.plan.code == "pro"  # the preview saved nothing

    preview.get_by_test_id("change-confirm").click()
    page.get_by_text("Changed: now on Max × 1").wait_for()
    sub.refresh_from_db()
    assert sub.plan.code == "max"
    lines = InvoiceLine.objects.filter(subscription=sub, invoice__isnull=True).order_by("pk")
    assert [line.amount for line in lines] == [credit, charge]


def test_finance_cancels_now_through_the_confirmation_page(page, sub, screenshot):
    sign_in(page, "finance")
    page.goto(f"/admin/billing/subscription/{sub.pk}/change/")
    page.get_by_test_id("console-cancel").click()
    page.get_by_label("Reason").select_option("too_expensive")
    page.get_by_label("Comment").fill("Asked by phone")
    page.get_by_label("No proration: nothing is credited or charged").check()
    assert page.get_by_test_id("cancel-row").count() == 1
    screenshot(page, "admin-subscription-cancel-confirm")
    page.get_by_test_id("cancel-confirm").click()
    page.get_by_text("Canceled: 1.").wait_for()
    sub = Subscription.objects.get(pk=sub.pk)
    assert (sub.status, sub.cancel_reason, sub.cancel_comment) == (
        "canceled",
        "too_expensive",
        "Asked by phone",
    )


def test_operations_suspends_an_account_with_a_reason(page, screenshot):
    customer = factories.customer("globex")
    access = account_activate(customer=customer, at=timezone.now())
    sign_in(page, "operations")
    page.goto(f"/admin/provisioning/customeraccess/{access.pk}/change/")
    page.get_by_test_id("account-suspend").click()
    page.get_by_label("Reason").select_option("policy_violation")
    page.get_by_label("Comment").fill("Spam sent through their API keys")
    screenshot(page, "admin-account-suspend-confirm")
    page.get_by_test_id("account-confirm").click()
    page.get_by_text("Suspended: 1.").wait_for()
    access = CustomerAccess.objects.get(pk=access.pk)
    assert (access.status, access.suspend_reason) == (AccessStatus.SUSPENDED, "policy_violation")
