"""Expected entitlements (plans, add-ons, seats × quantity, unlimited, overrides), the sync
(idempotent, version moved on only on a change), removal and override expiry."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from api.errors import StateError
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.tests import factories
from provisioning.models import CustomerAccess, EntitlementOverride, ProvisionedEntitlement
from provisioning.services.entitlements import (
    Expected,
    access_version_bump,
    entitlements_expected,
    entitlements_remove,
    entitlements_sync,
)
from provisioning.services.overrides import (
    entitlement_override_create,
    entitlement_override_end,
    entitlement_overrides_expire,
)
from provisioning.tests.entitlement_helpers import AT, Catalog, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat():
    return Catalog()


@pytest.fixture
def customer():
    return factories.customer("acme")


def provisioned(customer) -> dict[str, tuple]:
    return {
        row.feature.code: (row.enabled, row.limit)
        for row in ProvisionedEntitlement.objects.filter(customer=customer).select_related(
            "feature"
        )
    }


def version(customer) -> int:
    return CustomerAccess.objects.get(customer=customer).version


def override(customer, feature, kind, limit=None, **kwargs):
    kwargs.setdefault("starts_at", AT)
    kwargs.setdefault("at", AT)
    return entitlement_override_create(
        customer=customer, feature=feature, kind=kind, limit=limit, reason="support", **kwargs
    )


def test_a_plan_grants_its_entitlements_seats_times_the_quantity(cat, customer):
    subscribe(customer, cat.pro, quantity=3)
    expected = entitlements_expected(customer=customer, at=AT)
    assert expected == {
        cat.sso.pk: Expected(True, None, "plan:pro"),
        cat.quota.pk: Expected(True, 5000, "plan:pro"),
        cat.seats.pk: Expected(True, 15, "plan:pro×3"),
    }


def test_a_feature_the_plan_lists_as_off_is_kept_disabled(cat, customer):
    subscribe(customer, cat.basic)
    expected = entitlements_expected(customer=customer, at=AT)
    assert expected[cat.sso.pk] == Expected(False, None, "plan:basic")


def test_addons_add_their_limit_times_quantity_and_turn_features_on(cat, customer):
    subscribe(
        customer,
        cat.basic,
        addons=[
            {"addon": cat.extra_calls, "quantity": 3},
            {"addon": cat.audit_addon, "quantity": 1},
        ],
    )
    expected = entitlements_expected(customer=customer, at=AT)
    assert expected[cat.quota.pk] == Expected(
        True, 1000 + 3 * 500, "plan:basic, addon:extra-calls×3"
    )
    assert expected[cat.audit.pk] == Expected(True, None, "addon:audit")


def test_limits_of_several_subscriptions_add_up_and_unlimited_wins(cat, customer):
    subscribe(customer, cat.basic)
    subscribe(customer, cat.pro)
    expected = entitlements_expected(customer=customer, at=AT)
    assert expected[cat.quota.pk].limit == 6000
    assert expected[cat.seats.pk].limit == 7
    assert expected[cat.sso.pk].enabled  # on in pro, off in basic: on
    subscribe(customer, cat.unlimited)
    assert entitlements_expected(customer=customer, at=AT)[cat.quota.pk].limit is None


def test_only_trialing_active_and_past_due_subscriptions_count(cat, customer):
    sub = subscribe(customer, cat.pro)
    assert sub.status in ("active", "trialing")
    subscription_cancel(subscription=sub, when="immediately", at=AT + timedelta(days=1))
    assert entitlements_expected(customer=customer, at=AT + timedelta(days=1)) == {}


def test_overrides_grant_revoke_and_set_limits(cat, customer):
    subscribe(customer, cat.basic)
    override(customer, cat.sso, "grant")
    override(customer, cat.quota, "limit", 200)
    override(customer, cat.seats, "grant", 10)
    override(customer, cat.audit, "grant")
    expected = entitlements_expected(customer=customer, at=AT)
    assert expected[cat.sso.pk].enabled
    assert expected[cat.sso.pk].source == "plan:basic, override:grant"
    assert expected[cat.quota.pk].limit == 200  # lowered: a limit sets it exactly
    assert expected[cat.seats.pk].limit == 10  # a grant gives at least its limit
    assert expected[cat.audit.pk] == Expected(True, None, "override:grant")
    override(customer, cat.quota, "revoke", starts_at=AT + timedelta(minutes=1))
    later = entitlements_expected(customer=customer, at=AT + timedelta(minutes=1))
    assert later[cat.quota.pk].enabled is False


def test_a_grant_without_limit_is_unlimited_and_never_lowers(cat, customer):
    subscribe(customer, cat.pro)
    override(customer, cat.seats, "grant", 2)  # less than the plan's 5: stays 5
    assert entitlements_expected(customer=customer, at=AT)[cat.seats.pk].limit == 5
    override(customer, cat.quota, "grant")
    assert entitlements_expected(customer=customer, at=AT)[cat.quota.pk].limit is None


@pytest.mark.parametrize(
    ("feature", "kind", "limit", "field", "code"),
    [
        ("sso", "grant", 5, "limit", "not_allowed"),
        ("sso", "limit", None, "kind", "not_allowed"),
        ("quota", "revoke", 5, "limit", "not_allowed"),
        ("quota", "limit", -1, "limit", "invalid_value"),
        ("seats", "grant", -3, "limit", "invalid_value"),
        ("quota", "bogus", None, "kind", "invalid_choice"),
    ],
)
def test_override_validation(cat, customer, feature, kind, limit, field, code):
    with pytest.raises(ValidationError) as error:
        override(customer, getattr(cat, feature), kind, limit)
    assert error.value.error_dict[field][0].code == code
    assert not EntitlementOverride.objects.exists()


def test_an_override_expires_after_it_starts_and_has_a_reason(cat, customer):
    with pytest.raises(ValidationError) as error:
        override(customer, cat.sso, "grant", expires_at=AT)
    assert error.value.error_dict["expires_at"][0].code == "expires_before_start"
    with pytest.raises(ValidationError) as error:
        entitlement_override_create(
            customer=customer, feature=cat.sso, kind="grant", starts_at=AT, reason=" ", at=AT
        )
    assert "reason" in error.value.error_dict


def test_sync_writes_rows_and_is_idempotent(cat, customer):
    subscribe(customer, cat.pro, quantity=2)
    assert entitlements_sync(customer=customer, at=AT) is True
    first = version(customer)
    assert provisioned(customer) == {
        "sso": (True, None),
        "api_quota": (True, 5000),
        "editor_seats": (True, 10),
    }
    assert entitlements_sync(customer=customer, at=AT) is False
    assert version(customer) == first  # nothing changed: the cache stays warm


def test_sync_follows_an_upgrade_and_a_removal_and_moves_the_version_once_each(cat, customer):
    sub = subscribe(customer, cat.basic)
    entitlements_sync(customer=customer, at=AT)
    start = version(customer)
    subscription_change(subscription=sub, plan=cat.pro, at=AT + timedelta(days=1))
    assert entitlements_sync(customer=customer, at=AT + timedelta(days=1)) is True
    assert provisioned(customer)["api_quota"] == (True, 5000)
    assert version(customer) == start + 1
    override(customer, cat.audit, "grant", at=AT + timedelta(days=1))  # syncs by itself
    assert version(customer) == start + 2
    entitlements_remove(customer=customer, at=AT + timedelta(days=2))
    assert provisioned(customer) == {}
    assert version(customer) == start + 3
    entitlements_remove(customer=customer, at=AT + timedelta(days=2))
    assert version(customer) == start + 3


def test_sync_deletes_what_is_no_longer_expected(cat, customer):
    sub = subscribe(customer, cat.pro)
    entitlements_sync(customer=customer, at=AT)
    subscription_change(subscription=sub, plan=cat.unlimited, at=AT + timedelta(days=1))
    entitlements_sync(customer=customer, at=AT + timedelta(days=1))
    assert provisioned(customer) == {"sso": (True, None), "api_quota": (True, None)}


def test_access_version_bump_makes_the_row_and_counts_up(customer):
    assert access_version_bump(customer=customer) == 1
    assert access_version_bump(customer=customer) == 2


def test_overrides_expire_on_schedule_without_an_event(cat, customer):
    subscribe(customer, cat.basic)
    entitlements_sync(customer=customer, at=AT)
    grant = override(customer, cat.quota, "limit", 9000, expires_at=AT + timedelta(hours=2))
    future = override(customer, cat.audit, "grant", starts_at=AT + timedelta(hours=1))
    assert provisioned(customer)["api_quota"] == (True, 9000)
    assert "audit_log" not in provisioned(customer)  # not started yet
    assert entitlement_overrides_expire(at=AT + timedelta(hours=1)) == 1
    assert provisioned(customer)["audit_log"] == (True, None)
    assert entitlement_overrides_expire(at=AT + timedelta(hours=1, minutes=1)) == 0
    assert entitlement_overrides_expire(at=AT + timedelta(hours=2)) == 1
    assert provisioned(customer)["api_quota"] == (True, 1000)
    assert EntitlementOverride.objects.filter(pk__in=[grant.pk, future.pk]).count() == 2


def test_ending_an_override_takes_effect_at_once(cat, customer):
    subscribe(customer, cat.basic)
    grant = override(customer, cat.sso, "grant")
    assert provisioned(customer)["sso"] == (True, None)
    ended = entitlement_override_end(override=grant, at=AT + timedelta(minutes=5))
    assert ended.expires_at == AT + timedelta(minutes=5)
    assert provisioned(customer)["sso"] == (False, None)
    with pytest.raises(StateError):
        entitlement_override_end(override=grant, at=AT + timedelta(minutes=6))
    later = override(customer, cat.sso, "grant", starts_at=AT + timedelta(days=1))
    entitlement_override_end(override=later, at=AT + timedelta(minutes=7))
    assert not EntitlementOverride.objects.filter(pk=later.pk).exists()  # never took effect
