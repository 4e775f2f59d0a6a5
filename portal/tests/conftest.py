"""Portal fixtures: a catalog, two customers, signing in a browser page (the browser
fixtures `page` and `screenshot` are in the root conftest.py)."""

import pytest

from portal.tests.helpers import PASSWORD, account
from provisioning.tests.entitlement_helpers import Catalog


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


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/portal/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal/")
