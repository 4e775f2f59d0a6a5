"""Accounts: activate, suspend, restore, deprovision; and the role → permission table."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.errors import StateError
from billing.tests import factories
from catalog.tests.factories import feature as feature_create
from customers.models import CustomerRole, CustomerUser
from customers.services import customer_user_add
from provisioning.models import AccessStatus, CustomerAccess, SeatAssignment, ServiceKey
from provisioning.roles import ROLE_PERMISSIONS, Permission, role_allows
from provisioning.services import accounts
from provisioning.services.keys import service_key_authenticate, service_key_create
from provisioning.services.seats import seat_assign

pytestmark = pytest.mark.django_db

AT = datetime(2027, 3, 1, 12, tzinfo=UTC)


def version(customer) -> int:
    return CustomerAccess.objects.get(customer=customer).version


def test_activate_makes_access_and_an_owner_from_the_customer_email_once():
    customer = factories.customer("acme")
    access = accounts.account_activate(customer=customer, at=AT)
    assert access.status == AccessStatus.ACTIVE
    assert access.activated_at == AT
    owner = CustomerUser.objects.get(customer=customer)
    assert (owner.role, owner.user.username) == (CustomerRole.OWNER, "acme@example.com")
    first_version = access.version
    again = accounts.account_activate(customer=customer, at=AT + timedelta(days=1))
    assert again.activated_at == AT
    assert again.version == first_version  # nothing changed, nothing to invalidate
    assert CustomerUser.objects.filter(customer=customer).count() == 1


def test_activate_keeps_an_existing_owner():
    customer = factories.customer("acme")
    owner = customer_user_add(customer=customer, email="boss@acme.test", role=CustomerRole.OWNER)
    accounts.account_activate(customer=customer, at=AT)
    assert list(CustomerUser.objects.filter(customer=customer)) == [owner]


def test_suspend_restore_round_trip_bumps_the_version_each_time():
    customer = factories.customer("acme")
    v0 = accounts.account_activate(customer=customer, at=AT).version
    suspended = accounts.account_suspend(customer=customer, at=AT + timedelta(days=1))
    assert suspended.status == AccessStatus.SUSPENDED
    assert suspended.suspended_at == AT + timedelta(days=1)
    assert suspended.version == v0 + 1
    assert accounts.account_suspend(customer=customer, at=AT).version == v0 + 1  # idempotent
    restored = accounts.account_restore(customer=customer, at=AT + timedelta(days=2))
    assert (restored.status, restored.suspended_at, restored.version) == (
        AccessStatus.ACTIVE,
        None,
        v0 + 2,
    )
    assert accounts.account_restore(customer=customer, at=AT).version == v0 + 2


def test_suspending_an_account_never_activated_changes_nothing_and_restore_is_refused():
    customer = factories.customer("acme")
    access = accounts.account_suspend(customer=customer, at=AT)
    assert access.status == AccessStatus.NONE
    with pytest.raises(StateError) as exc:
        accounts.account_restore(customer=customer, at=AT)
    assert exc.value.code == "not_suspended"


def test_suspended_keys_stop_working_and_work_again_on_restore():
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    key, raw = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    assert service_key_authenticate(raw, at=AT) == key
    accounts.account_suspend(customer=customer, at=AT)
    assert service_key_authenticate(raw, at=AT) is None
    key.refresh_from_db()
    assert key.revoked_at is None  # not revoked: restore brings it back
    accounts.account_restore(customer=customer, at=AT)
    assert service_key_authenticate(raw, at=AT) == key


def test_deprovision_revokes_keys_removes_seats_and_is_idempotent():
    customer = factories.customer("acme")
    owner_access = accounts.account_activate(customer=customer, at=AT)
    seats = feature_create("seats", kind="seats")
    customer.provisioned_entitlements.create(feature=seats, limit=5)
    owner = CustomerUser.objects.get(customer=customer)
    seat_assign(customer=customer, feature=seats, user=owner, at=AT)
    _, raw = service_key_create(customer=customer, name="prod", scopes=["read"], at=AT)
    gone = accounts.account_deprovision(customer=customer, at=AT + timedelta(days=30))
    assert gone.status == AccessStatus.DEPROVISIONED
    assert gone.deprovisioned_at == AT + timedelta(days=30)
    assert gone.version > owner_access.version
    assert not SeatAssignment.objects.filter(customer=customer).exists()
    assert ServiceKey.objects.get(customer=customer).revoked_at == AT + timedelta(days=30)
    assert service_key_authenticate(raw, at=AT + timedelta(days=31)) is None
    assert CustomerUser.objects.filter(customer=customer).exists()  # logins stay
    again = accounts.account_deprovision(customer=customer, at=AT + timedelta(days=40))
    assert (again.deprovisioned_at, again.version) == (gone.deprovisioned_at, gone.version)
    assert accounts.account_suspend(customer=customer, at=AT).status == AccessStatus.DEPROVISIONED


def test_activate_after_deprovisioning_starts_afresh_and_clears_a_scheduled_end():
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    ends = AT + timedelta(days=14)
    scheduled = accounts.account_deprovision_schedule(customer=customer, deprovision_at=ends, at=AT)
    assert scheduled.deprovision_at == ends
    accounts.account_deprovision(customer=customer, at=ends)
    back = accounts.account_activate(customer=customer, at=AT + timedelta(days=60))
    assert back.status == AccessStatus.ACTIVE
    assert back.activated_at == AT + timedelta(days=60)
    assert (back.deprovision_at, back.deprovisioned_at) == (None, None)


def test_suspend_locks_the_access_row_before_writing(postgres_only):
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    with CaptureQueriesContext(connection) as queries:
        accounts.account_suspend(customer=customer, at=AT)
    sql = [q["sql"] for q in queries.captured_queries]
    lock = next(
        i for i, s in enumerate(sql) if "provisioning_customeraccess" in s and "FOR UPDATE" in s
    )
    write = next(i for i, s in enumerate(sql) if s.startswith("UPDATE"))
    assert lock < write


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        ("owner", Permission.MANAGE_BILLING, True),
        ("owner", Permission.MANAGE_ACCOUNT, True),
        ("admin", Permission.MANAGE_TEAM, True),
        ("admin", Permission.MANAGE_API_KEYS, True),
        ("admin", Permission.MANAGE_ACCOUNT, False),
        ("billing", Permission.MANAGE_BILLING, True),
        ("billing", Permission.MANAGE_SEATS, False),
        ("member", Permission.VIEW, True),
        ("member", Permission.MANAGE_API_KEYS, False),
        ("viewer", Permission.VIEW, True),
        ("viewer", Permission.MANAGE_TEAM, False),
        ("stranger", Permission.VIEW, False),
        ("owner", "launch_missiles", False),
    ],
)
def test_role_allows(role, permission, allowed):
    assert role_allows(role, permission) is allowed


def test_every_role_has_an_entry_and_only_known_permissions():
    assert set(ROLE_PERMISSIONS) == set(CustomerRole.values)
    for permissions in ROLE_PERMISSIONS.values():
        assert permissions <= Permission.ALL
