"""Customer API keys: hashed at rest, shown once, scopes, limits, rotation with overlap,
revocation, and suspension with the customer."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from api.errors import Conflict, StateError
from billing.tests import factories
from catalog.tests.factories import feature as feature_create
from provisioning.models import ServiceKey
from provisioning.services import accounts
from provisioning.services.keys import (
    DEFAULT_MAX_ACTIVE_KEYS,
    service_key_authenticate,
    service_key_create,
    service_key_hash,
    service_key_revoke,
    service_key_rotate,
)

pytestmark = pytest.mark.django_db

AT = datetime(2027, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def customer():
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    return customer


def test_create_stores_only_the_hash_and_a_prefix(customer):
    key, raw = service_key_create(
        customer=customer, name=" prod ", scopes=["write", "read", "read"], at=AT
    )
    assert raw.startswith("ck_live_")
    assert len(raw) > 40
    stored = ServiceKey.objects.values().get(pk=key.pk)
    assert raw not in str(stored)
    assert stored["hashed_key"] == service_key_hash(raw)
    assert stored["prefix"] == raw[:12]
    assert (key.name, key.scopes, key.created_at) == ("prod", ["read", "write"], AT)


@pytest.mark.parametrize(
    ("name", "scopes", "field"),
    [
        ("prod", [], "scopes"),
        ("prod", ["read", "root"], "scopes"),
        ("  ", ["read"], "name"),
        ("x" * 101, ["read"], "name"),
    ],
)
def test_create_validates_name_and_scopes(customer, name, scopes, field):
    with pytest.raises(ValidationError) as exc:
        service_key_create(customer=customer, name=name, scopes=scopes, at=AT)
    assert field in exc.value.message_dict
    assert not ServiceKey.objects.exists()


def test_the_active_key_limit_counts_neither_revoked_nor_expired_keys(customer):
    keys = [
        service_key_create(customer=customer, name=f"k{n}", scopes=["read"], at=AT)[0]
        for n in range(DEFAULT_MAX_ACTIVE_KEYS)
    ]
    with pytest.raises(Conflict) as exc:
        service_key_create(customer=customer, name="one more", scopes=["read"], at=AT)
    assert exc.value.code == "key_limit_reached"
    service_key_revoke(key=keys[0], at=AT)
    service_key_create(customer=customer, name="replacement", scopes=["read"], at=AT)


def test_a_provisioned_api_keys_entitlement_sets_the_limit(customer):
    api_keys = feature_create("api_keys", kind="boolean")
    held = customer.provisioned_entitlements.create(feature=api_keys, limit=1)
    service_key_create(customer=customer, name="one", scopes=["read"], at=AT)
    with pytest.raises(Conflict):
        service_key_create(customer=customer, name="two", scopes=["read"], at=AT)
    held.enabled = False
    held.save()
    with pytest.raises(Conflict):
        service_key_create(customer=customer, name="two", scopes=["read"], at=AT)


def test_no_key_is_issued_to_a_suspended_or_deprovisioned_customer(customer):
    accounts.account_suspend(customer=customer, at=AT)
    with pytest.raises(StateError) as exc:
        service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    assert exc.value.code == "access_suspended"
    accounts.account_deprovision(customer=customer, at=AT)
    with pytest.raises(StateError):
        service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)


def test_authenticate_unknown_revoked_and_malformed_keys_give_none(customer):
    key, raw = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    assert service_key_authenticate(raw, at=AT) == key
    assert service_key_authenticate(raw + "x", at=AT) is None
    assert service_key_authenticate("sk_" + raw, at=AT) is None
    assert service_key_authenticate("", at=AT) is None
    revoked = service_key_revoke(key=key, at=AT + timedelta(hours=1))
    assert revoked.revoked_at == AT + timedelta(hours=1)
    again = service_key_revoke(key=key, at=AT + timedelta(hours=2))
    assert again.revoked_at == AT + timedelta(hours=1)  # idempotent: first time stays
    assert service_key_authenticate(raw, at=AT + timedelta(hours=3)) is None


def test_keys_of_a_customer_never_activated_do_not_work():
    customer = factories.customer("newco")
    key, raw = service_key_create(customer=customer, name="early", scopes=["read"], at=AT)
    assert service_key_authenticate(raw, at=AT) is None
    accounts.account_activate(customer=customer, at=AT)
    assert service_key_authenticate(raw, at=AT) == key


def test_suspension_stops_keys_without_revoking_and_restore_brings_them_back(customer):
    key, raw = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    accounts.account_suspend(customer=customer, at=AT)
    assert service_key_authenticate(raw, at=AT + timedelta(minutes=5)) is None
    assert ServiceKey.objects.get(pk=key.pk).revoked_at is None
    accounts.account_restore(customer=customer, at=AT + timedelta(days=1))
    assert service_key_authenticate(raw, at=AT + timedelta(days=1)) == key


def test_last_used_at_is_written_at_most_once_a_minute(customer, django_assert_num_queries):
    key, raw = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    with django_assert_num_queries(2):  # the look-up and the first write
        service_key_authenticate(raw, at=AT)
    with django_assert_num_queries(1):
        service_key_authenticate(raw, at=AT + timedelta(seconds=59))
    key.refresh_from_db()
    assert key.last_used_at == AT
    service_key_authenticate(raw, at=AT + timedelta(seconds=61))
    key.refresh_from_db()
    assert key.last_used_at == AT + timedelta(seconds=61)


def test_rotation_keeps_the_old_key_working_through_the_overlap(customer):
    old, old_raw = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    new, new_raw = service_key_rotate(key=old, at=AT, overlap=timedelta(hours=2))
    assert new_raw != old_raw
    assert (new.name, new.scopes, new.rotated_from_id) == ("prod", ["read"], old.pk)
    old.refresh_from_db()
    assert old.expires_at == AT + timedelta(hours=2)
    assert service_key_authenticate(old_raw, at=AT + timedelta(hours=1)) == old
    assert service_key_authenticate(new_raw, at=AT + timedelta(hours=1)) == new
    assert service_key_authenticate(old_raw, at=AT + timedelta(hours=2)) is None
    assert service_key_authenticate(new_raw, at=AT + timedelta(days=30)) == new


def test_rotation_with_no_overlap_ends_the_old_key_at_once(customer):
    old, old_raw = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    service_key_rotate(key=old, at=AT, overlap=timedelta(0))
    assert service_key_authenticate(old_raw, at=AT) is None


def test_revoked_expired_or_already_rotated_keys_cannot_be_rotated(customer):
    old, _ = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    new, _ = service_key_rotate(key=old, at=AT)
    with pytest.raises(StateError) as exc:
        service_key_rotate(key=old, at=AT + timedelta(hours=1))
    assert exc.value.code == "key_rotated"
    with pytest.raises(StateError) as exc:
        service_key_rotate(key=old, at=AT + timedelta(days=2))
    assert exc.value.code == "key_expired"
    service_key_revoke(key=new, at=AT)
    with pytest.raises(StateError) as exc:
        service_key_rotate(key=new, at=AT)
    assert exc.value.code == "key_revoked"
    with pytest.raises(ValidationError):
        service_key_rotate(key=old, at=AT, overlap=timedelta(days=-1))


def test_rotation_does_not_count_against_the_limit(customer):
    keys = [
        service_key_create(customer=customer, name=f"k{n}", scopes=["read"], at=AT)[0]
        for n in range(DEFAULT_MAX_ACTIVE_KEYS)
    ]
    new, _ = service_key_rotate(key=keys[-1], at=AT)
    assert new.rotated_from_id == keys[-1].pk


# The operations console
@pytest.fixture
def key_admin_urls():
    """The admin URLconf may have been built before provisioning/admin_accounts registered."""
    import importlib

    from django.conf import settings
    from django.urls import NoReverseMatch, clear_url_caches, reverse

    import provisioning.admin_accounts  # noqa: F401 - until provisioning/admin.py imports it

    try:
        reverse("admin:provisioning_servicekey_changelist")
    except NoReverseMatch:
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
        clear_url_caches()
    return reverse


def test_admin_lists_keys_without_secrets_and_rotates_through_the_service(
    admin_client, customer, key_admin_urls
):
    key, raw = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    url = key_admin_urls("admin:provisioning_servicekey_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200
    assert key.prefix in page.content.decode()
    assert key.hashed_key not in page.content.decode()
    detail = admin_client.get(key_admin_urls("admin:provisioning_servicekey_change", args=[key.pk]))
    assert detail.status_code == 200
    assert key.hashed_key not in detail.content.decode()
    response = admin_client.post(
        url, {"action": "rotate_selected", "_selected_action": [key.pk]}, follow=True
    )
    shown = [str(m) for m in response.context["messages"]]
    new = ServiceKey.objects.get(rotated_from=key)
    [secret_message] = [m for m in shown if "copy it now" in m]
    raw_new = secret_message.split(" is ", 1)[1].split(" ")[0]
    assert service_key_authenticate(raw_new, at=AT) == new
    again = admin_client.post(
        url, {"action": "rotate_selected", "_selected_action": [key.pk]}, follow=True
    )
    assert any("not rotated" in str(m) for m in again.context["messages"])
    revoke = {"action": "revoke_selected", "_selected_action": [new.pk]}
    assert "stop accepting these keys" in admin_client.post(url, revoke).content.decode()
    new.refresh_from_db()
    assert new.revoked_at is None  # not before the confirmation
    admin_client.post(url, {**revoke, "confirmed": "yes"})
    new.refresh_from_db()
    assert new.revoked_at is not None
    assert raw  # the first key's secret never reached the admin


def test_admin_seat_list_and_unassign(admin_client, customer, key_admin_urls):
    from customers.models import CustomerUser
    from provisioning.models import SeatAssignment
    from provisioning.services.seats import seat_assign

    seats = feature_create("seats", kind="seats")
    customer.provisioned_entitlements.create(feature=seats, limit=1)
    owner = CustomerUser.objects.get(customer=customer)
    seat = seat_assign(customer=customer, feature=seats, user=owner, at=AT)
    url = key_admin_urls("admin:provisioning_seatassignment_changelist")
    assert admin_client.get(url).status_code == 200
    admin_client.post(url, {"action": "unassign_selected", "_selected_action": [seat.pk]})
    assert not SeatAssignment.objects.exists()
