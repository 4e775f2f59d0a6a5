"""Portal fixtures: a catalog, two customers, and a real Chromium for browser tests."""

import os
from pathlib import Path

import pytest

from portal.tests.helpers import PASSWORD, account
from provisioning.tests.entitlement_helpers import Catalog

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


@pytest.fixture
def catalog(db):
    return Catalog()


@pytest.fixture
def acme(catalog):
    return account(catalog, "acme")


@pytest.fixture
def globex(catalog):
    """Another customer: nothing of it may ever show in acme's portal."""
    return account(catalog, "globex", plan=catalog.pro)


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium through Playwright (installed by .ci/run; never downloaded)."""
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


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/portal/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal/")


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG as <PORTAL_SCREENSHOTS>/<name>.png (README names the folder)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
