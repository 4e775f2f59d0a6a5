"""Fixtures shared by several subscription test modules (a module's own fixture of the same
name wins, as test_changes.py's `book` does)."""

import pytest

from billing.subscriptions.tests.addons_helpers import addon
from billing.tests import factories


@pytest.fixture
def book():
    """The add-on tests' book: a customer on "Basic" (30.00 a month) and three add-ons."""
    customer = factories.customer()
    basic = factories.plan(code="basic", amount="30.00")
    return {
        "customer": customer,
        "basic": basic,
        "storage": addon("storage", "10.00"),
        "support": addon("support", "120.00", interval="year"),
        "setup": addon("setup", "50.00", interval="one_time"),
    }
