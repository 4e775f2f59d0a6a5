"""The notices in a real browser: a superuser previews the receipt (HTML and text) in euros,
opens the list of mails sent and sees them on the customer 360 page."""

import pytest
from django.contrib.auth import get_user_model

from billing.tests import factories
from customers.models import Notice, NoticeKind, NoticeStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_previews_a_notice_and_sees_the_mails_sent(page, screenshot):
    page.set_viewport_size({"width": 1366, "height": 900})
    customer = factories.customer(external_id="acme", currency="EUR")
    Notice.objects.create(
        customer=customer,
        kind=NoticeKind.RECEIPT,
        dedupe_key="receipt:1",
        recipients=["acme@example.com"],
        subject="Receipt: invoice INV-2027-000001 from Example Billing Ltd is paid",
        template="notices/receipt",
        related="invoice INV-2027-000001",
        status=NoticeStatus.SENT,
    )
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-root")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")

    page.goto("/admin/customers/notice/")
    page.get_by_role("link", name="Preview the templates").click()
    page.get_by_role("link", name="Receipt (invoice paid)").click()
    page.get_by_role("link", name="EUR").click()
    assert "1,469.06 EUR" in page.locator("#notice-text").inner_text()
    frame = page.frame_locator("iframe[title='HTML version']")
    frame.get_by_text("Paid — thank you.").wait_for()
    assert "1,469.06 EUR" in frame.locator("body").inner_text()
    screenshot(page, "notice_preview_receipt")

    page.goto(f"/admin/reports/customers/{customer.pk}/")
    mails = page.locator("#c360-mails")
    assert "Receipt (invoice paid)" in mails.inner_text()
    assert "acme@example.com" in mails.inner_text()
    mails.scroll_into_view_if_needed()
    screenshot(page, "console_customer_360_mails")
