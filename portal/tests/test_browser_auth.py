"""Sign in and out, and a password reset by email, in a real Chromium."""

import re

from django.core import mail

from portal.tests.conftest import sign_in


def test_sign_in_shows_the_customer_and_sign_out_returns_to_login(page, acme, screenshot):
    page.goto("/portal/invoices/")
    assert "/portal/login/" in page.url  # anonymous → login, then back where it was going
    page.get_by_label("Email").fill(acme.owner.user.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    sign_in(page, acme.owner.user.email)
    assert "Acme · Owner" in page.locator(".who").inner_text()
    screenshot(page, "overview")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/portal/login/")


def test_password_reset_by_email_sets_a_new_password(page, acme, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    page.goto("/portal/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(acme.owner.user.email)
    page.get_by_role("button", name="Send the link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/portal/reset/\S+/", mail.outbox[0].body).group(0)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("a-brand-new-pass-42")
    page.get_by_label("New password again").fill("a-brand-new-pass-42")
    page.get_by_role("button", name="Set password").click()
    page.get_by_role("heading", name="Password set").wait_for()
    sign_in(page, acme.owner.user.email, "a-brand-new-pass-42")
