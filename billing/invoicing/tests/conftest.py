"""Fixtures shared by several invoicing test modules (a module's own fixture of the same name
wins, as in test_discounts.py and test_admin_billing.py)."""

import pytest

from billing.tests import factories


@pytest.fixture
def customer(db):
    """The credit note tests' customer: "acme", in USD."""
    return factories.customer(external_id="acme")
