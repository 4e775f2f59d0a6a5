"""Fixtures shared by every app's tests."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from api.services import api_key_create
from api.tests.schema_check import StrictAPIClient
from api.throttling import throttle_counters_reset
from billing.payments.defaults import payment_defaults_ensure
from reports.ledger.posting import ledger_accounts_ensure
from reports.staff_groups import sync_staff_groups


@pytest.fixture(autouse=True)
def migration_data(request):
    """Rows that migrations make (gateways, the default dunning campaign, staff groups, ledger
    accounts), made again when a transactional test has flushed the database before this
    test."""
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
    ledger_accounts_ensure()
    if not Group.objects.filter(name="finance").exists():
        sync_staff_groups()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def api_rate_limits_fresh():
    """Each test starts with no API request counted (the limits stay on)."""
    throttle_counters_reset()


@pytest.fixture
def api_key(db):
    key, raw = api_key_create(name="tests", scopes=["read", "write"])
    key.raw = raw
    return key


@pytest.fixture
def api(api_key):
    """An APIClient authenticated with a read+write key; every answer it gets must be as the
    served schema declares (no undeclared key, nullability kept)."""
    client = StrictAPIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw}")
    return client


@pytest.fixture
def read_only_api(db):
    _, raw = api_key_create(name="reader", scopes=["read"])
    client = StrictAPIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


# Browser tests: Debian's Chromium through Playwright (installed by .ci/run; never downloaded).
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "build/screenshots"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop vs the live server ORM
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server, transactional_db):
    """A fresh browser context on the live server; `page.goto("/portal/")` works."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot():
    """`screenshot(page, name)`: a full-page PNG as <PORTAL_SCREENSHOTS>/<name>.png
    (build/screenshots/, which README names)."""

    def take(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
