"""The seats a subscription change would leave, and the check the portal makes before it."""

import pytest
from django.utils import timezone

from api.errors import Conflict
from billing.models import Subscription, SubscriptionAddOn
from billing.tests import factories
from customers.services import customer_user_add
from provisioning.services.entitlements import entitlements_sync
from provisioning.services.seat_changes import seat_limits_after_change, seats_change_check
from provisioning.services.seats import seat_assign
from provisioning.tests.entitlement_helpers import Catalog, subscribe


@pytest.fixture
def catalog(db):
    return Catalog()


@pytest.fixture
def sub(catalog):
    customer = factories.customer("initech")
    sub = subscribe(customer, catalog.pro, at=timezone.now(), quantity=2)  # 5 seats × 2
    entitlements_sync(customer=customer, at=timezone.now())
    return sub


def members(sub, n):
    return [
        customer_user_add(customer=sub.customer, email=f"u{i}@initech.example.com")
        for i in range(n)
    ]


def test_limits_follow_plan_quantity_and_addons_and_nothing_is_saved(sub, catalog):
    now = timezone.now()
    seats = catalog.seats.pk
    assert seat_limits_after_change(subscription=sub, at=now)[seats] == 10
    assert seat_limits_after_change(subscription=sub, at=now, quantity=3)[seats] == 15
    assert seat_limits_after_change(subscription=sub, at=now, plan=catalog.basic)[seats] == 4
    # a plan without the seats feature leaves none
    assert seat_limits_after_change(subscription=sub, at=now, plan=catalog.unlimited) == {}
    addons = [{"addon": catalog.extra_calls, "quantity": 1}]
    assert seat_limits_after_change(subscription=sub, at=now, addons=addons)[seats] == 10
    sub.refresh_from_db()
    assert (sub.plan_id, sub.quantity) == (catalog.pro.pk, 2)
    assert not SubscriptionAddOn.objects.exists()
    assert Subscription.objects.count() == 1


def test_check_refuses_fewer_seats_than_assigned(sub, catalog):
    now = timezone.now()
    for user in members(sub, 5):
        seat_assign(customer=sub.customer, feature=catalog.seats, user=user, at=now)
    seats_change_check(subscription=sub, at=now, quantity=1)  # 5 seats: still enough
    with pytest.raises(Conflict, match="5 seats are assigned; unassign 1 user") as refused:
        seats_change_check(subscription=sub, at=now, plan=catalog.basic, quantity=2)
    assert (refused.value.code, refused.value.field) == ("seats_assigned", "quantity")
    with pytest.raises(Conflict, match="reducing to 0 seats"):
        seats_change_check(subscription=sub, at=now, plan=catalog.unlimited)
