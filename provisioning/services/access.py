"""The real-time access check: may this customer (or the holder of this service key) use
`quantity` more of a feature now? The hot path the business's product calls per request.

One query per check on a warm cache: the customer's access state (by service key: the key
joined with its customer's access row) with, in the same statement, the usage of a quota
feature in the period containing `at` or the seats assigned of a seats feature. What the
customer is provisioned with (enabled, limit by feature code) is cached per customer under
its `CustomerAccess.version` (and `updated_at`, so a reused id in another database never
matches): in a dict in this process, then in Django's cache, else loaded (one query). Every
change of entitlements or status moves the version on, so the next check in any process
reads the new state; nothing has to be deleted. A feature's kind and metric never change:
they are kept in this process once read.

Reasons, in the order they are decided: `invalid_api_key` (unknown, unrevealed, revoked
or expired key), `not_provisioned` (no access, or deprovisioned), `suspended`,
`unknown_feature` (no such feature code), `not_entitled` (not provisioned with it, or off),
then for a quota `quota_exceeded` and for seats `seats_exhausted` when
`used + quantity > limit`; else `ok`.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.core.cache import cache
from django.db import connection, models

from api.errors import DomainError
from api.views import is_id
from billing.models import UsageAggregate
from catalog.models import Aggregation, Feature, FeatureKind
from customers.models import Customer
from provisioning.models import (
    AccessStatus,
    CustomerAccess,
    ProvisionedEntitlement,
    SeatAssignment,
    ServiceKey,
)
from provisioning.selectors import remaining_of
from provisioning.services.keys import service_key_hash

CACHE_TIMEOUT = 3600  # seconds; entries are keyed by version, so this only bounds memory
LOCAL_MAX = 10_000  # customers kept in this process's dict before it starts again


class AccessReason(models.TextChoices):
    OK = "ok", "Allowed"
    SUSPENDED = "suspended", "The customer's access is suspended"
    NOT_PROVISIONED = "not_provisioned", "The customer has no access (yet, or any more)"
    NOT_ENTITLED = "not_entitled", "The customer's plans do not include this feature"
    QUOTA_EXCEEDED = "quota_exceeded", "The quota of this period is used up"
    SEATS_EXHAUSTED = "seats_exhausted", "Every seat is taken"
    INVALID_API_KEY = "invalid_api_key", "Unknown, revoked or expired key"
    UNKNOWN_FEATURE = "unknown_feature", "No feature has this code"


R = AccessReason


@dataclass(frozen=True, slots=True)
class AccessResult:
    allowed: bool
    reason: str
    limit: int | None = None  # None: unlimited, or not a quota/seats feature
    used: Decimal | None = None  # this period's usage (quota) or seats assigned (seats)
    remaining: Decimal | None = None  # before this request; None when unlimited


class FeatureInfo(NamedTuple):
    feature_id: int
    kind: str
    metric_id: int | None
    aggregation: str | None


class Grant(NamedTuple):
    """A provisioned feature as the cache holds it (by feature code)."""

    enabled: bool
    limit: int | None


class _State(NamedTuple):
    customer_id: int
    status: str | None  # None: no CustomerAccess row
    version: int | None
    stamp: object  # CustomerAccess.updated_at: a datetime, or text on SQLite


_local: dict[int, tuple[tuple, dict[str, Grant]]] = {}
_features: dict[str, FeatureInfo] = {}


def access_cache_clear() -> None:
    """Forget this process's caches (tests; Django's cache keeps its own entries)."""
    _local.clear()
    _features.clear()


def feature_info(code: str) -> FeatureInfo | None:
    info = _features.get(code)
    if info is None:
        row = (
            Feature.objects.filter(code=code)
            .values_list("pk", "kind", "metric_id", "metric__aggregation")
            .first()
        )
        if row is None:
            return None
        info = _features[code] = FeatureInfo(*row)
    return info


def grants_load(customer_id: int) -> dict[str, Grant]:
    rows = ProvisionedEntitlement.objects.filter(customer_id=customer_id).order_by()
    return {
        code: Grant(enabled, limit)
        for code, enabled, limit in rows.values_list("feature__code", "enabled", "limit")
    }


def grants_get(state: _State) -> dict[str, Grant]:
    """The customer's provisioned features at `state`'s version: this process's dict, else
    Django's cache, else the database (one query), stored in both."""
    key = (state.version, state.stamp)
    hit = _local.get(state.customer_id)
    if hit is not None and hit[0] == key:
        return hit[1]
    stamp = str(state.stamp).replace(" ", "T")
    cache_key = f"provisioning:grants:{state.customer_id}:{state.version}:{stamp}"
    grants = cache.get(cache_key)
    if grants is None:
        grants = grants_load(state.customer_id)
        cache.set(cache_key, grants, CACHE_TIMEOUT)
    if len(_local) >= LOCAL_MAX:
        _local.clear()
    _local[state.customer_id] = (key, grants)
    return grants


# The statement, written out: the ORM costs about 0.5 ms of CPU to build and run one query,
# several times the round trip to PostgreSQL. Table names come from the models.
def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_TABLES = {
    "access": _table(CustomerAccess),
    "keys": _table(ServiceKey),
    "customers": _table(Customer),
    "usage": _table(UsageAggregate),
    "seats": _table(SeatAssignment),
}
_LOOKUPS = {  # how the customer is found: (its id column, FROM … WHERE …)
    "key": (
        "k",
        "FROM {keys} k LEFT JOIN {access} a ON a.customer_id = k.customer_id "
        "WHERE k.hashed_key = %s AND k.revoked_at IS NULL AND NOT k.unrevealed "
        "AND (k.expires_at IS NULL OR k.expires_at > %s)",
    ),
    "id": ("a", "FROM {access} a WHERE a.customer_id = %s"),
    "external_id": (
        "a",
        "FROM {access} a JOIN {customers} c ON c.id = a.customer_id WHERE c.external_id = %s",
    ),
}
_USAGE = (
    "(SELECT {expr} FROM {usage} u WHERE u.customer_id = {c}.customer_id AND u.metric_id = %s "
    "AND u.period_start <= %s AND u.period_end > %s{latest})"
)
_LATEST = " AND u.latest_at IS NOT NULL ORDER BY u.latest_at DESC LIMIT 1"
_MEASURES = {  # the usage column of a quota by its metric's aggregation, or the seats
    Aggregation.COUNT: _USAGE.replace("{expr}", "SUM(u.event_count)").replace("{latest}", ""),
    Aggregation.SUM: _USAGE.replace("{expr}", "SUM(u.value_sum)").replace("{latest}", ""),
    Aggregation.UNIQUE_COUNT: _USAGE.replace("{expr}", "SUM(u.unique_count)").replace(
        "{latest}", ""
    ),
    Aggregation.MAX: _USAGE.replace("{expr}", "MAX(u.value_max)").replace("{latest}", ""),
    Aggregation.LATEST: _USAGE.replace("{expr}", "u.latest_value").replace("{latest}", _LATEST),
    "seats": "(SELECT COUNT(*) FROM {seats} s WHERE s.customer_id = {c}.customer_id "
    "AND s.feature_id = %s)",
    None: "NULL",
}
_statements: dict[tuple, str] = {}


def _statement(lookup: str, measure) -> str:
    sql = _statements.get((lookup, measure))
    if sql is None:
        column, source = _LOOKUPS[lookup]
        template = "SELECT {c}.customer_id, a.status, a.version, a.updated_at, {measure} {source}"
        template = template.replace("{measure}", _MEASURES[measure]).replace("{source}", source)
        sql = _statements[lookup, measure] = template.format(c=column, **_TABLES)
    return sql


def _measure(feature: FeatureInfo | None, at: datetime) -> tuple[object, list]:
    if feature is None or feature.kind == FeatureKind.BOOLEAN:
        return None, []
    if feature.kind == FeatureKind.SEATS:
        return "seats", [feature.feature_id]
    at_db = connection.ops.adapt_datetimefield_value(at)
    return feature.aggregation, [feature.metric_id, at_db, at_db]


def _fetch(lookup: str, value, measure, measure_params: list, at: datetime | None = None):
    params = [*measure_params, value]
    if lookup == "key":
        params.append(connection.ops.adapt_datetimefield_value(at))
    with connection.cursor() as cursor:
        cursor.execute(_statement(lookup, measure), params)
        return cursor.fetchone()


def _customer_row(customer: Customer | int | str, measure, measure_params: list) -> tuple:
    """The state row of a customer given as a row, an id, or (a string) an id or
    external_id, the id first. One query (two for an external_id made of digits); one more
    when the customer has no CustomerAccess row. An unknown customer is a 400
    `does_not_exist` on `customer`."""
    value = None
    if isinstance(customer, Customer | int):
        id_value = customer if isinstance(customer, int) else customer.pk
    else:
        value = str(customer)
        id_value = int(value) if is_id(value) else None
    row = _fetch("id", id_value, measure, measure_params) if id_value is not None else None
    if row is None and value is not None:
        row = _fetch("external_id", value, measure, measure_params)
    if row is not None:
        return row
    found = None
    if id_value is not None:
        found = Customer.objects.filter(pk=id_value).values_list("pk", flat=True).first()
    if found is None and value is not None:
        found = Customer.objects.filter(external_id=value).values_list("pk", flat=True).first()
    if found is None:
        raise DomainError(f"No such customer: {customer}.", code="does_not_exist", field="customer")
    return (found, None, None, None, None)  # a customer never provisioned


def _decimal(value) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def access_check(
    *,
    feature_code: str,
    quantity: int = 1,
    customer: Customer | int | str | None = None,
    api_key: str | None = None,
    at: datetime,
) -> AccessResult:
    """May the customer (or the holder of service key `api_key`, which wins when both are
    given) use `quantity` more of feature `feature_code` at `at`? See the module docstring
    for the reasons. `remaining` is what is left before this request; nothing is counted."""
    if quantity < 0:
        raise DomainError("Give a quantity ≥ 0.", code="min_value", field="quantity")
    feature = feature_info(feature_code)
    measure, measure_params = _measure(feature, at)
    if api_key is not None:
        digest = service_key_hash(api_key)
        row = _fetch("key", digest, measure, measure_params, at)
        if row is None:
            return AccessResult(allowed=False, reason=R.INVALID_API_KEY)
    elif customer is not None:
        row = _customer_row(customer, measure, measure_params)
    else:
        raise DomainError("Give an api_key or a customer.", code="required", field="customer")
    state = _State(*row[:4])
    if state.status == AccessStatus.SUSPENDED:
        return AccessResult(allowed=False, reason=R.SUSPENDED)
    if state.status != AccessStatus.ACTIVE:
        return AccessResult(allowed=False, reason=R.NOT_PROVISIONED)
    if feature is None:
        return AccessResult(allowed=False, reason=R.UNKNOWN_FEATURE)
    grant = grants_get(state).get(feature_code)
    if grant is None or not grant.enabled:
        return AccessResult(allowed=False, reason=R.NOT_ENTITLED)
    if feature.kind == FeatureKind.BOOLEAN:
        return AccessResult(allowed=True, reason=R.OK)
    used, limit = _decimal(row[4]), grant.limit
    allowed = limit is None or used + quantity <= limit
    refusal = R.QUOTA_EXCEEDED if feature.kind == FeatureKind.QUOTA else R.SEATS_EXHAUSTED
    return AccessResult(
        allowed=allowed,
        reason=R.OK if allowed else refusal,
        limit=limit,
        used=used,
        remaining=remaining_of(limit, used),
    )
