"""Subscription changes, team and API keys in a real Chromium: each flow checks what the page
then shows."""

from django.core import mail
from django.utils import timezone

from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.documents import money
from billing.models import Subscription
from portal.tests.conftest import sign_in
from provisioning.services.keys import service_key_create


def test_upgrade_with_preview(page, acme, catalog, screenshot):
    expected = subscription_change(
        subscription=acme.subscription, at=timezone.now(), plan=catalog.pro, preview=True
    )
    total = money(sum(line.amount for line in expected.proration_lines), "USD")
    sign_in(page, acme.owner.user.email)
    page.get_by_role("link", name="Subscriptions").click()
    page.get_by_role("link", name="Manage").click()
    page.get_by_label("Plan", exact=True).select_option(label="Pro — 30.00 USD per month")
    preview = page.locator("#preview")  # htmx updates it as the plan is picked
    preview.get_by_role("button", name="Confirm change").wait_for()
    assert preview.get_by_test_id("preview-total").inner_text() == total
    assert "Remaining time on" in preview.inner_text()
    screenshot(page, "upgrade-preview")
    preview.get_by_role("button", name="Confirm change").click()
    page.get_by_text("Subscription changed: now on Pro × 1").wait_for()
    assert page.get_by_test_id("plan").inner_text().startswith("Pro")
    assert Subscription.objects.get(pk=acme.subscription.pk).plan_id == catalog.pro.pk


def test_add_a_team_member(page, acme, settings, screenshot):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sign_in(page, acme.owner.user.email)
    page.get_by_role("link", name="Team & seats").click()
    page.get_by_label("Email").fill("new.dev@acme.example.com")
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Add member").click()
    page.get_by_text("we emailed them a link to set their password").wait_for()
    row = page.get_by_test_id("members").get_by_role("row").filter(has_text="new.dev@acme")
    assert "Admin" in row.inner_text()
    assert mail.outbox[0].to == ["new.dev@acme.example.com"]
    screenshot(page, "team-member-added")


def test_rotate_an_api_key(page, acme, screenshot):
    old, old_raw = service_key_create(
        customer=acme.customer, name="Deploy bot", scopes=["read"], at=timezone.now()
    )
    sign_in(page, acme.owner.user.email)
    page.get_by_role("link", name="API keys").click()
    row = page.locator(f'tr[data-key="{old.prefix}"]')
    assert "Active" in row.inner_text()
    row.get_by_label("Old key works for").select_option("24")
    row.get_by_role("button", name="Rotate").click()
    secret = page.get_by_test_id("secret")
    secret.wait_for()
    raw = secret.inner_text()
    assert raw.startswith("ck_live_")
    assert raw != old_raw
    assert "keeps working until" in page.get_by_test_id("replaced").inner_text()
    assert "Expires" in page.locator(f'tr[data-key="{old.prefix}"]').inner_text()
    screenshot(page, "api-key-rotated")
    page.reload()  # a GET: the secret is never shown again
    assert page.get_by_test_id("secret").count() == 0
    assert raw not in page.content()


def test_cancel_with_a_reason(page, acme, screenshot):
    sign_in(page, acme.owner.user.email)
    page.goto(f"/portal/subscriptions/{acme.subscription.pk}/")
    cancel = page.get_by_role("region", name="Cancel", exact=True)
    cancel.get_by_label("At the end of the current period").check()
    cancel.get_by_label("Reason").select_option("too_expensive")
    cancel.get_by_label("Comment (optional)").fill("Budget cuts next year")
    cancel.get_by_role("button", name="Cancel subscription").click()
    page.get_by_text("will be canceled on").wait_for()
    sub = Subscription.objects.get(pk=acme.subscription.pk)
    info = page.get_by_test_id("cancel-info").inner_text()
    assert f"Cancels on {sub.current_period_end:%-d %b %Y}" in info
    assert "It is too expensive" in info
    assert (
        f"Cancels {sub.current_period_end:%-d %b %Y}" in page.get_by_test_id("status").inner_text()
    )
    assert (sub.cancel_reason, sub.cancel_comment) == ("too_expensive", "Budget cuts next year")
    screenshot(page, "subscription-canceled")
