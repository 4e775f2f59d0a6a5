"""The subscription console in the admin: change of plan with its exact proration preview,
coupons, pause, resume and cancel now with a reason — each through its service, refusals on
the form with nothing changed, and only for staff with the billing change permission."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from billing.invoicing.services.discounts import coupon_create, discount_apply
from billing.models import BillingEvent, Discount, InvoiceLine, Subscription
from billing.tax.services import tax_registration_create, tax_settings_update
from billing.tests import factories
from catalog import services as catalog
from customers.services import customer_create

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
STARTED = datetime(2026, 3, 1, tzinfo=UTC)
GROUPS = ["read-only", "support", "operations", "finance"]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def customer():
    return factories.customer()


@pytest.fixture
def plan():
    return factories.plan()  # "pro", 30.00 USD a month, in advance


@pytest.fixture
def bigger():
    return factories.plan(code="max", amount="60.00")


@pytest.fixture
def sub(customer, plan):
    return factories.subscription(customer=customer, plan=plan, at=STARTED)


def url(name, sub):
    return reverse(f"admin:billing_subscription_{name}", args=[sub.pk])


def staff(group: str | None):
    """A staff user of `group` (None: a superuser), logged in."""
    users = get_user_model().objects
    if group is None:
        user = users.create_superuser("root", "root@example.com", "x")
    else:
        user = users.create_user(group, password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def change_data(plan, **overrides):
    data = {"plan": plan.pk, "quantity": "1", "when": "immediately", "proration": "prorate"}
    return {**data, **overrides}


def pending(sub):
    return list(InvoiceLine.objects.filter(subscription=sub, invoice__isnull=True).order_by("pk"))


# Change of plan
def test_change_page_offers_the_console_buttons(admin_client, sub):
    page = admin_client.get(reverse("admin:billing_subscription_change", args=[sub.pk]))
    text = page.content.decode()
    for name in ("change_plan", "coupons", "pause", "cancel"):
        assert url(name, sub) in text
    assert url("resume", sub) not in text  # active: nothing to resume


def test_preview_shows_the_exact_lines_and_changes_nothing(admin_client, sub, bigger):
    events = BillingEvent.objects.count()
    response = admin_client.post(url("change_plan", sub), change_data(bigger, _preview="1"))
    assert response.status_code == 200
    preview = response.context["preview"]
    # 22 of March's 31 days left, the day of the change on the new terms.
    assert [line.amount for line in preview.lines] == [Decimal("-21.29"), Decimal("42.58")]
    assert (preview.subtotal, preview.tax, preview.total) == ("21.29 USD", "0.00 USD", "21.29 USD")
    assert [row["amount"] for row in preview.renewal_rows] == ["60.00 USD"]
    page = response.content.decode()
    assert "42.58 USD" in page
    assert "21.29 USD" in page
    assert 'name="_confirm"' in page
    sub.refresh_from_db()
    assert sub.plan.code == "pro"
    assert pending(sub) == []
    assert BillingEvent.objects.count() == events


def test_preview_is_the_apis_preview(admin_client, api, sub, bigger):
    response = admin_client.post(url("change_plan", sub), change_data(bigger, _preview="1"))
    amounts = [str(line.amount) for line in response.context["preview"].lines]
    body = api.post(
        f"/api/v1/subscriptions/{sub.pk}/change/",
        {"plan": "max", "preview": True},
        format="json",
    ).json()
    assert [line["amount"] for line in body["proration_lines"]] == amounts


def test_preview_shows_the_tax(admin_client, plan):
    tax_settings_update(at=NOW, legal_name="Northwind Ltd", seller_country="IE")
    tax_registration_create(country="IE", number="IE6388047V", at=NOW)
    irish = customer_create(
        external_id="dublin",
        name="Dublin Reader",
        email="reader@dublin.example",
        currency="EUR",
        country="IE",
        address={"line1": "1 Main St", "city": "Dublin", "postal_code": "D02 X285"},
    )
    eur = factories.plan(code="pro-eur", amount="30.00", currency="EUR")
    eur_max = factories.plan(code="max-eur", amount="60.00", currency="EUR")
    sub = factories.subscription(customer=irish, plan=eur, at=STARTED)
    response = admin_client.post(url("change_plan", sub), change_data(eur_max, _preview="1"))
    preview = response.context["preview"]
    assert [line.amount for line in preview.lines] == [Decimal("-21.29"), Decimal("42.58")]
    # 23 % on each line, rounded per line: -4.90 + 9.79.
    assert preview.invoice.tax == Decimal("4.89")
    assert preview.total == "26.18 EUR"
    assert "4.89 EUR" in response.content.decode()


def test_confirm_applies_the_previewed_change(admin_client, admin_user, sub, bigger):
    preview = admin_client.post(url("change_plan", sub), change_data(bigger, _preview="1"))
    fingerprint = preview.context["preview"].fingerprint
    response = admin_client.post(
        url("change_plan", sub),
        change_data(bigger, fingerprint=fingerprint, _confirm="1"),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse(
        "admin:billing_subscription_change", args=[sub.pk]
    )
    assert any(m.startswith("Changed: now on Max × 1") for m in messages_of(response))
    sub.refresh_from_db()
    assert sub.plan == bigger
    assert [line.amount for line in pending(sub)] == [Decimal("-21.29"), Decimal("42.58")]
    event = BillingEvent.objects.get(kind="subscription.changed")
    assert event.actor == f"user:{admin_user.pk}:{admin_user.get_username()}"
    assert event.payload["to_plan"] == "max"


def test_confirm_with_other_amounts_shows_the_new_preview(admin_client, sub, bigger):
    response = admin_client.post(
        url("change_plan", sub), change_data(bigger, fingerprint="stale", _confirm="1")
    )
    assert response.status_code == 409
    assert response.context["preview"] is not None
    sub.refresh_from_db()
    assert sub.plan.code == "pro"


def test_change_at_period_end_is_scheduled(admin_client, sub, bigger):
    data = change_data(bigger, when="period_end", _preview="1")
    preview = admin_client.post(url("change_plan", sub), data).context["preview"]
    assert preview.lines == []
    data.update(fingerprint=preview.fingerprint, _confirm="1")
    data.pop("_preview")
    admin_client.post(url("change_plan", sub), data)
    sub.refresh_from_db()
    assert (sub.plan.code, sub.scheduled_plan) == ("pro", bigger)
    assert pending(sub) == []


def test_quantity_and_addons(admin_client, sub):
    addon = catalog.addon_create(
        code="support", name="Support", currency="USD", amount=Decimal("10.00"), interval="month"
    )
    data = change_data(sub.plan, quantity="2", **{f"addon_{addon.pk}": "1"})
    preview = admin_client.post(url("change_plan", sub), {**data, "_preview": "1"})
    rows = preview.context["preview"]
    assert sum(line.amount for line in rows.lines) == Decimal("28.39")  # (30 + 10) × 22/31
    assert [r["amount"] for r in rows.renewal_rows] == ["60.00 USD", "10.00 USD"]
    admin_client.post(
        url("change_plan", sub), {**data, "fingerprint": rows.fingerprint, "_confirm": "1"}
    )
    sub.refresh_from_db()
    assert sub.quantity == 2
    assert sub.addons.get(ended_at__isnull=True).addon == addon


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({}, "Nothing to change."),  # the same plan and quantity
        ({"plan": "other-currency"}, "Select a valid choice"),  # not offered
        ({"plan": "archived"}, "not offered any more"),
    ],
)
def test_a_refused_change_shows_the_services_error_and_changes_nothing(
    admin_client, sub, plan, overrides, error
):
    if overrides.get("plan") == "other-currency":
        overrides = {"plan": factories.plan(code="eur", currency="EUR").pk}
    elif overrides.get("plan") == "archived":
        old = catalog.plan_archive(plan=factories.plan(code="old", amount="10.00"))
        overrides = {"plan": old.pk}
    events = BillingEvent.objects.count()
    data = {**change_data(plan), **overrides}
    for button in ("_preview", "_confirm"):
        response = admin_client.post(url("change_plan", sub), {**data, button: "1"})
        assert response.status_code == 400
        assert error in response.content.decode()
        assert response.context["preview"] is None
    sub.refresh_from_db()
    assert sub.plan == plan
    assert pending(sub) == []
    assert BillingEvent.objects.count() == events


def test_a_canceled_subscription_cannot_be_changed(admin_client, sub, bigger):
    admin_client.post(url("cancel", sub), {"reason": "staff", "proration": "none", "_confirm": 1})
    response = admin_client.post(url("change_plan", sub), change_data(bigger, _preview="1"))
    assert response.status_code == 400
    assert "cannot be changed" in response.content.decode()


# Coupons
@pytest.fixture
def coupon():
    return coupon_create(
        code="WELCOME",
        name="Welcome",
        kind="percent",
        percent_off=Decimal(10),
        duration="forever",
        at=NOW,
    )


def test_apply_a_coupon_to_the_subscription(admin_client, sub, coupon):
    response = admin_client.post(
        url("coupons", sub), {"code": "welcome", "scope": "subscription"}, follow=True
    )
    assert "Coupon WELCOME applied." in messages_of(response)
    discount = Discount.objects.get()
    assert (discount.coupon, discount.subscription, discount.end_at) == (coupon, sub, None)
    assert BillingEvent.objects.filter(kind="discount.created").exists()
    assert "WELCOME — Welcome" in response.content.decode()


def test_a_refused_coupon_is_a_form_error(admin_client, sub, coupon):
    discount_apply(coupon=coupon, customer=sub.customer, subscription=sub, at=NOW)
    response = admin_client.post(url("coupons", sub), {"code": "WELCOME", "scope": "subscription"})
    assert response.status_code == 400
    assert "already applied here" in response.content.decode()
    response = admin_client.post(url("coupons", sub), {"code": "NOPE", "scope": "subscription"})
    assert "No coupon has the code" in response.content.decode()
    assert Discount.objects.count() == 1


def test_remove_a_discount(admin_client, sub, coupon):
    customer_wide = discount_apply(coupon=coupon, customer=sub.customer, at=NOW)
    response = admin_client.post(
        url("coupons", sub), {"discount": customer_wide.pk, "_remove": "1"}, follow=True
    )
    assert "Discount WELCOME removed." in messages_of(response)
    customer_wide.refresh_from_db()
    assert customer_wide.end_at == NOW
    event = BillingEvent.objects.get(kind="discount.ended")
    assert event.payload["removed"] is True
    # Again: it is no longer in force here.
    response = admin_client.post(
        url("coupons", sub), {"discount": customer_wide.pk, "_remove": "1"}, follow=True
    )
    assert "No such discount here." in messages_of(response)
    assert BillingEvent.objects.filter(kind="discount.ended").count() == 1


# Pause, resume
def test_pause_and_resume_through_confirmation_pages(admin_client, sub):
    assert "Yes, pause" in admin_client.get(url("pause", sub)).content.decode()
    sub.refresh_from_db()
    assert sub.status == "active"  # the page alone changes nothing
    response = admin_client.post(url("pause", sub), {"_confirm": "1"}, follow=True)
    assert "Paused." in messages_of(response)
    sub.refresh_from_db()
    assert sub.status == "paused"
    response = admin_client.post(url("resume", sub), {"_confirm": "1"}, follow=True)
    assert "Resumed." in messages_of(response)
    sub.refresh_from_db()
    assert sub.status == "active"


def test_a_refused_pause_is_a_message(admin_client, customer):
    fixed = factories.plan(code="fixed", pausable=False)
    sub = factories.subscription(customer=customer, plan=fixed, at=STARTED)
    response = admin_client.post(url("pause", sub), {"_confirm": "1"}, follow=True)
    assert any(
        m.startswith("Not paused: Plan Fixed cannot be paused") for m in messages_of(response)
    )
    sub.refresh_from_db()
    assert sub.status == "active"


# Cancel now
def test_cancel_now_from_the_change_page_asks_for_a_reason(admin_client, sub):
    page = admin_client.get(url("cancel", sub))
    assert page.status_code == 200
    assert [row.pk for row in page.context["rows"]] == [sub.pk]
    response = admin_client.post(url("cancel", sub), {"proration": "prorate", "_confirm": "1"})
    assert response.status_code == 400  # no reason
    sub.refresh_from_db()
    assert sub.status == "active"
    response = admin_client.post(
        url("cancel", sub),
        {
            "reason": "too_expensive",
            "comment": "Asked by phone",
            "proration": "prorate",
            "_confirm": "1",
        },
        follow=True,
    )
    assert "Canceled: 1." in messages_of(response)
    sub.refresh_from_db()
    assert (sub.status, sub.cancel_reason, sub.cancel_comment) == (
        "canceled",
        "too_expensive",
        "Asked by phone",
    )
    assert [line.amount for line in pending(sub)] == [Decimal("-21.29")]
    assert BillingEvent.objects.get(kind="subscription.canceled").payload["reason"] == (
        "too_expensive"
    )


def test_cancel_now_list_action_leads_to_a_confirmation_page(admin_client, customer, plan, sub):
    other = factories.subscription(customer=customer, plan=plan, at=STARTED)
    changelist = reverse("admin:billing_subscription_changelist")
    selected = {"action": "cancel_now", "_selected_action": [sub.pk, other.pk]}
    page = admin_client.post(changelist, selected)
    assert page.status_code == 200
    assert [row.pk for row in page.context["rows"]] == [sub.pk, other.pk]
    assert Subscription.objects.filter(status="canceled").count() == 0  # nothing yet
    response = admin_client.post(
        changelist,
        {**selected, "reason": "staff", "comment": "", "proration": "none", "_confirm": "1"},
        follow=True,
    )
    assert "Canceled: 2." in messages_of(response)
    assert Subscription.objects.filter(status="canceled", cancel_reason="staff").count() == 2
    assert pending(sub) == []  # no proration


def test_cancel_of_an_ended_subscription_is_refused(admin_client, sub):
    data = {"reason": "staff", "proration": "none", "_confirm": "1"}
    admin_client.post(url("cancel", sub), data)
    events = BillingEvent.objects.count()
    response = admin_client.post(url("cancel", sub), data, follow=True)
    assert any("not possible" in m for m in messages_of(response))
    assert BillingEvent.objects.count() == events


# Permissions: finance (billing change) and superusers may; read-only, support and
# operations may not (403, nothing changes; the list action is absent).
ALLOWED = {"finance": True, "read-only": False, "support": False, "operations": False, None: True}


@pytest.mark.parametrize("group", [*GROUPS, None])
def test_change_plan_permission(group, sub, bigger):
    client = staff(group)
    preview = client.post(url("change_plan", sub), change_data(bigger, _preview="1"))
    if not ALLOWED[group]:
        assert preview.status_code == 403
        data = change_data(bigger, fingerprint="x", _confirm="1")
        assert client.post(url("change_plan", sub), data).status_code == 403
        sub.refresh_from_db()
        assert sub.plan.code == "pro"
        return
    fingerprint = preview.context["preview"].fingerprint
    data = change_data(bigger, fingerprint=fingerprint, _confirm="1")
    assert client.post(url("change_plan", sub), data).status_code == 302
    sub.refresh_from_db()
    assert sub.plan.code == "max"


@pytest.mark.parametrize("group", [*GROUPS, None])
def test_coupon_permission(group, sub, coupon):
    client = staff(group)
    response = client.post(url("coupons", sub), {"code": "WELCOME", "scope": "subscription"})
    assert response.status_code == (302 if ALLOWED[group] else 403)
    assert Discount.objects.exists() is ALLOWED[group]
    if not ALLOWED[group]:
        discount = discount_apply(coupon=coupon, customer=sub.customer, subscription=sub, at=NOW)
        response = client.post(url("coupons", sub), {"discount": discount.pk, "_remove": "1"})
        assert response.status_code == 403
        discount.refresh_from_db()
        assert discount.end_at is None
    else:
        discount = Discount.objects.get()
        response = client.post(url("coupons", sub), {"discount": discount.pk, "_remove": "1"})
        assert response.status_code == 302
        discount.refresh_from_db()
        assert discount.end_at == NOW


@pytest.mark.parametrize("group", [*GROUPS, None])
def test_pause_resume_permission(group, sub):
    client = staff(group)
    response = client.post(url("pause", sub), {"_confirm": "1"})
    assert response.status_code == (302 if ALLOWED[group] else 403)
    sub.refresh_from_db()
    assert sub.status == ("paused" if ALLOWED[group] else "active")
    if ALLOWED[group]:
        assert client.post(url("resume", sub), {"_confirm": "1"}).status_code == 302
        sub.refresh_from_db()
        assert sub.status == "active"
    else:
        assert client.post(url("resume", sub), {"_confirm": "1"}).status_code == 403


@pytest.mark.parametrize("group", [*GROUPS, None])
def test_cancel_now_permission(group, sub):
    client = staff(group)
    data = {"reason": "staff", "proration": "none", "_confirm": "1"}
    response = client.post(url("cancel", sub), data)
    assert response.status_code == (302 if ALLOWED[group] else 403)
    changelist = client.get(reverse("admin:billing_subscription_changelist"))
    assert changelist.status_code == 200  # every staff group may view subscriptions
    form = changelist.context["action_form"]
    actions = [name for name, _ in form.fields["action"].choices] if form else []
    assert ("cancel_now" in actions) is ALLOWED[group]
    listed = client.post(
        reverse("admin:billing_subscription_changelist"),
        {"action": "cancel_now", "_selected_action": [sub.pk], **data},
    )
    assert listed.status_code in (200, 302)
    sub.refresh_from_db()
    assert sub.status == ("canceled" if ALLOWED[group] else "active")
    if ALLOWED[group]:
        assert sub.cancel_reason == "staff"


def test_addons_at_the_period_end_are_refused_by_the_service(admin_client, sub):
    addon = catalog.addon_create(
        code="support", name="Support", currency="USD", amount=Decimal("10.00"), interval="month"
    )
    data = change_data(sub.plan, when="period_end", **{f"addon_{addon.pk}": "1", "_preview": "1"})
    response = admin_client.post(url("change_plan", sub), data)
    assert response.status_code == 400
    assert "Add-ons change immediately" in response.content.decode()
    assert not sub.addons.exists()
