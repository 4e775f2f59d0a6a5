"""Fixtures shared by every app's tests."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.test import APIClient

from api.services import api_key_create
from billing.defaults import payment_defaults_ensure
from reports.staff_groups import sync_staff_groups


@pytest.fixture(autouse=True)
def migration_data(request):
    """Rows that migrations make (gateways, the default dunning campaign, staff groups), made
    again when a transactional test has flushed the database before this test."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
    elif marker is not None or "db" in request.fixturenames:
        request.getfixturevalue("db")
    else:
        return
    payment_defaults_ensure()
    if not Group.objects.filter(name="finance").exists():
        sync_staff_groups()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_key(db):
    key, raw = api_key_create(name="tests", scopes=["read", "write"])
    key.raw = raw
    return key


@pytest.fixture
def api(api_key):
    """An APIClient authenticated with a read+write key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw}")
    return client


@pytest.fixture
def read_only_api(db):
    _, raw = api_key_create(name="reader", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
