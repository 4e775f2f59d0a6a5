"""Destructive actions in a real Chromium: cancelling now, revoking a key and removing a card
each go through a confirmation page that says what will happen; and the invoice actions (PDF,
pay) are reachable on a 390 px wide phone."""

from django.utils import timezone

from billing.models import PaymentMethodStatus, Subscription
from billing.tests.payment_helpers import card, open_invoice
from portal.tests.conftest import sign_in
from provisioning.models import ServiceKey
from provisioning.services.keys import service_key_create

PHONE = {"width": 390, "height": 844}


def within_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_cancel_now_with_a_reason_after_confirming(page, acme, screenshot):
    sub = acme.subscription
    sign_in(page, acme.owner.user.email)
    page.goto(f"/portal/subscriptions/{sub.pk}/")
    cancel = page.get_by_role("region", name="Cancel", exact=True)
    cancel.get_by_label("Immediately").check()
    cancel.get_by_label("Reason").select_option("too_expensive")
    cancel.get_by_label("Comment (optional)").fill("Budget cuts")
    cancel.get_by_role("button", name="Cancel subscription").click()

    page.get_by_role("heading", name=f"Cancel {sub.plan.name} now?").wait_for()
    what = page.get_by_test_id("consequences").inner_text()
    assert "The subscription ends now" in what
    assert "This cannot be undone" in what
    assert page.get_by_label("Reason").input_value() == "too_expensive"
    assert page.get_by_label("Comment (optional)").input_value() == "Budget cuts"
    assert Subscription.objects.get(pk=sub.pk).status == "active"  # nothing done yet
    screenshot(page, "portal-cancel-now-confirm")

    page.get_by_role("button", name="Cancel now").click()
    page.get_by_text("Your subscription is canceled.").wait_for()
    sub.refresh_from_db()
    assert (sub.status, sub.cancel_reason, sub.cancel_comment) == (
        "canceled",
        "too_expensive",
        "Budget cuts",
    )


def test_revoke_a_key_and_remove_a_card_after_confirming(page, acme, screenshot):
    key, _ = service_key_create(
        customer=acme.customer, name="Deploy bot", scopes=["read"], at=timezone.now()
    )
    method = card(acme.customer, at=timezone.now())
    sign_in(page, acme.owner.user.email)

    page.get_by_role("link", name="API keys").click()
    page.locator(f'tr[data-key="{key.prefix}"]').get_by_role("link", name="Revoke").click()
    page.get_by_role("heading", name="Revoke the API key “Deploy bot”?").wait_for()
    assert "stops working at once" in page.get_by_test_id("consequences").inner_text()
    page.get_by_role("link", name="Keep it").click()  # changed my mind
    page.get_by_role("heading", name="API keys").wait_for()
    assert ServiceKey.objects.get(pk=key.pk).revoked_at is None
    page.locator(f'tr[data-key="{key.prefix}"]').get_by_role("link", name="Revoke").click()
    screenshot(page, "portal-revoke-key-confirm")
    page.get_by_role("button", name="Revoke the key").click()
    page.get_by_text("is revoked.").wait_for()
    assert ServiceKey.objects.get(pk=key.pk).revoked_at is not None

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Payment methods").click()
    page.get_by_role("link", name=f"Remove {method.label}").click()
    page.get_by_role("heading", name=f"Remove {method.label}?").wait_for()
    assert "It is your default payment method" in page.get_by_test_id("consequences").inner_text()
    screenshot(page, "portal-remove-card-confirm")
    page.get_by_role("button", name="Remove it").click()
    page.get_by_text(f"{method.label} removed.").wait_for()
    method.refresh_from_db()
    assert method.status == PaymentMethodStatus.DETACHED


def test_invoice_actions_on_a_phone(page, acme, screenshot):
    now = timezone.now()
    card(acme.customer, at=now)
    invoice = open_invoice(acme.customer, amount="40.00", at=now)
    page.set_viewport_size(PHONE)
    sign_in(page, acme.owner.user.email)
    page.goto("/portal/invoices/")
    row = page.locator(f'tr[data-invoice="{invoice.number}"]')
    pdf = row.get_by_role("link", name=f"PDF of {invoice.number}")
    pay = row.get_by_role("link", name=f"Pay invoice {invoice.number}")
    for action in (pdf, pay):
        assert action.is_visible()
        assert within_viewport(page, action), action.bounding_box()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "portal-invoices-390")
    pay.click()
    page.get_by_role("button", name="Pay 40.00 USD").wait_for()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
