"""Add-ons on subscriptions: the changes that are refused (interval and currency mismatches,
invalid or inactive add-ons, changes not made immediately).

The book (the `book` fixture, conftest.py): a customer (UTC) on "Basic", 30.00 a month paid
in advance, from 2027-01-01. Add-ons: storage 10.00 a month, support 120.00 a year, setup
50.00 once.
"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.invoicing.services.changes import subscription_change
from billing.models import SubscriptionAddOn
from billing.subscriptions.tests.addons_helpers import addon, subscribe, utc
from billing.tests import factories
from catalog import services as catalog

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


@pytest.mark.parametrize(
    ("plan_kwargs", "addon_code"),
    [
        ({}, "support"),  # a yearly add-on on a monthly plan
        ({"interval": "year"}, "storage"),  # a monthly add-on on a yearly plan
        ({"interval_count": 3}, "storage"),  # a monthly add-on on a quarterly plan
    ],
)
def test_interval_mismatch_refused(book, plan_kwargs, addon_code):
    plan = factories.plan(code="other", amount="30.00", **plan_kwargs)
    with pytest.raises(ValidationError) as error:
        subscribe(book, plan=plan, addons=[(book[addon_code], 1)])
    assert error.value.error_dict["addons"][0].code == "addon_interval_mismatch"
    sub = subscribe(book, plan=plan)
    with pytest.raises(ValidationError) as error:
        subscription_change(
            subscription=sub,
            addons=[{"addon": book[addon_code], "quantity": 1}],
            at=utc(2027, 1, 9),
        )
    assert error.value.error_dict["addons"][0].code == "addon_interval_mismatch"
    # A one-time add-on fits any plan.
    subscription_change(
        subscription=sub, addons=[{"addon": book["setup"], "quantity": 1}], at=utc(2027, 1, 9)
    )


def test_plan_change_to_another_interval_must_drop_recurring_addons(book):
    sub = subscribe(book, addons=[(book["storage"], 1), (book["setup"], 1)])
    yearly = factories.plan(code="annual", amount="300.00", interval="year")
    for when in ("immediately", "period_end"):
        with pytest.raises(ValidationError) as error:
            subscription_change(subscription=sub, plan=yearly, at=utc(2027, 1, 16), when=when)
        assert error.value.error_dict["addons"][0].code == "addon_interval_mismatch"
    # Dropping the monthly add-on in the same change works, with its credit; the one-time
    # add-on stays.
    result = subscription_change(
        subscription=sub,
        plan=yearly,
        addons=[{"addon": book["setup"], "quantity": 1}, {"addon": book["support"], "quantity": 1}],
        at=utc(2027, 1, 16),
    )
    assert [(ln.period_start.date().isoformat(), ln.amount) for ln in result.proration_lines] == [
        ("2027-01-16", Decimal("-15.48")),  # -30 × 16/31
        ("2027-01-16", Decimal("-5.16")),  # -10 × 16/31
        ("2027-01-16", Decimal("300.00")),  # the new schedule starts on Jan 16
        ("2027-01-16", Decimal("120.00")),  # and the yearly add-on with it
    ]


def test_addon_refused_while_a_plan_of_another_interval_is_scheduled(book):
    sub = subscribe(book)
    yearly = factories.plan(code="annual", amount="300.00", interval="year")
    subscription_change(subscription=sub, plan=yearly, at=utc(2027, 1, 10), when="period_end")
    with pytest.raises(ValidationError) as error:
        subscription_change(
            subscription=sub,
            addons=[{"addon": book["storage"], "quantity": 1}],
            at=utc(2027, 1, 11),
        )
    assert error.value.error_dict["addons"][0].code == "addon_interval_mismatch"


@pytest.mark.parametrize(
    ("items", "code"),
    [
        (
            lambda b: [{"addon": addon("euro", "9.00", currency="EUR"), "quantity": 1}],
            "currency_mismatch",
        ),
        (lambda b: [{"addon": b["storage"], "quantity": -1}], "min_value"),
        (
            lambda b: [
                {"addon": b["storage"], "quantity": 1},
                {"addon": b["storage"], "quantity": 2},
            ],
            "duplicate",
        ),
    ],
)
def test_invalid_addons_refused(book, items, code):
    sub = subscribe(book)
    with pytest.raises(ValidationError) as error:
        subscription_change(subscription=sub, addons=items(book), at=utc(2027, 1, 9))
    assert error.value.error_dict["addons"][0].code == code
    assert not SubscriptionAddOn.objects.exists()


def test_currency_mismatch_refused_at_creation(book):
    euro = addon("euro", "9.00", currency="EUR")
    with pytest.raises(ValidationError) as error:
        subscribe(book, addons=[(euro, 1)])
    assert error.value.error_dict["addons"][0].code == "currency_mismatch"


def test_inactive_addon_cannot_be_added_but_can_be_kept(book):
    sub = subscribe(book, addons=[(book["storage"], 1)])
    catalog.addon_update(addon=book["storage"], active=False)
    lamp = addon("lamp", "1.00")
    catalog.addon_update(addon=lamp, active=False)
    with pytest.raises(ValidationError) as error:
        subscription_change(
            subscription=sub,
            addons=[{"addon": book["storage"], "quantity": 1}, {"addon": lamp, "quantity": 1}],
            at=utc(2027, 1, 9),
        )
    assert [e.code for e in error.value.error_dict["addons"]] == ["addon_inactive"]


def test_addons_change_only_immediately(book):
    sub = subscribe(book)
    with pytest.raises(ValidationError) as error:
        subscription_change(
            subscription=sub,
            addons=[{"addon": book["storage"], "quantity": 1}],
            at=utc(2027, 1, 9),
            when="period_end",
        )
    assert error.value.error_dict["addons"][0].code == "not_supported"
