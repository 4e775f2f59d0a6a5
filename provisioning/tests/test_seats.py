"""Seats: assign, unassign, transfer; never more than purchased, also under concurrency."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from api.errors import Conflict, DomainError, StateError
from billing.tests import factories
from catalog.tests.factories import feature as feature_create
from customers.models import CustomerRole
from customers.services import customer_user_add
from provisioning.models import CustomerAccess, SeatAssignment
from provisioning.services import accounts
from provisioning.services.seats import (
    seat_assign,
    seat_counts,
    seat_transfer,
    seat_unassign,
    seats_purchased,
    seats_reduction_check,
)

pytestmark = pytest.mark.django_db

AT = datetime(2027, 3, 1, 12, tzinfo=UTC)


def users(customer, count: int) -> list:
    return [
        customer_user_add(customer=customer, email=f"u{n}@{customer.external_id}.test")
        for n in range(count)
    ]


@pytest.fixture
def setup():
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    feature = feature_create("editor_seats", kind="seats")
    held = customer.provisioned_entitlements.create(feature=feature, limit=2)
    return customer, feature, held


def test_purchased_is_the_provisioned_limit_none_unlimited_zero_without(setup):
    customer, feature, held = setup
    assert seats_purchased(customer=customer, feature=feature) == 2
    held.limit = None
    held.save()
    assert seats_purchased(customer=customer, feature=feature) is None
    held.enabled = False
    held.save()
    assert seats_purchased(customer=customer, feature=feature) == 0
    other = feature_create("viewer_seats", kind="seats")
    assert seats_purchased(customer=customer, feature=other) == 0


def test_assign_up_to_purchased_then_refuse(setup):
    customer, feature, _ = setup
    a, b, c = users(customer, 3)
    version = CustomerAccess.objects.get(customer=customer).version
    seat = seat_assign(customer=customer, feature=feature, user=a, at=AT)
    assert (seat.user, seat.assigned_at) == (a, AT)
    assert CustomerAccess.objects.get(customer=customer).version == version + 1
    assert seat_assign(customer=customer, feature=feature, user=a, at=AT) == seat  # idempotent
    seat_assign(customer=customer, feature=feature, user=b, at=AT)
    with pytest.raises(Conflict) as exc:
        seat_assign(customer=customer, feature=feature, user=c, at=AT)
    assert exc.value.code == "seat_limit_reached"
    assert "All 2 seats of editor_seats are assigned" in exc.value.message
    [count] = seat_counts(customer=customer)
    assert (count.feature, count.purchased, count.assigned, count.available) == (
        feature,
        2,
        2,
        0,
    )


def test_unlimited_seats_never_run_out(setup):
    customer, feature, held = setup
    held.limit = None
    held.save()
    for user in users(customer, 5):
        seat_assign(customer=customer, feature=feature, user=user, at=AT)
    [count] = seat_counts(customer=customer)
    assert (count.purchased, count.assigned, count.available) == (None, 5, None)


def test_only_the_customers_own_users_and_seats_features(setup):
    customer, feature, _ = setup
    stranger = customer_user_add(customer=factories.customer("other"), email="x@other.test")
    with pytest.raises(ValidationError) as exc:
        seat_assign(customer=customer, feature=feature, user=stranger, at=AT)
    assert exc.value.error_dict["user"][0].code == "not_a_member"
    boolean = feature_create("sso")
    with pytest.raises(ValidationError) as exc:
        seat_assign(customer=customer, feature=boolean, user=users(customer, 1)[0], at=AT)
    assert "feature" in exc.value.error_dict


def test_no_seats_for_a_deprovisioned_customer(setup):
    customer, feature, _ = setup
    [user] = users(customer, 1)
    accounts.account_deprovision(customer=customer, at=AT)
    with pytest.raises(StateError):
        seat_assign(customer=customer, feature=feature, user=user, at=AT)


def test_unassign_frees_a_seat_and_is_idempotent(setup):
    customer, feature, _ = setup
    a, b, c = users(customer, 3)
    seat_assign(customer=customer, feature=feature, user=a, at=AT)
    seat_assign(customer=customer, feature=feature, user=b, at=AT)
    assert seat_unassign(customer=customer, feature=feature, user=a, at=AT) is True
    assert seat_unassign(customer=customer, feature=feature, user=a, at=AT) is False
    seat_assign(customer=customer, feature=feature, user=c, at=AT)
    assert set(SeatAssignment.objects.values_list("user", flat=True)) == {b.pk, c.pk}


def test_transfer_moves_the_seat_even_when_all_are_taken(setup):
    customer, feature, _ = setup
    a, b, c = users(customer, 3)
    seat_assign(customer=customer, feature=feature, user=a, at=AT)
    seat_assign(customer=customer, feature=feature, user=b, at=AT)
    moved = seat_transfer(customer=customer, feature=feature, from_user=a, to_user=c, at=AT)
    assert moved.user == c
    assert set(SeatAssignment.objects.values_list("user", flat=True)) == {b.pk, c.pk}
    with pytest.raises(Conflict) as exc:
        seat_transfer(customer=customer, feature=feature, from_user=b, to_user=c, at=AT)
    assert exc.value.code == "already_assigned"
    with pytest.raises(ValidationError) as exc:
        seat_transfer(customer=customer, feature=feature, from_user=a, to_user=b, at=AT)
    assert "from_user" in exc.value.error_dict


def test_reducing_below_the_assigned_seats_is_refused_with_a_clear_message(setup):
    customer, feature, held = setup
    held.limit = 5
    held.save()
    for user in users(customer, 3):
        seat_assign(customer=customer, feature=feature, user=user, at=AT)
    seats_reduction_check(customer=customer, feature=feature, new_limit=3)
    seats_reduction_check(customer=customer, feature=feature, new_limit=None)
    with pytest.raises(DomainError) as exc:
        seats_reduction_check(customer=customer, feature=feature, new_limit=2)
    assert exc.value.message == "3 seats are assigned; unassign 1 user before reducing to 2 seats."
    assert exc.value.code == "seats_assigned"
    with pytest.raises(DomainError) as exc:
        seats_reduction_check(customer=customer, feature=feature, new_limit=0)
    assert "unassign 3 users before reducing to 0 seats" in exc.value.message


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_assignments_never_exceed_purchased(postgres_only):
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    feature = feature_create("editor_seats", kind="seats")
    customer.provisioned_entitlements.create(feature=feature, limit=3)
    members = users(customer, 12)
    barrier = threading.Barrier(len(members), timeout=30)

    def assign(user):
        try:
            barrier.wait()
            seat_assign(customer=customer, feature=feature, user=user, at=AT)
            return "assigned"
        except Conflict as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        outcomes = list(pool.map(assign, members))
    assert sorted(outcomes).count("assigned") == 3, outcomes
    assert set(outcomes) == {"assigned", "seat_limit_reached"}
    assert SeatAssignment.objects.filter(customer=customer, feature=feature).count() == 3


def test_owner_role_is_a_plain_customer_user(setup):
    customer, feature, _ = setup
    owner = customer.users.get(role=CustomerRole.OWNER)
    assert seat_assign(customer=customer, feature=feature, user=owner, at=AT).user == owner
