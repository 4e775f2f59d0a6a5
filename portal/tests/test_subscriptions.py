"""Subscriptions in the portal: list, change with an exact preview, add-ons, cancel, pause."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.documents import money
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import InvoiceLine, Subscription, SubscriptionAddOn
from customers.models import CustomerRole
from portal.tests.helpers import account
from provisioning.services.entitlements import entitlements_sync
from provisioning.services.seats import seat_assign

R = CustomerRole


def url(name, sub):
    return reverse(f"portal:{name}", args=[sub.pk])


def change_data(sub, plan, quantity=None, when="immediately", **extra):
    data = {"plan": plan.pk, "quantity": quantity or sub.quantity, "when": when}
    return data | extra


def state(sub):
    """What a refused POST must leave alone."""
    sub.refresh_from_db()
    return (
        sub.plan_id,
        sub.quantity,
        sub.status,
        sub.scheduled_plan_id,
        sub.cancel_at_period_end,
        sub.cancel_reason,
        InvoiceLine.objects.filter(subscription=sub, invoice__isnull=True).count(),
        SubscriptionAddOn.objects.filter(subscription=sub).count(),
    )


def expected_total(sub, plan, **kwargs):
    result = subscription_change(
        subscription=sub, at=timezone.now(), plan=plan, preview=True, **kwargs
    )
    return money(sum(line.amount for line in result.proration_lines), sub.currency)


def fingerprint(html: str) -> str:
    return re.search(r'name="fingerprint" value="([0-9a-f]+)"', html).group(1)


# Pages
def test_list_shows_own_subscriptions_only(acme, globex):
    response = acme.client(R.VIEWER).get(reverse("portal:subscriptions"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Basic" in page
    assert url("subscription", acme.subscription) in page
    assert url("subscription", globex.subscription) not in page


def test_detail_for_a_viewer_shows_no_forms(acme):
    response = acme.client(R.VIEWER).get(url("subscription", acme.subscription))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Basic subscription" in page
    assert "Preview" not in page
    assert "Cancel subscription" not in page


def test_detail_for_the_owner_shows_change_cancel_pause(acme):
    page = acme.client().get(url("subscription", acme.subscription)).content.decode()
    assert "Change plan, quantity or add-ons" in page
    assert 'hx-post="' + url("subscription_preview", acme.subscription) in page
    assert "Cancel subscription" in page
    assert "Pause subscription" in page
    assert "too_expensive" in page  # the reason codes billing stores


def test_billing_role_may_change_but_not_cancel(acme):
    page = acme.client(R.BILLING).get(url("subscription", acme.subscription)).content.decode()
    assert "Preview" in page
    assert "Cancel subscription" not in page


def test_another_customers_subscription_is_404_everywhere(acme, globex):
    client = acme.client()
    other = globex.subscription
    assert client.get(url("subscription", other)).status_code == 404
    before = state(other)
    for name in ("subscription_preview", "subscription_change", "subscription_cancel"):
        data = change_data(other, other.plan) | {"reason": "other"}
        assert client.post(url(name, other), data).status_code == 404
    assert client.post(url("subscription_pause", other)).status_code == 404
    assert client.post(url("subscription_resume", other)).status_code == 404
    assert state(other) == before


def test_anonymous_goes_to_login_and_get_on_a_post_url_is_405(acme, client):
    response = client.get(url("subscription", acme.subscription))
    assert response.status_code == 302
    assert "/portal/login/" in response["Location"]
    owner = acme.client()
    assert owner.get(url("subscription_pause", acme.subscription)).status_code == 405
    assert owner.get(url("subscription_cancel", acme.subscription)).status_code == 200


# Change: preview, then confirm
def test_preview_shows_the_exact_lines_and_changes_nothing(acme, catalog):
    sub = acme.subscription
    before = state(sub)
    total = expected_total(sub, catalog.pro)
    response = acme.client().post(url("subscription_preview", sub), change_data(sub, catalog.pro))
    assert response.status_code == 200
    page = response.content.decode()
    assert total in page
    assert "Confirm change" in page
    assert "Remaining time on" in page  # the service's own line descriptions
    assert state(sub) == before


def test_htmx_preview_returns_the_fragment(acme, catalog):
    sub = acme.subscription
    response = acme.client().post(
        url("subscription_preview", sub), change_data(sub, catalog.pro), HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "Confirm change" in page
    assert expected_total(sub, catalog.pro) in page
    assert f'name="plan" value="{catalog.pro.pk}"' in page  # confirm carries the inputs


def test_htmx_preview_errors_come_back_as_a_200_fragment(acme, catalog):
    sub = acme.subscription
    response = acme.client().post(
        url("subscription_preview", sub),
        change_data(sub, catalog.basic),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Nothing to change." in response.content.decode()
    assert "Confirm change" not in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quantity": 0}, "greater than or equal to 1"),
        ({"when": "tomorrow"}, "Select a valid choice"),
        ({"plan": 999999}, "Select a valid choice"),
    ],
)
def test_preview_refuses_bad_input(acme, catalog, data, message):
    sub = acme.subscription
    response = acme.client().post(
        url("subscription_preview", sub), change_data(sub, catalog.pro) | data
    )
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_plan_in_another_currency_is_not_offered(acme, catalog):
    from billing.tests import factories

    euro = factories.plan("euro", currency="EUR")
    sub = acme.subscription
    response = acme.client().post(url("subscription_preview", sub), change_data(sub, euro))
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_confirm_applies_the_previewed_change(acme, catalog):
    sub = acme.subscription
    client = acme.client()
    data = change_data(sub, catalog.pro)
    previewed = client.post(url("subscription_preview", sub), data).content.decode()
    total = expected_total(sub, catalog.pro)
    response = client.post(
        url("subscription_change", sub), data | {"fingerprint": fingerprint(previewed)}
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.plan_id == catalog.pro.pk
    assert InvoiceLine.objects.filter(subscription=sub, invoice__isnull=True).exists()
    page = client.get(response["Location"]).content.decode()
    assert "Subscription changed: now on Pro × 1" in page
    assert total in page


def test_confirm_with_a_stale_preview_shows_the_new_one_and_changes_nothing(acme, catalog):
    sub = acme.subscription
    before = state(sub)
    response = acme.client().post(
        url("subscription_change", sub), change_data(sub, catalog.pro, fingerprint="0" * 32)
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert "The amounts changed since the preview" in page
    assert expected_total(sub, catalog.pro) in page
    assert "Confirm change" in page
    assert state(sub) == before


def test_confirm_refused_by_the_service_changes_nothing(acme, catalog):
    sub = acme.subscription
    before = state(sub)
    response = acme.client().post(
        url("subscription_change", sub), change_data(sub, catalog.basic, fingerprint="x")
    )
    assert response.status_code == 400
    assert "Nothing to change." in response.content.decode()
    assert state(sub) == before


def test_change_at_period_end_is_scheduled(acme, catalog):
    sub = acme.subscription
    client = acme.client()
    data = change_data(sub, catalog.pro, when="period_end")
    previewed = client.post(url("subscription_preview", sub), data).content.decode()
    assert "Nothing is billed now" in previewed
    response = client.post(
        url("subscription_change", sub), data | {"fingerprint": fingerprint(previewed)}
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert (sub.plan_id, sub.scheduled_plan_id) == (catalog.basic.pk, catalog.pro.pk)
    assert "Change scheduled" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("role", [R.MEMBER, R.VIEWER])
def test_a_role_without_manage_billing_gets_403(acme, catalog, role):
    sub = acme.subscription
    before = state(sub)
    client = acme.client(role)
    data = change_data(sub, catalog.pro, fingerprint="x")
    assert client.post(url("subscription_preview", sub), data).status_code == 403
    assert client.post(url("subscription_change", sub), data).status_code == 403
    assert state(sub) == before


def test_billing_role_can_change(acme, catalog):
    sub = acme.subscription
    client = acme.client(R.BILLING)
    data = change_data(sub, catalog.pro)
    previewed = client.post(url("subscription_preview", sub), data).content.decode()
    client.post(url("subscription_change", sub), data | {"fingerprint": fingerprint(previewed)})
    sub.refresh_from_db()
    assert sub.plan_id == catalog.pro.pk


# Seats: lowering a quantity below the assigned seats is refused before billing is asked
def test_lowering_the_quantity_below_assigned_seats_is_refused(catalog):
    team = account(catalog, "initech", quantity=2)  # basic: 2 seats × 2
    entitlements_sync(customer=team.customer, at=timezone.now())
    for n in range(3):
        member = team.user(R.MEMBER, email=f"m{n}@initech.example.com")
        seat_assign(customer=team.customer, feature=catalog.seats, user=member, at=timezone.now())
    sub = team.subscription
    before = state(sub)
    client = team.client()
    response = client.post(
        url("subscription_preview", sub), change_data(sub, catalog.basic, quantity=1)
    )
    assert response.status_code == 400
    assert "3 seats are assigned; unassign 1 user before reducing to 2 seats." in (
        response.content.decode()
    )
    response = client.post(
        url("subscription_change", sub), change_data(sub, catalog.basic, quantity=1)
    )
    assert response.status_code == 400
    assert state(sub) == before


def test_raising_the_quantity_previews_a_charge(acme, catalog):
    sub = acme.subscription
    response = acme.client().post(
        url("subscription_preview", sub), change_data(sub, catalog.basic, quantity=3)
    )
    assert response.status_code == 200
    assert expected_total(sub, catalog.basic, quantity=3) in response.content.decode()


# Add-ons
def test_adding_an_addon_previews_then_applies(acme, catalog):
    sub = acme.subscription
    client = acme.client()
    field = f"addon_{catalog.extra_calls.pk}"
    data = change_data(sub, catalog.basic, **{field: 2})
    previewed = client.post(url("subscription_preview", sub), data).content.decode()
    addons = [{"addon": catalog.extra_calls, "quantity": 2}]
    assert expected_total(sub, catalog.basic, addons=addons) in previewed
    client.post(url("subscription_change", sub), data | {"fingerprint": fingerprint(previewed)})
    row = SubscriptionAddOn.objects.get(subscription=sub, ended_at__isnull=True)
    assert (row.addon_id, row.quantity) == (catalog.extra_calls.pk, 2)
    page = client.get(url("subscription", sub)).content.decode()
    assert "extra-calls × 2" in page


def test_removing_an_addon(catalog):
    team = account(catalog, "initech", addons=[{"addon": catalog.audit_addon, "quantity": 1}])
    sub = team.subscription
    client = team.client()
    data = change_data(sub, catalog.basic, **{f"addon_{catalog.audit_addon.pk}": 0})
    previewed = client.post(url("subscription_preview", sub), data).content.decode()
    client.post(url("subscription_change", sub), data | {"fingerprint": fingerprint(previewed)})
    assert not SubscriptionAddOn.objects.filter(subscription=sub, ended_at__isnull=True).exists()


def test_addons_at_period_end_are_refused(acme, catalog):
    sub = acme.subscription
    data = change_data(
        sub, catalog.basic, when="period_end", **{f"addon_{catalog.extra_calls.pk}": 1}
    )
    response = acme.client().post(url("subscription_preview", sub), data)
    assert response.status_code == 400
    assert "Add-ons change immediately" in response.content.decode()


def test_negative_addon_quantity_is_refused(acme, catalog):
    sub = acme.subscription
    data = change_data(sub, catalog.pro, **{f"addon_{catalog.extra_calls.pk}": -1})
    response = acme.client().post(url("subscription_preview", sub), data)
    assert response.status_code == 400


# Cancel
def test_cancel_at_period_end_with_a_reason_and_comment(acme):
    sub = acme.subscription
    client = acme.client()
    response = client.post(
        url("subscription_cancel", sub),
        {"when": "period_end", "reason": "too_expensive", "comment": "Budget cuts"},
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.cancel_at_period_end
    assert sub.status == "active"
    assert (sub.cancel_reason, sub.cancel_comment) == ("too_expensive", "Budget cuts")
    page = client.get(response["Location"]).content.decode()
    assert f"Cancels on {sub.current_period_end:%-d %b %Y}" in page
    assert "It is too expensive" in page
    assert "Cancel subscription" not in page  # already scheduled


def test_cancel_now_asks_for_a_confirmation_first(acme):
    sub = acme.subscription
    client = acme.client()
    before = state(sub)
    response = client.post(
        url("subscription_cancel", sub),
        {"when": "immediately", "reason": "unused", "comment": "Moving on"},
    )
    assert response.status_code == 303
    assert response["Location"] == (
        url("subscription_cancel", sub) + "?reason=unused&comment=Moving+on"
    )
    assert state(sub) == before
    page = client.get(response["Location"]).content.decode()
    assert f"Cancel {sub.plan.name} now?" in page
    assert "The subscription ends now and the service stops today" in page
    assert f"Unused time up to {sub.current_period_end:%-d %b %Y} is credited" in page
    assert "This cannot be undone" in page
    assert '<option value="unused" selected>' in page  # the reason chosen, still editable
    assert "Moving on</textarea>" in page
    assert 'name="confirm" value="yes"' in page
    assert state(sub) == before

    response = client.post(
        url("subscription_cancel", sub),
        {"when": "immediately", "reason": "unused", "comment": "Moving on", "confirm": "yes"},
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.cancel_comment == "Moving on"
    assert (sub.status, sub.churn, sub.cancel_reason) == ("canceled", "voluntary", "unused")
    page = client.get(response["Location"]).content.decode()
    assert "Your subscription is canceled." in page
    assert f"Canceled on {sub.ended_at:%-d %b %Y}" in page


def test_the_cancel_now_page_without_a_reason_asks_for_one(acme):
    sub = acme.subscription
    client = acme.client()
    page = client.get(url("subscription_cancel", sub)).content.decode()
    assert "Choose a reason…" in page
    assert 'class="errorlist' not in page
    before = state(sub)
    response = client.post(
        url("subscription_cancel", sub), {"when": "immediately", "reason": "", "confirm": "yes"}
    )
    assert response.status_code == 400
    assert "Cancel now" in response.content.decode()  # the confirmation page, with the error
    assert 'class="errorlist' in response.content.decode()
    assert state(sub) == before


def test_the_cancel_now_page_of_a_canceled_subscription_sends_back(acme):
    sub = acme.subscription
    subscription_cancel(subscription=sub, at=timezone.now(), when="immediately")
    response = acme.client().get(url("subscription_cancel", sub), follow=True)
    assert "This subscription cannot be canceled." in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"when": "immediately", "reason": ""},
        {"when": "immediately", "reason": "nonpayment"},
        {"when": "someday", "reason": "other"},
        {"when": "immediately", "reason": "other", "comment": "x" * 2001},
    ],
)
def test_cancel_refuses_bad_input(acme, data):
    sub = acme.subscription
    before = state(sub)
    response = acme.client().post(url("subscription_cancel", sub), data)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert state(sub) == before


def test_cancel_of_a_canceled_subscription_is_refused(acme):
    sub = acme.subscription
    subscription_cancel(subscription=sub, at=timezone.now(), when="immediately")
    response = acme.client().post(
        url("subscription_cancel", sub), {"when": "immediately", "reason": "other"}
    )
    assert response.status_code == 400
    assert "This subscription is canceled: it cannot be canceled." in response.content.decode()


@pytest.mark.parametrize("role", [R.ADMIN, R.BILLING, R.MEMBER])
def test_cancel_pause_resume_need_manage_account(acme, role):
    sub = acme.subscription
    before = state(sub)
    client = acme.client(role)
    data = {"when": "immediately", "reason": "other"}
    assert client.post(url("subscription_cancel", sub), data).status_code == 403
    assert client.post(url("subscription_pause", sub)).status_code == 403
    assert client.post(url("subscription_resume", sub)).status_code == 403
    assert state(sub) == before


# Pause and resume
def test_pause_then_resume(acme):
    sub = acme.subscription
    client = acme.client()
    response = client.post(url("subscription_pause", sub), follow=True)
    sub.refresh_from_db()
    assert sub.status == "paused"
    page = response.content.decode()
    assert "Subscription paused" in page
    assert "Resume subscription" in page
    client.post(url("subscription_resume", sub))
    sub.refresh_from_db()
    assert sub.status == "active"


def test_pause_where_the_state_does_not_allow_it_shows_why(acme):
    sub = acme.subscription
    client = acme.client()
    client.post(url("subscription_pause", sub))
    before = state(sub)
    response = client.post(url("subscription_pause", sub), follow=True)
    assert "This subscription is paused: it cannot be paused." in response.content.decode()
    assert state(sub) == before
    client.post(url("subscription_resume", sub))
    response = client.post(url("subscription_resume", sub), follow=True)
    assert "This subscription is active: it cannot be resumed." in response.content.decode()
    assert Subscription.objects.get(pk=sub.pk).status == "active"


def test_a_plan_that_is_not_pausable_offers_no_pause_and_refuses_one(acme):
    sub = acme.subscription
    sub.plan.pausable = False
    sub.plan.save(update_fields=["pausable"])
    client = acme.client()
    assert "Pause subscription" not in client.get(url("subscription", sub)).content.decode()
    before = state(sub)
    response = client.post(url("subscription_pause", sub), follow=True)
    assert "cannot be paused" in response.content.decode()
    assert state(sub) == before


def test_a_scheduled_cancellation_can_be_undone_once(acme):
    from billing.models import BillingEvent

    sub = acme.subscription
    client = acme.client()
    client.post(url("subscription_cancel", sub), {"when": "period_end", "reason": "unused"})
    assert "Keep my subscription" in client.get(url("subscription", sub)).content.decode()
    response = client.post(url("subscription_keep", sub), follow=True)
    sub.refresh_from_db()
    assert (sub.cancel_at_period_end, sub.canceled_at, sub.cancel_reason) == (False, None, "")
    page = response.content.decode()
    assert "Your subscription is kept" in page
    assert "Cancel subscription" in page
    event = BillingEvent.objects.get(kind="subscription.cancel_undone", subject_id=str(sub.pk))
    assert event.payload["reason"] == "unused"
    assert event.actor.startswith("user:")
    before = state(sub)
    response = client.post(url("subscription_keep", sub), follow=True)
    assert "Only a cancellation scheduled for the period end can be undone." in (
        response.content.decode()
    )
    assert state(sub) == before


def test_only_an_owner_may_keep_a_subscription(acme):
    sub = acme.subscription
    acme.client().post(url("subscription_cancel", sub), {"when": "period_end", "reason": "other"})
    assert acme.client("admin").post(url("subscription_keep", sub)).status_code == 403
    sub.refresh_from_db()
    assert sub.cancel_at_period_end


def test_cancel_a_trial_at_its_end_says_no_charge(catalog):
    trial = account(catalog, "trialco", trial_days=14)
    sub = trial.subscription
    assert sub.status == "trialing"
    on = f"{sub.trial_end_at:%-d %b %Y}"  # a UTC customer
    client = trial.client()
    page = client.get(url("subscription", sub)).content.decode()
    assert f"At the end of the trial: it ends on {on}; you won&#x27;t be charged" in page
    response = client.post(
        url("subscription_cancel", sub), {"when": "period_end", "reason": "unused"}
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.cancel_at_period_end) == ("trialing", True)
    page = client.get(response["Location"]).content.decode()
    assert f"Your trial ends on {on}; you won&#x27;t be charged." in page
    assert f"Cancels on {on}" in page
