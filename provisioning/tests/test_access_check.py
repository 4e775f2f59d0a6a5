"""The access check: every reason, by customer and by service key, the cache and its
invalidation by the access version, and the number of queries per check."""

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from api.errors import DomainError
from billing.invoicing.services.changes import subscription_change
from billing.tests import factories
from billing.usage.services import usage_events_ingest
from catalog.tests.factories import feature as feature_create
from catalog.tests.factories import metric as metric_create
from customers.services import customer_user_add
from provisioning.models import ServiceKey
from provisioning.services import accounts
from provisioning.services.access import access_cache_clear, access_check
from provisioning.services.entitlements import access_version_bump, entitlements_sync
from provisioning.services.seats import seat_assign
from provisioning.tests.entitlement_helpers import AT, Catalog, subscribe, use

pytestmark = pytest.mark.django_db

NOW = AT + timedelta(hours=2)
RAW_KEY = "ck_live_test-key-for-the-access-check"


@pytest.fixture(autouse=True)
def cold_cache():
    access_cache_clear()
    cache.clear()
    yield
    access_cache_clear()


@pytest.fixture
def cat():
    return Catalog()


@pytest.fixture
def customer(cat):
    customer = factories.customer("acme")
    customer.sub = subscribe(customer, cat.basic)
    accounts.account_activate(customer=customer, at=AT)
    entitlements_sync(customer=customer, at=AT)
    return customer


def key_for(customer, raw=RAW_KEY, **kwargs) -> ServiceKey:
    return ServiceKey.objects.create(
        customer=customer,
        name="prod",
        prefix=raw[:12],
        hashed_key=hashlib.sha256(raw.encode()).hexdigest(),
        created_at=AT,
        **kwargs,
    )


def check(feature="api_quota", quantity=1, at=NOW, **who):
    if not who:
        who = {"customer": "acme"}
    return access_check(feature_code=feature, quantity=quantity, at=at, **who)


def test_a_boolean_feature_on_and_off(cat, customer):
    result = check("sso")  # basic lists sso as off
    assert (result.allowed, result.reason) == (False, "not_entitled")
    assert check("audit_log").reason == "not_entitled"  # not in the plan at all
    subscription_change(subscription=customer.sub, plan=cat.pro, at=AT + timedelta(hours=1))
    entitlements_sync(customer=customer, at=AT + timedelta(hours=1))
    result = check("sso")
    assert (result.allowed, result.reason, result.limit, result.used) == (True, "ok", None, None)


def test_quota_counts_this_periods_usage(customer):
    use(customer.sub, "api_calls", 998)
    result = check(quantity=2)
    assert (result.allowed, result.reason) == (True, "ok")
    assert (result.limit, result.used, result.remaining) == (1000, Decimal(998), Decimal(2))
    result = check(quantity=3)
    assert (result.allowed, result.reason, result.remaining) == (False, "quota_exceeded", 2)
    use(customer.sub, "api_calls", 5)
    result = check(quantity=0)
    assert (result.allowed, result.used, result.remaining) == (False, Decimal(1003), 0)


def test_usage_of_another_period_does_not_count(customer):
    use(customer.sub, "api_calls", 1000)
    assert check().reason == "quota_exceeded"
    next_period = customer.sub.current_period_end + timedelta(hours=1)
    result = check(at=next_period)
    assert (result.allowed, result.used) == (True, 0)


def test_seats_count_the_assigned_users(cat, customer):
    users = [customer_user_add(customer=customer, email=f"u{n}@acme.test") for n in range(2)]
    seat_assign(customer=customer, feature=cat.seats, user=users[0], at=AT)
    result = check("editor_seats")
    assert (result.allowed, result.limit, result.used, result.remaining) == (True, 2, 1, 1)
    seat_assign(customer=customer, feature=cat.seats, user=users[1], at=AT)
    result = check("editor_seats")
    assert (result.allowed, result.reason, result.used) == (False, "seats_exhausted", 2)


def test_unknown_feature_and_unknown_customer(customer):
    assert check("no_such_feature").reason == "unknown_feature"
    with pytest.raises(DomainError) as error:
        check(customer="nobody")
    assert (error.value.code, error.value.field) == ("does_not_exist", "customer")


def test_a_customer_by_row_id_or_external_id(customer):
    for who in (customer, customer.pk, str(customer.pk), "acme"):
        assert check(customer=who).reason == "ok"


def test_not_provisioned_before_activation_and_after_deprovisioning(cat, customer):
    other = factories.customer("beta")
    subscribe(other, cat.basic)
    assert check(customer="beta").reason == "not_provisioned"  # no access row at all
    entitlements_sync(customer=other, at=AT)
    assert check(customer="beta").reason == "not_provisioned"  # entitled, never activated
    accounts.account_deprovision(customer=customer, at=AT + timedelta(hours=1))
    assert check().reason == "not_provisioned"


def test_a_suspended_customer_is_denied_and_restored(customer):
    accounts.account_suspend(customer=customer, at=AT + timedelta(hours=1))
    result = check()
    assert (result.allowed, result.reason) == (False, "suspended")
    key_for(customer)
    assert check(api_key=RAW_KEY).reason == "suspended"
    accounts.account_restore(customer=customer, at=AT + timedelta(hours=1))
    assert check().reason == "ok"


def test_by_service_key_valid_revoked_expired_unknown(customer):
    key = key_for(customer)
    assert check(api_key=RAW_KEY).reason == "ok"
    assert check(api_key="ck_live_wrong").reason == "invalid_api_key"
    key.expires_at = NOW
    key.save()
    assert check(api_key=RAW_KEY).reason == "invalid_api_key"
    key.expires_at, key.revoked_at = None, AT
    key.save()
    assert check(api_key=RAW_KEY).reason == "invalid_api_key"


def test_a_warm_check_is_one_query(customer, django_assert_num_queries):
    key_for(customer)
    for feature in ("api_quota", "sso", "editor_seats"):
        check(feature)
    for who in ({"customer": "acme"}, {"customer": customer.pk}, {"api_key": RAW_KEY}):
        with django_assert_num_queries(1):  # the access state with the usage
            assert check(**who).reason == "ok"
    with django_assert_num_queries(1):
        assert check("sso").reason == "not_entitled"
    with django_assert_num_queries(1):
        assert check("editor_seats").reason == "ok"  # the access state with the seats


def test_the_shared_cache_serves_a_process_with_a_cold_dict(customer, django_assert_num_queries):
    check()
    access_cache_clear()  # as in another worker process
    with django_assert_num_queries(2):  # the feature, the access state; grants from the cache
        check()
    access_cache_clear()
    cache.clear()  # and a cold shared cache: the grants are loaded again
    with django_assert_num_queries(3):
        check()


def test_an_upgrade_is_seen_by_the_next_check(cat, customer, django_assert_max_num_queries):
    use(customer.sub, "api_calls", 1000)
    assert check().reason == "quota_exceeded"
    subscription_change(subscription=customer.sub, plan=cat.pro, at=AT + timedelta(hours=1))
    assert check().reason == "quota_exceeded"  # billing alone does not change provisioning
    entitlements_sync(customer=customer, at=AT + timedelta(hours=1))
    with django_assert_max_num_queries(2):  # the version moved on: reload once
        result = check()
    assert (result.allowed, result.limit, result.remaining) == (True, 5000, 4000)


def test_any_version_bump_reloads_the_grants(cat, customer, django_assert_num_queries):
    check()
    customer.provisioned_entitlements.filter(feature=cat.quota).update(limit=5)
    assert check().limit == 1000  # cached until the version moves
    access_version_bump(customer=customer)
    with django_assert_num_queries(2):
        assert check().limit == 5


def test_a_negative_quantity_is_refused(customer):
    with pytest.raises(DomainError):
        check(quantity=-1)


@pytest.mark.parametrize(
    ("aggregation", "values", "used"),
    [
        ("sum", [30, "12.5"], Decimal("42.5")),
        ("max", [30, 12], Decimal(30)),
        ("unique_count", ["a", "b", "a"], Decimal(2)),
        ("latest", [30, 12], Decimal(12)),
    ],
)
def test_quota_usage_follows_the_metrics_aggregation(customer, aggregation, values, used):
    metric = metric_create("tokens", aggregation=aggregation, field="tokens")
    feature = feature_create("tokens_quota", kind="quota", metric=metric)
    customer.provisioned_entitlements.create(feature=feature, limit=100)
    access_version_bump(customer=customer)
    events = [
        {
            "transaction_id": f"agg-{n}",
            "subscription": str(customer.sub.pk),
            "code": "tokens",
            "timestamp": (AT + timedelta(minutes=n + 1)).isoformat(),
            "properties": {"tokens": value},
        }
        for n, value in enumerate(values)
    ]
    results = usage_events_ingest(events=events, at=NOW)
    assert [r.error for r in results if r.error] == []
    result = check("tokens_quota")
    assert (result.allowed, result.used, result.remaining) == (True, used, 100 - used)
