"""Suspending a customer's account with a reason, and restoring it, in the admin: after a
confirmation page, through `account_suspend` / `account_restore`, which record the reason on
the access row and a billing event (`account.suspended` / `account.restored`) only when the
status changes; operations staff (provisioning change) and superusers may, others may not.
Provisioning's own event consumer and the webhooks fan-out take the new kinds in stride."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from billing.models import BillingEvent
from billing.tests import factories
from provisioning.models import AccessStatus, CustomerAccess, WebhookDelivery
from provisioning.services import accounts
from provisioning.services.sync import billing_events_consume
from provisioning.services.webhooks import webhook_endpoint_create, webhooks_fan_out

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
GROUPS = ["read-only", "support", "operations", "finance"]
ALLOWED = {"operations": True, "read-only": False, "support": False, "finance": False, None: True}


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def access():
    customer = factories.customer("acme")
    return accounts.account_activate(customer=customer, at=NOW - timedelta(days=30))


def url(name, access):
    return reverse(f"admin:provisioning_customeraccess_{name}", args=[access.pk])


def changelist():
    return reverse("admin:provisioning_customeraccess_changelist")


def staff(group: str | None):
    users = get_user_model().objects
    if group is None:
        user = users.create_superuser("root", "root@example.com", "x")
    else:
        user = users.create_user(group, password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client, user


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def suspend_data():
    return {"reason": "policy_violation", "comment": "Spam from their keys", "_confirm": "1"}


# The services
def test_suspend_records_the_reason_and_one_event_when_the_status_changes(access):
    done = accounts.account_suspend(
        customer=access.customer, at=NOW, reason="fraud", comment="chargebacks", actor="ops"
    )
    assert (done.status, done.suspend_reason, done.suspend_comment) == (
        AccessStatus.SUSPENDED,
        "fraud",
        "chargebacks",
    )
    event = BillingEvent.objects.get(kind="account.suspended")
    assert event.customer == access.customer
    assert event.payload == {"reason": "fraud", "comment": "chargebacks"}
    assert (event.actor, event.occurred_at) == ("ops", NOW)
    assert (event.subject_type, event.subject_id) == ("provisioning.customeraccess", str(access.pk))
    accounts.account_suspend(customer=access.customer, at=NOW, reason="other", comment="again")
    assert BillingEvent.objects.filter(kind="account.suspended").count() == 1  # no change

    restored = accounts.account_restore(customer=access.customer, at=NOW, comment="paid")
    assert (restored.status, restored.suspend_reason, restored.suspend_comment) == (
        "active",
        "",
        "",
    )
    event = BillingEvent.objects.get(kind="account.restored")
    assert event.payload == {"reason": "fraud", "comment": "paid"}
    accounts.account_restore(customer=access.customer, at=NOW)
    assert BillingEvent.objects.filter(kind="account.restored").count() == 1


def test_billing_suspends_without_a_reason_and_activation_restores(access):
    accounts.account_suspend(customer=access.customer, at=NOW)
    assert BillingEvent.objects.get(kind="account.suspended").payload == {
        "reason": "",
        "comment": "",
    }
    accounts.account_activate(customer=access.customer, at=NOW)
    assert BillingEvent.objects.filter(kind="account.restored").count() == 1


def test_an_unknown_reason_is_refused(access):
    with pytest.raises(ValidationError):
        accounts.account_suspend(customer=access.customer, at=NOW, reason="bored")
    access.refresh_from_db()
    assert access.status == AccessStatus.ACTIVE
    assert not BillingEvent.objects.filter(kind="account.suspended").exists()


def test_never_activated_accounts_record_nothing():
    customer = factories.customer("new")
    accounts.account_suspend(customer=customer, at=NOW, reason="fraud")
    assert not BillingEvent.objects.filter(kind__startswith="account.").exists()


def test_consumer_and_webhooks_take_the_new_kinds(access):
    endpoint = webhook_endpoint_create(
        url="https://example.com/hooks", events=["account.*"], at=NOW - timedelta(days=1)
    )[0]
    accounts.account_suspend(customer=access.customer, at=NOW, reason="fraud")
    accounts.account_restore(customer=access.customer, at=NOW)
    billing_events_consume(at=NOW)  # no order for these kinds: skipped, cursor moves on
    access.refresh_from_db()
    assert access.status == AccessStatus.ACTIVE
    webhooks_fan_out(at=NOW + timedelta(seconds=1))
    kinds = set(
        WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event__kind", flat=True)
    )
    assert kinds == {"account.suspended", "account.restored"}


# The admin
def test_the_access_page_offers_suspend_then_restore(admin_client, access):
    page = admin_client.get(reverse("admin:provisioning_customeraccess_change", args=[access.pk]))
    text = page.content.decode()
    assert url("suspend", access) in text
    assert url("restore", access) not in text
    accounts.account_suspend(customer=access.customer, at=NOW, reason="fraud")
    page = admin_client.get(reverse("admin:provisioning_customeraccess_change", args=[access.pk]))
    text = page.content.decode()
    assert url("restore", access) in text
    assert url("suspend", access) not in text


def test_suspend_needs_a_confirmation_and_a_reason(admin_client, access):
    page = admin_client.get(url("suspend", access))
    assert page.status_code == 200
    assert [row.pk for row in page.context["rows"]] == [access.pk]
    response = admin_client.post(url("suspend", access), {"comment": "x", "_confirm": "1"})
    assert response.status_code == 400  # no reason
    response = admin_client.post(url("suspend", access), {"reason": "other", "_confirm": "1"})
    assert response.status_code == 400  # "other" needs a comment
    assert "Say why" in response.content.decode()
    access.refresh_from_db()
    assert access.status == AccessStatus.ACTIVE
    assert not BillingEvent.objects.filter(kind="account.suspended").exists()

    response = admin_client.post(url("suspend", access), suspend_data(), follow=True)
    assert "Suspended: 1." in messages_of(response)
    access.refresh_from_db()
    assert (access.status, access.suspend_reason, access.suspend_comment) == (
        "suspended",
        "policy_violation",
        "Spam from their keys",
    )


def test_restore_through_its_confirmation_page(admin_client, access):
    accounts.account_suspend(customer=access.customer, at=NOW, reason="non_payment")
    assert admin_client.get(url("restore", access)).status_code == 200
    response = admin_client.post(
        url("restore", access), {"comment": "Paid by wire", "_confirm": "1"}, follow=True
    )
    assert "Restored: 1." in messages_of(response)
    access.refresh_from_db()
    assert access.status == AccessStatus.ACTIVE
    assert BillingEvent.objects.get(kind="account.restored").payload == {
        "reason": "non_payment",
        "comment": "Paid by wire",
    }


def test_restore_of_an_account_never_activated_is_a_message(admin_client):
    customer = factories.customer("new")
    access = CustomerAccess.objects.create(customer=customer)
    response = admin_client.post(url("restore", access), {"_confirm": "1"}, follow=True)
    assert any("not possible" in m for m in messages_of(response))
    access.refresh_from_db()
    assert access.status == AccessStatus.NONE


def test_list_actions_lead_to_the_confirmation_page(admin_client, access):
    other = accounts.account_activate(customer=factories.customer("globex"), at=NOW)
    selected = {"action": "suspend_selected", "_selected_action": [access.pk, other.pk]}
    page = admin_client.post(changelist(), selected)
    assert page.status_code == 200
    assert [row.pk for row in page.context["rows"]] == [access.pk, other.pk]
    assert not CustomerAccess.objects.filter(status="suspended").exists()
    response = admin_client.post(changelist(), {**selected, **suspend_data()}, follow=True)
    assert "Suspended: 2." in messages_of(response)
    assert (
        CustomerAccess.objects.filter(status="suspended", suspend_reason="policy_violation").count()
        == 2
    )
    response = admin_client.post(
        changelist(),
        {"action": "restore_selected", "_selected_action": [access.pk], "_confirm": "1"},
        follow=True,
    )
    assert "Restored: 1." in messages_of(response)
    access.refresh_from_db()
    assert access.status == AccessStatus.ACTIVE


def test_suspending_a_suspended_account_changes_nothing(admin_client, access):
    accounts.account_suspend(customer=access.customer, at=NOW, reason="fraud", comment="first")
    response = admin_client.post(url("suspend", access), suspend_data(), follow=True)
    assert any("nothing to do" in m for m in messages_of(response))
    access.refresh_from_db()
    assert (access.suspend_reason, access.suspend_comment) == ("fraud", "first")
    assert BillingEvent.objects.filter(kind="account.suspended").count() == 1


@pytest.mark.parametrize("group", [*GROUPS, None])
def test_suspend_permission(group, access):
    client, user = staff(group)
    response = client.post(url("suspend", access), suspend_data())
    assert response.status_code == (302 if ALLOWED[group] else 403)
    listed = client.get(changelist())
    form = listed.context["action_form"]
    actions = [name for name, _ in form.fields["action"].choices] if form else []
    assert ("suspend_selected" in actions) is ALLOWED[group]
    assert ("restore_selected" in actions) is ALLOWED[group]
    access.refresh_from_db()
    assert access.status == ("suspended" if ALLOWED[group] else "active")
    if ALLOWED[group]:
        event = BillingEvent.objects.get(kind="account.suspended")
        assert event.actor == f"user:{user.pk}:{user.get_username()}"


@pytest.mark.parametrize("group", [*GROUPS, None])
def test_restore_permission(group, access):
    accounts.account_suspend(customer=access.customer, at=NOW, reason="fraud")
    client, _ = staff(group)
    response = client.post(url("restore", access), {"_confirm": "1"})
    assert response.status_code == (302 if ALLOWED[group] else 403)
    client.post(
        changelist(),
        {"action": "restore_selected", "_selected_action": [access.pk], "_confirm": "1"},
    )
    access.refresh_from_db()
    assert access.status == ("active" if ALLOWED[group] else "suspended")
