"""Service API keys in the portal: create (shown once), rotate, revoke."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerRole
from provisioning.models import ServiceKey
from provisioning.services.accounts import account_suspend
from provisioning.services.keys import service_key_authenticate, service_key_create

R = CustomerRole
KEYS = reverse("portal:api_keys")
CREATE = reverse("portal:api_key_create")
CONFIRM = {"confirm": "yes"}


def rotate_url(key):
    return reverse("portal:api_key_rotate", args=[key.pk])


def revoke_url(key):
    return reverse("portal:api_key_revoke", args=[key.pk])


def secret_of(page: str) -> str:
    return re.search(r'data-testid="secret">(ck_live_[\w-]+)<', page).group(1)


def key_for(account, name="CI"):
    return service_key_create(
        customer=account.customer, name=name, scopes=["read"], at=timezone.now()
    )


def keys_state(account):
    return sorted(
        ServiceKey.objects.filter(customer=account.customer).values_list(
            "pk", "expires_at", "revoked_at"
        )
    )


def test_list_shows_own_keys_without_secrets(acme, globex):
    key, raw = key_for(acme, "Deploy bot")
    key_for(globex, "Globex key")
    response = acme.client(R.VIEWER).get(KEYS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Deploy bot" in page
    assert key.prefix in page
    assert raw not in page
    assert "Globex key" not in page
    assert "Create key" not in page
    assert "Rotate" not in page


def test_create_shows_the_key_once(acme):
    client = acme.client(R.ADMIN)
    response = client.post(CREATE, {"name": "Deploy bot", "scopes": ["read", "write"]})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = secret_of(response.content.decode())
    key = service_key_authenticate(raw, at=timezone.now())
    assert key.customer == acme.customer
    assert key.scopes == ["read", "write"]
    assert raw not in client.get(KEYS).content.decode()  # never again


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "scopes": ["read"]}, "This field is required."),
        ({"name": "x", "scopes": []}, "This field is required."),
        ({"name": "x", "scopes": ["root"]}, "Select a valid choice"),
        ({"name": "x" * 101, "scopes": ["read"]}, "at most 100 characters"),
    ],
)
def test_create_refuses_bad_input(acme, data, message):
    response = acme.client().post(CREATE, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ServiceKey.objects.exists()


def test_create_refused_while_access_is_suspended(acme):
    account_suspend(customer=acme.customer, at=timezone.now())
    response = acme.client().post(CREATE, {"name": "x", "scopes": ["read"]})
    assert response.status_code == 400
    assert "access is suspended" in response.content.decode()
    assert not ServiceKey.objects.exists()


def test_rotate_shows_the_new_key_once_and_the_old_ones_expiry(acme):
    old, old_raw = key_for(acme)
    client = acme.client()
    before = timezone.now()
    response = client.post(rotate_url(old), {"overlap_hours": "24"})
    assert response.status_code == 200
    page = response.content.decode()
    raw = secret_of(page)
    assert raw != old_raw
    old.refresh_from_db()
    assert before + timedelta(hours=24) <= old.expires_at <= timezone.now() + timedelta(hours=24)
    assert f"keeps working until {timezone.localtime(old.expires_at):%Y-%m-%d %H:%M}" in page
    assert "Expires " in page  # the old key is marked expiring in the list
    new = service_key_authenticate(raw, at=timezone.now())
    assert new.rotated_from_id == old.pk
    assert service_key_authenticate(old_raw, at=timezone.now()) is not None  # the overlap
    assert raw not in client.get(KEYS).content.decode()


def test_rotate_with_no_overlap_stops_the_old_key(acme):
    old, old_raw = key_for(acme)
    response = acme.client().post(rotate_url(old), {"overlap_hours": "0"})
    assert "has stopped working" in response.content.decode()
    assert service_key_authenticate(old_raw, at=timezone.now()) is None


def test_rotate_refuses_bad_input_and_a_revoked_key(acme):
    key, _ = key_for(acme)
    client = acme.client()
    before = keys_state(acme)
    assert client.post(rotate_url(key), {"overlap_hours": "9999"}).status_code == 400
    assert keys_state(acme) == before
    client.post(revoke_url(key), CONFIRM)
    before = keys_state(acme)
    response = client.post(rotate_url(key), {"overlap_hours": "24"})
    assert response.status_code == 400
    assert "A revoked key cannot be rotated." in response.content.decode()
    assert keys_state(acme) == before


def test_revoke_asks_for_a_confirmation_first(acme):
    key, raw = key_for(acme, "Old bot")
    client = acme.client()
    page = client.get(KEYS).content.decode()
    assert f'href="{revoke_url(key)}">Revoke' in page  # a link to the confirmation page
    response = client.get(revoke_url(key))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Revoke the API key “Old bot”?" in page
    assert f"The key “Old bot” ({key.prefix}…) stops working at once" in page
    assert "Last used: never." in page
    assert "This cannot be undone" in page
    assert 'name="confirm" value="yes"' in page
    assert keys_state(acme)[0][2] is None  # nothing revoked by looking

    response = client.post(revoke_url(key), CONFIRM, follow=True)
    page = response.content.decode()
    assert "is revoked" in page
    assert "Revoked " in page
    assert service_key_authenticate(raw, at=timezone.now()) is None
    response = client.get(revoke_url(key), follow=True)  # again: nothing to confirm
    assert "is already revoked" in response.content.decode()


def test_a_revoke_without_the_confirmation_goes_to_it(acme):
    key, raw = key_for(acme, "Old bot")
    before = keys_state(acme)
    response = acme.client().post(revoke_url(key))
    assert response.status_code == 303
    assert response["Location"] == revoke_url(key)
    assert keys_state(acme) == before
    assert service_key_authenticate(raw, at=timezone.now()) is not None


def test_the_confirmation_of_a_replaced_key_says_until_when_it_works(acme):
    key, _ = key_for(acme, "Old bot")
    client = acme.client()
    client.post(rotate_url(key), {"overlap_hours": "24"})
    key.refresh_from_db()
    page = client.get(revoke_url(key)).content.decode()
    assert f"would have kept working until {key.expires_at:%Y-%m-%d %H:%M} UTC" in page


@pytest.mark.parametrize("role", [R.BILLING, R.MEMBER, R.VIEWER])
def test_key_changes_need_manage_api_keys(acme, role):
    key, _ = key_for(acme)
    client = acme.client(role)
    before = keys_state(acme)
    assert client.post(CREATE, {"name": "x", "scopes": ["read"]}).status_code == 403
    assert client.post(rotate_url(key), {"overlap_hours": "24"}).status_code == 403
    assert client.post(revoke_url(key), CONFIRM).status_code == 403
    assert client.get(revoke_url(key)).status_code == 403
    assert keys_state(acme) == before


def test_another_customers_key_is_404(acme, globex):
    key, raw = key_for(globex)
    client = acme.client()
    assert client.post(rotate_url(key), {"overlap_hours": "24"}).status_code == 404
    assert client.post(revoke_url(key), CONFIRM).status_code == 404
    assert client.get(revoke_url(key)).status_code == 404
    assert service_key_authenticate(raw, at=timezone.now()) is not None


def test_get_on_a_post_url_is_405(acme):
    key, _ = key_for(acme)
    client = acme.client()
    assert client.get(CREATE).status_code == 405
    assert client.get(rotate_url(key)).status_code == 405
