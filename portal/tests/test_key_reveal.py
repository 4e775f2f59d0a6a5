"""Revealing, in the portal, a service key issued by provisioning: once, by a role that
manages keys, with a POST and its CSRF token (the Django test client; the last test in
Chromium)."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerRole
from portal.tests.conftest import sign_in
from portal.tests.test_accessibility import audit
from provisioning.models import ServiceKey
from provisioning.services.keys import service_key_authenticate, service_key_issue

R = CustomerRole
KEYS = reverse("portal:api_keys")


def reveal_url(key):
    return reverse("portal:api_key_reveal", args=[key.pk])


def secrets_in(page: str) -> list[str]:
    return re.findall(r"ck_live_[\w-]+", page)


def issued(account, name="Default"):
    return service_key_issue(
        customer=account.customer, name=name, scopes=["read", "write"], at=timezone.now()
    )


def test_the_list_offers_reveal_for_an_unrevealed_key(acme):
    key = issued(acme)
    page = acme.client(R.ADMIN).get(KEYS).content.decode()
    assert "Not revealed" in page
    assert reveal_url(key) in page
    assert secrets_in(page) == []
    assert audit(page) == []  # labelled, and the reveal form carries a CSRF token


def test_reveal_shows_the_key_once_then_refuses(acme):
    key = issued(acme)
    client = acme.client(R.ADMIN)

    response = client.post(reveal_url(key))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    raw = re.search(r'data-testid="secret">(ck_live_[\w-]+)<', page).group(1)
    assert "Your key “Default”" in page
    found = service_key_authenticate(raw, at=timezone.now())
    assert found.pk == key.pk
    assert found.revealed_at is not None
    listed = client.get(KEYS).content.decode()
    assert raw not in listed
    assert reveal_url(key) not in listed  # no second reveal offered: rotate instead

    again = client.post(reveal_url(key))

    assert again.status_code == 400
    assert "already revealed" in again.content.decode()
    assert raw not in again.content.decode()
    assert service_key_authenticate(raw, at=timezone.now()).pk == key.pk  # still that secret


@pytest.mark.parametrize("role", [R.BILLING, R.MEMBER, R.VIEWER])
def test_reveal_needs_manage_api_keys(acme, role):
    key = issued(acme)
    client = acme.client(role)
    page = client.get(KEYS).content.decode()
    assert reveal_url(key) not in page
    assert "an owner or admin can reveal it" in page

    assert client.post(reveal_url(key)).status_code == 403

    assert ServiceKey.objects.get(pk=key.pk).unrevealed is True


def test_the_owner_may_reveal(acme):
    key = issued(acme)
    assert acme.client(R.OWNER).post(reveal_url(key)).status_code == 200
    assert ServiceKey.objects.get(pk=key.pk).unrevealed is False


def test_reveal_is_a_post_with_a_csrf_token(acme):
    key = issued(acme)
    client = Client(enforce_csrf_checks=True)
    client.force_login(acme.user(R.ADMIN).user)
    assert client.get(reveal_url(key)).status_code == 405
    assert client.post(reveal_url(key)).status_code == 403  # no token
    assert ServiceKey.objects.get(pk=key.pk).unrevealed is True

    page = client.get(KEYS).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(reveal_url(key), {"csrfmiddlewaretoken": token}).status_code == 200
    assert ServiceKey.objects.get(pk=key.pk).unrevealed is False


def test_another_customers_key_cannot_be_revealed(acme, globex):
    key = issued(globex)
    assert acme.client(R.OWNER).post(reveal_url(key)).status_code == 404
    assert ServiceKey.objects.get(pk=key.pk).unrevealed is True


def test_anonymous_reveal_goes_to_the_login(acme):
    key = issued(acme)
    response = Client().post(reveal_url(key))
    assert response.status_code == 302
    assert "/portal/login/" in response["Location"]
    assert ServiceKey.objects.get(pk=key.pk).unrevealed is True


def test_reveal_in_a_browser(page, acme, screenshot):
    key = issued(acme, "Deploy bot")
    sign_in(page, acme.owner.user.email)
    page.get_by_role("link", name="API keys").click()
    row = page.get_by_test_id("keys").get_by_role("row").filter(has_text="Deploy bot")
    assert "Not revealed" in row.inner_text()
    row.get_by_role("button", name="Reveal").click()
    secret = page.get_by_test_id("secret")
    secret.wait_for()
    raw = secret.inner_text()
    assert service_key_authenticate(raw, at=timezone.now()).pk == key.pk
    screenshot(page, "api-key-revealed")
    page.reload()  # a GET: the secret is never shown again, nor a second reveal offered
    assert page.get_by_test_id("secret").count() == 0
    assert raw not in page.content()
    row = page.get_by_test_id("keys").get_by_role("row").filter(has_text="Deploy bot")
    assert row.get_by_role("button", name="Reveal").count() == 0
    assert "Active" in row.inner_text()
