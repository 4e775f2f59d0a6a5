"""`GET /customers/{id}/entitlements/` and `POST /access/check` over the API."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from api.services import api_key_create
from billing.tests import factories
from customers.services import customer_user_add
from provisioning.models import ServiceKey
from provisioning.services import accounts
from provisioning.services.access import access_cache_clear
from provisioning.services.entitlements import entitlements_sync
from provisioning.services.seats import seat_assign
from provisioning.tests.entitlement_helpers import AT, Catalog, subscribe, use

pytestmark = pytest.mark.django_db

NOW = AT + timedelta(hours=2)
RAW_KEY = "ck_live_api-test-key"


@pytest.fixture(autouse=True)
def clock():
    access_cache_clear()
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def cat():
    return Catalog()


@pytest.fixture
def customer(cat):
    customer = factories.customer("acme")
    customer.sub = subscribe(
        customer, cat.basic, addons=[{"addon": cat.extra_calls, "quantity": 2}]
    )
    accounts.account_activate(customer=customer, at=AT)
    entitlements_sync(customer=customer, at=AT)
    ServiceKey.objects.create(
        customer=customer,
        name="prod",
        prefix=RAW_KEY[:12],
        hashed_key=hashlib.sha256(RAW_KEY.encode()).hexdigest(),
        created_at=AT,
    )
    return customer


def test_entitlements_with_usage_and_remaining(api, cat, customer):
    use(customer.sub, "api_calls", 120)
    user = customer_user_add(customer=customer, email="u@acme.test")
    seat_assign(customer=customer, feature=cat.seats, user=user, at=AT)
    for ref in (customer.pk, "acme"):
        response = api.get(f"/api/v1/customers/{ref}/entitlements/")
        assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["customer"], body["external_id"], body["access_status"]) == (
        customer.pk,
        "acme",
        "active",
    )
    rows = {row["feature"]: row for row in body["results"]}
    assert rows["api_quota"] | {"period_start": None, "period_end": None} == {
        "feature": "api_quota",
        "name": "api_quota",
        "kind": "quota",
        "enabled": True,
        "value": 2000,
        "limit": 2000,
        "usage": "120",
        "remaining": "1880",
        "source": "plan:basic, addon:extra-calls×2",
        "period_start": None,
        "period_end": None,
    }
    assert rows["api_quota"][
        "period_start"
    ] == customer.sub.current_period_start.isoformat().replace("+00:00", "Z")
    assert (rows["editor_seats"]["limit"], rows["editor_seats"]["usage"]) == (2, "1")
    assert rows["editor_seats"]["remaining"] == "1"
    assert (rows["sso"]["enabled"], rows["sso"]["value"]) == (False, False)
    assert (rows["sso"]["usage"], rows["sso"]["remaining"]) == (None, None)


def test_entitlements_of_an_unknown_customer_is_404(api):
    response = api.get("/api/v1/customers/nobody/entitlements/")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize("url", ["/api/v1/access/check", "/api/v1/access/check/"])
def test_access_check_by_customer_and_by_key(api, customer, url):
    use(customer.sub, "api_calls", 1999)
    response = api.post(url, {"customer": "acme", "feature": "api_quota"}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "allowed": True,
        "reason": "ok",
        "limit": 2000,
        "used": "1999",
        "remaining": "1",
    }
    response = api.post(
        url, {"api_key": RAW_KEY, "feature": "api_quota", "quantity": 2}, format="json"
    )
    assert response.json()["reason"] == "quota_exceeded"
    assert response.json()["allowed"] is False


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"api_key": "ck_live_nope", "feature": "api_quota"}, "invalid_api_key"),
        ({"customer": "acme", "feature": "nope"}, "unknown_feature"),
        ({"customer": "acme", "feature": "sso"}, "not_entitled"),
    ],
)
def test_access_check_denials_are_200s(api, customer, body, reason):
    response = api.post("/api/v1/access/check", body, format="json")
    assert response.status_code == 200
    assert response.json()["reason"] == reason


def test_a_suspended_customer_is_denied(api, customer):
    accounts.account_suspend(customer=customer, at=AT + timedelta(hours=1))
    response = api.post(
        "/api/v1/access/check", {"api_key": RAW_KEY, "feature": "api_quota"}, format="json"
    )
    assert response.json() == {
        "allowed": False,
        "reason": "suspended",
        "limit": None,
        "used": None,
        "remaining": None,
    }


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"feature": "api_quota"}, "customer", "api_key_or_customer"),
        (
            {"customer": "acme", "api_key": RAW_KEY, "feature": "api_quota"},
            "customer",
            "api_key_or_customer",
        ),
        ({"customer": "acme"}, "feature", "required"),
        ({"customer": "acme", "feature": "api_quota", "quantity": -1}, "quantity", "min_value"),
        ({"customer": "acme", "feature": "api_quota", "extra": 1}, "extra", "unknown_field"),
        ({"customer": "nobody", "feature": "api_quota"}, "customer", "does_not_exist"),
    ],
)
def test_access_check_validation_errors_are_400s(api, customer, body, field, code):
    response = api.post("/api/v1/access/check", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["field"], error["code"]) == ("invalid_request", field, code)


def test_the_read_scope_may_check_and_read_entitlements(read_only_api, customer):
    response = read_only_api.post(
        "/api/v1/access/check", {"customer": "acme", "feature": "api_quota"}, format="json"
    )
    assert response.status_code == 200
    assert read_only_api.get("/api/v1/customers/acme/entitlements/").status_code == 200


def test_without_an_api_key_401(customer):
    response = APIClient().post("/api/v1/access/check", {"customer": "acme", "feature": "x"})
    assert response.status_code == 401


def test_a_write_only_key_is_403(customer):
    _, raw = api_key_create(name="writer", scopes=["write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.post(
        "/api/v1/access/check", {"customer": "acme", "feature": "x"}, format="json"
    )
    assert response.status_code == 403


def test_a_warm_http_check_costs_four_queries_at_most(api, customer, django_assert_max_num_queries):
    body = {"customer": "acme", "feature": "api_quota"}
    api.post("/api/v1/access/check", body, format="json")
    with django_assert_max_num_queries(4):  # the API key (+ its last use), access, usage
        response = api.post("/api/v1/access/check", body, format="json")
    assert response.json()["reason"] == "ok"


def test_the_access_check_authenticates_as_every_endpoint_does(api_key, customer):
    from api.models import ApiKey

    client = APIClient()
    body = {"customer": "acme", "feature": "api_quota"}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw}")
    assert client.post("/api/v1/access/check", body, format="json").status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=NOW)
    response = client.post("/api/v1/access/check", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "revoked_api_key")
    client.credentials(HTTP_AUTHORIZATION="Bearer nope")
    response = client.post("/api/v1/access/check", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_api_key")
    client.credentials(HTTP_AUTHORIZATION="Token x")
    response = client.post("/api/v1/access/check", body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "malformed_header")
