"""What a customer is entitled to, and keeping its provisioned entitlements equal to it.

Expected entitlements come from the customer's live subscriptions (trialing, active,
past_due): each plan's entitlements, and those of the add-ons open at `at` —
- boolean: on when any source turns it on;
- quota: the limits of every source add up (an add-on's × its quantity);
- seats: a plan's limit × the subscription's quantity, an add-on's × its quantity, added up;
- a limit of None (unlimited) from any source wins;
then the customer's overrides active at `at`, oldest first (see `apply_override`).

`entitlements_sync` writes `ProvisionedEntitlement` rows to match and moves the customer's
`CustomerAccess.version` on when anything changed: that version is the key of the access
check's cache, so the next check sees the change. Lock: the CustomerAccess row first (as
every provisioning service that changes a customer's access does).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.models import Subscription, SubscriptionAddOn, SubscriptionStatus
from catalog.models import Entitlement, FeatureKind
from customers.models import Customer
from provisioning.models import (
    CustomerAccess,
    EntitlementOverride,
    OverrideKind,
    ProvisionedEntitlement,
)
from provisioning.services.accounts import Actor, access_lock

logger = logging.getLogger(__name__)

ENTITLED_STATUSES = (
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
)
SOURCE_LENGTH = 200  # ProvisionedEntitlement.source


@dataclass(frozen=True)
class Expected:
    enabled: bool
    limit: int | None  # None: unlimited (or not a quota/seats feature)
    source: str


@dataclass
class _Sum:
    """Expected entitlement of one feature while it is being added up."""

    kind: str
    enabled: bool = False
    limit: int | None = 0
    sources: list[str] = field(default_factory=list)

    def add(self, *, enabled: bool, limit: int | None, times: int, source: str) -> None:
        self.sources.append(source if times == 1 else f"{source}×{times}")
        if not enabled:
            return
        self.enabled = True
        if self.kind == FeatureKind.BOOLEAN:
            return
        if limit is None or self.limit is None:
            self.limit = None
        else:
            self.limit += limit * times

    def expected(self) -> Expected:
        limit = None if self.kind == FeatureKind.BOOLEAN or not self.enabled else self.limit
        source = ", ".join(self.sources)
        if len(source) > SOURCE_LENGTH:
            source = source[: SOURCE_LENGTH - 1] + "…"
        return Expected(enabled=self.enabled, limit=limit, source=source)


def overrides_active(*, customer: Customer, at: datetime):
    """The customer's overrides in force at `at`, in the order they apply (oldest first)."""
    return (
        EntitlementOverride.objects.filter(customer=customer, starts_at__lte=at)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .select_related("feature")
        .order_by("starts_at", "pk")
    )


def apply_override(current: _Sum | None, override: EntitlementOverride) -> _Sum:
    """One override on what the feature is so far:
    - grant: on; a quota or seats feature gets at least `limit` (None: unlimited);
    - revoke: off, whatever the plans say;
    - limit: on with exactly `limit` (None: unlimited), raising or lowering it."""
    kind = override.feature.kind
    result = current or _Sum(kind=kind)
    result.sources.append(f"override:{override.kind}")
    if override.kind == OverrideKind.REVOKE:
        result.enabled, result.limit = False, 0
        return result
    had = result.enabled
    result.enabled = True
    if kind == FeatureKind.BOOLEAN:
        return result
    if override.kind == OverrideKind.LIMIT or not had:
        result.limit = override.limit
    elif result.limit is not None:
        result.limit = None if override.limit is None else max(result.limit, override.limit)
    return result


def entitlements_expected(*, customer: Customer, at: datetime) -> dict[int, Expected]:
    """What the customer should be provisioned with at `at`, by feature id (see the module
    docstring). Features a source lists as off are included, disabled."""
    subs = list(
        Subscription.objects.filter(customer=customer, status__in=ENTITLED_STATUSES)
        .order_by("pk")
        .values_list("pk", "plan_id", "quantity")
    )
    addons = list(
        SubscriptionAddOn.objects.filter(
            subscription_id__in=[pk for pk, _, _ in subs], started_at__lte=at
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .order_by("subscription_id", "pk")
        .values_list("addon_id", "quantity")
    )
    rows = Entitlement.objects.filter(
        Q(plan_id__in={plan for _, plan, _ in subs}) | Q(addon_id__in={a for a, _ in addons})
    ).select_related("feature", "plan", "addon")
    by_plan: dict[int, list[Entitlement]] = {}
    by_addon: dict[int, list[Entitlement]] = {}
    for row in rows:
        if row.plan_id is not None:
            by_plan.setdefault(row.plan_id, []).append(row)
        else:
            by_addon.setdefault(row.addon_id, []).append(row)

    sums: dict[int, _Sum] = {}

    def add(row: Entitlement, times: int, source: str) -> None:
        entry = sums.setdefault(row.feature_id, _Sum(kind=row.feature.kind))
        entry.add(enabled=row.enabled, limit=row.limit, times=times, source=source)

    for _, plan_id, quantity in subs:
        for row in by_plan.get(plan_id, []):
            times = quantity if row.feature.kind == FeatureKind.SEATS else 1
            add(row, times, f"plan:{row.plan.code}")
    for addon_id, quantity in addons:
        for row in by_addon.get(addon_id, []):
            add(row, quantity, f"addon:{row.addon.code}")
    for override in overrides_active(customer=customer, at=at):
        sums[override.feature_id] = apply_override(sums.get(override.feature_id), override)
    return {feature_id: entry.expected() for feature_id, entry in sums.items()}


def access_version_bump(*, customer: Customer) -> int:
    """Move the customer's access version on (every cached access check of it goes stale);
    makes its CustomerAccess row when missing. Returns the new version."""
    updated = CustomerAccess.objects.filter(customer=customer).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        CustomerAccess.objects.get_or_create(customer=customer)
    return CustomerAccess.objects.filter(customer=customer).values_list("version", flat=True)[0]


@transaction.atomic
def entitlements_sync(*, customer: Customer, at: datetime, actor: Actor = None) -> bool:
    """Make the customer's provisioned entitlements what `entitlements_expected` says at
    `at`: create, update and delete rows; bump the access version when anything changed.
    Idempotent: True only when something changed."""
    access_lock(customer=customer)
    expected = entitlements_expected(customer=customer, at=at)
    current = {
        row.feature_id: row for row in ProvisionedEntitlement.objects.filter(customer=customer)
    }
    stale = [row.pk for feature_id, row in current.items() if feature_id not in expected]
    created, updated = [], []
    for feature_id, want in expected.items():
        row = current.get(feature_id)
        if row is None:
            created.append(
                ProvisionedEntitlement(
                    customer=customer,
                    feature_id=feature_id,
                    enabled=want.enabled,
                    limit=want.limit,
                    source=want.source,
                )
            )
        elif (row.enabled, row.limit, row.source) != (want.enabled, want.limit, want.source):
            row.enabled, row.limit, row.source = want.enabled, want.limit, want.source
            updated.append(row)
    if stale:
        ProvisionedEntitlement.objects.filter(pk__in=stale).delete()
    if created:
        ProvisionedEntitlement.objects.bulk_create(created)
    for row in updated:
        row.save(update_fields=["enabled", "limit", "source", "updated_at"])
    changed = bool(stale or created or updated)
    if changed:
        version = access_version_bump(customer=customer)
        logger.info(
            "entitlements of customer %s synced by %s: +%d ~%d -%d (version %d)",
            customer.pk,
            actor or "system",
            len(created),
            len(updated),
            len(stale),
            version,
        )
    return changed


@transaction.atomic
def entitlements_remove(*, customer: Customer, at: datetime) -> None:
    """Withdraw every provisioned entitlement of the customer (deprovisioning, or undoing a
    grant); its overrides stay, as decisions about the customer. Idempotent."""
    access_lock(customer=customer)
    deleted, _ = ProvisionedEntitlement.objects.filter(customer=customer).delete()
    if deleted:
        access_version_bump(customer=customer)
