"""The access check's fast view answers exactly as the DRF view does, and hands it the rest.

`/api/v1/access/check` is the fast view (access_fast.py); `/api/v1/access/check/` is the DRF
view. Each request goes to both; status, body and headers must be the same."""

import json
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from api.services import api_key_create
from billing.tests import factories
from provisioning.models import ServiceKey
from provisioning.services import accounts
from provisioning.services.access import access_cache_clear
from provisioning.services.entitlements import entitlements_sync
from provisioning.services.keys import service_key_hash
from provisioning.tests.entitlement_helpers import AT, Catalog, subscribe, use

pytestmark = pytest.mark.django_db

NOW = AT + timedelta(hours=2)
SERVICE_KEY = "ck_live_fast-path-key"
FAST, FULL = "/api/v1/access/check", "/api/v1/access/check/"
IGNORED_HEADERS = {"Date"}


@pytest.fixture(autouse=True)
def clock():
    access_cache_clear()
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def keys(db):
    """Admin API keys by scope set."""
    return {
        name: api_key_create(name=name, scopes=scopes)[1]
        for name, scopes in (("rw", ["read", "write"]), ("w", ["write"]), ("gone", ["read"]))
    }


@pytest.fixture
def customers():
    cat = Catalog()
    acme = factories.customer("acme")
    sub = subscribe(acme, cat.basic, at=AT)
    accounts.account_activate(customer=acme, at=AT)
    entitlements_sync(customer=acme, at=AT)
    use(sub, "api_calls", 990)
    ServiceKey.objects.create(
        customer=acme, name="k", hashed_key=service_key_hash(SERVICE_KEY), created_at=AT
    )
    paused = factories.customer("paused")
    subscribe(paused, cat.pro, at=AT)
    accounts.account_activate(customer=paused, at=AT)
    accounts.account_suspend(customer=paused, at=AT)
    return acme, paused


def send(path: str, raw_token: str | None, body, content_type="application/json", **headers):
    if raw_token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {raw_token}"
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return Client().post(path, data=data, content_type=content_type, **headers)


def same(a, b) -> None:
    assert (a.status_code, a.content) == (b.status_code, b.content)
    drop = IGNORED_HEADERS
    assert {k: v for k, v in a.items() if k not in drop} == {
        k: v for k, v in b.items() if k not in drop
    }


ANSWERED = [
    {"api_key": SERVICE_KEY, "feature": "api_quota", "quantity": 10},  # ok: 990 + 10 = 1000
    {"api_key": SERVICE_KEY, "feature": "api_quota", "quantity": 11},  # quota_exceeded
    {"customer": "acme", "feature": "api_quota"},
    {"customer": "acme", "feature": "sso"},  # not entitled on basic
    {"customer": "paused", "feature": "sso"},  # suspended
    {"api_key": "ck_live_unknown", "feature": "sso"},  # invalid_api_key
    {"api_key": SERVICE_KEY, "feature": "no_such_feature"},
    {"customer": "acme", "feature": "editor_seats", "quantity": 0},
]


@pytest.mark.parametrize("body", ANSWERED)
def test_the_fast_view_answers_the_common_request_as_the_drf_view(customers, keys, body):
    with mock.patch("provisioning.api.access_fast._full_view", side_effect=AssertionError):
        fast = send(FAST, keys["rw"], body)
    same(fast, send(FULL, keys["rw"], body))
    assert fast.status_code == 200


HANDED_OVER = [
    ("rw", {"customer": "acme", "feature": "api_quota", "extra": 1}, {}),
    ("rw", {"customer": "acme", "api_key": SERVICE_KEY, "feature": "sso"}, {}),
    ("rw", {"customer": "acme", "feature": "sso", "quantity": -1}, {}),
    ("rw", {"customer": "acme", "feature": "sso", "quantity": 1.5}, {}),
    ("rw", {"customer": "acme", "feature": " sso"}, {}),
    ("rw", {"customer": "ac\u0000me", "feature": "sso"}, {}),
    ("rw", {"customer": "nobody", "feature": "sso"}, {}),  # 400 does_not_exist
    ("rw", "{not json", {}),
    ("rw", ["customer", "acme"], {}),
    ("w", {"customer": "acme", "feature": "sso"}, {}),  # no read scope: 403
    ("gone", {"customer": "acme", "feature": "sso"}, {}),  # revoked: 401
    ("not-a-key", {"customer": "acme", "feature": "sso"}, {}),
    (None, {"customer": "acme", "feature": "sso"}, {}),
    ("rw", {"customer": "acme", "feature": "sso"}, {"HTTP_IDEMPOTENCY_KEY": "k-1"}),
]


@pytest.mark.parametrize(("token", "body", "headers"), HANDED_OVER)
def test_anything_else_gets_the_drf_views_answer(customers, keys, token, body, headers):
    from api.models import ApiKey

    ApiKey.objects.filter(name="gone").update(revoked_at=NOW)
    token = keys.get(token, token)
    fast = send(FAST, token, body, **headers)
    if "HTTP_IDEMPOTENCY_KEY" in headers:
        headers = {"HTTP_IDEMPOTENCY_KEY": "k-2"}  # the full view would replay k-1
    same(fast, send(FULL, token, body, **headers))


def test_a_form_encoded_body_is_refused_as_the_drf_view_does(customers, keys):
    body = "customer=acme&feature=sso"
    fast = send(FAST, keys["rw"], body, content_type="application/x-www-form-urlencoded")
    same(fast, send(FULL, keys["rw"], body, content_type="application/x-www-form-urlencoded"))
    assert fast.status_code == 415


def test_the_fast_view_costs_two_queries_when_warm(customers, keys, django_assert_num_queries):
    body = {"api_key": SERVICE_KEY, "feature": "api_quota"}
    send(FAST, keys["rw"], body)
    with django_assert_num_queries(2):  # the admin key, then access + usage in one
        assert send(FAST, keys["rw"], body).json()["allowed"] is True
