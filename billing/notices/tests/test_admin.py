"""The notices in the operations console: the list (read-only), the template previews (staff
who may see notices), the "Mails" section of the customer 360 page, the opt-outs on the
customer page."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from billing.tests import factories
from customers.models import Customer, Notice, NoticeKind, NoticeStatus
from customers.tests.test_admin import customer_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def notices():
    acme = factories.customer(external_id="acme")
    other = factories.customer(external_id="other")
    Notice.objects.create(
        customer=acme,
        kind=NoticeKind.RECEIPT,
        dedupe_key="receipt:1",
        recipients=["acme@example.com"],
        subject="Receipt: invoice INV-2027-000001 from Seller is paid",
        template="notices/receipt",
        related="invoice INV-2027-000001",
        status=NoticeStatus.SENT,
    )
    Notice.objects.create(
        customer=acme,
        kind=NoticeKind.CARD_EXPIRING,
        dedupe_key="card_expiring:2",
        template="notices/card_expiring",
        status=NoticeStatus.SKIPPED_OPTED_OUT,
    )
    Notice.objects.create(
        customer=other,
        kind=NoticeKind.PAYMENT_FAILED,
        dedupe_key="payment_failed:3",
        template="notices/payment_failed",
        status=NoticeStatus.FAILED,
        error="SMTPRecipientsRefused",
    )
    return acme


def test_the_list_filters_and_searches_and_is_read_only(admin_client, notices):
    changelist = reverse("admin:customers_notice_changelist")
    assert admin_client.get(changelist).context["cl"].result_count == 3
    assert admin_client.get(changelist, {"q": "other"}).context["cl"].result_count == 1
    assert admin_client.get(changelist, {"kind": "receipt"}).context["cl"].result_count == 1
    failed = admin_client.get(changelist, {"status": "failed"})
    assert failed.context["cl"].result_count == 1
    assert "Preview the templates" in failed.content.decode()
    notice = Notice.objects.get(kind=NoticeKind.RECEIPT)
    page = admin_client.get(reverse("admin:customers_notice_change", args=[notice.pk]))
    assert page.status_code == 200
    assert b"acme@example.com" in page.content
    assert admin_client.get(reverse("admin:customers_notice_add")).status_code == 403


@pytest.mark.parametrize("kind", NoticeKind.values)
def test_every_kind_has_a_preview_in_html_and_text(admin_client, kind):
    response = admin_client.get(
        reverse("admin:customers_notice_preview", args=[kind]), {"currency": "JPY"}
    )
    assert response.status_code == 200
    context = response.context
    assert context["subject"]
    assert "Hello Sample Customer Ltd," in context["text"]
    assert "Example Billing Ltd" in context["text"]  # the seller's identity
    page = response.content.decode()
    frame_url = reverse("admin:customers_notice_preview_html", args=[kind]) + "?currency=JPY"
    assert f'src="{frame_url}"' in page
    assert 'id="notice-text"' in page
    directives = dict(
        d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";") if " " in d
    )
    assert "'self'" in directives["frame-src"].split()
    mail = admin_client.get(frame_url)
    assert mail.status_code == 200
    html = mail.content.decode()
    assert "<html" in html
    assert "Example Billing Ltd" in html
    # Only the framed mail allows inline styles, and only this site may frame it.
    policy = mail["Content-Security-Policy"]
    assert "'unsafe-inline'" in policy
    assert "frame-ancestors 'self'" in policy
    assert "sandbox" in policy
    assert mail["X-Frame-Options"] == "SAMEORIGIN"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


def test_preview_amounts_follow_the_currency(admin_client):
    url = reverse("admin:customers_notice_preview", args=[NoticeKind.INVOICE_ISSUED])
    assert "1,469.06 USD" in admin_client.get(url).context["text"]
    assert "1,469 JPY" in admin_client.get(url, {"currency": "JPY"}).context["text"]
    assert "1,469.060 KWD" in admin_client.get(url, {"currency": "KWD"}).context["text"]
    assert admin_client.get(reverse("admin:customers_notice_previews")).status_code == 200
    unknown = reverse("admin:customers_notice_preview", args=["newsletter"])
    assert admin_client.get(unknown).status_code == 404


def test_previews_are_for_staff_who_may_see_notices(client, notices):
    url = reverse("admin:customers_notice_preview", args=[NoticeKind.RECEIPT])
    assert client.get(url).status_code == 302  # to the admin's login
    user = get_user_model().objects.create_user("sam", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(url).status_code == 403
    user.groups.add(Group.objects.get(name="support"))
    if not user.has_perm("customers.view_notice"):  # groups synced before Notice existed
        user.user_permissions.add(Permission.objects.get(codename="view_notice"))
    user = get_user_model().objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get(url).status_code == 200


def test_customer_360_shows_the_mails(admin_client, notices):
    page = admin_client.get(reverse("reports:customer_360", args=[notices.pk])).content.decode()
    assert 'id="c360-mails"' in page
    assert "Receipt (invoice paid)" in page
    assert "acme@example.com" in page
    assert "Skipped: the customer opted out" in page
    assert "SMTPRecipientsRefused" not in page  # the other customer's


def test_opt_outs_are_edited_on_the_customer_page(admin_client):
    data = customer_form(
        invoice_delivery="email",
        notices_opted_out=[NoticeKind.CARD_EXPIRING, NoticeKind.USAGE_THRESHOLD],
    )
    response = admin_client.post(reverse("admin:customers_customer_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get(external_id="globex")
    assert customer.notices_opted_out == ["card_expiring", "usage_threshold"]
    page = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    html = page.content.decode()
    assert 'value="card_expiring" checked' in html or 'value="card_expiring"' in html
    assert 'value="receipt"' not in html  # essential: no opt-out offered
    refused = admin_client.post(
        reverse("admin:customers_customer_add"),
        customer_form(external_id="x", invoice_delivery="email", notices_opted_out=["receipt"]),
    )
    assert refused.status_code == 200  # an essential kind cannot be opted out of
