"""Drift audit: what each customer is provisioned with against what billing says it pays for.

Billing's side: a subscription trialing, active or past_due → the customer should have
access and exactly `entitlements_expected`; otherwise (paused, suspended, canceled, expired,
pending, none) it should not. Provisioning's side: CustomerAccess status, provisioned
entitlements, seat assignments, usable service keys. Findings:
- access_without_payment: access active, nothing paying, and no grace period running
  (`deprovision_at` in the future);
- paid_without_access: something paying, access not active;
- entitlement_mismatch: access active and paying, provisioned ≠ expected (compared by
  effect: a disabled feature and a missing one are the same);
- seats_over: paying, more users hold seats of a feature than billing sells;
- keys_while_suspended: unrevoked, unexpired service keys while access is deprovisioned,
  or active while billing has only suspended/paused subscriptions.

A customer provisioning is still working on — an event the provisioning consumer has not
read yet (for up to EVENT_LAG), or an order received or in progress (for up to ORDER_LAG) —
is skipped: that is lag, not drift. Longer lag is reported.

Customers are read in batches of BATCH with a fixed number of queries per batch.
`drift_repair` checks the finding again first (billing may have moved on), then calls the
one service that fixes it.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q

from billing.events.services import Actor, actor_label
from billing.models import BillingEvent, Subscription, SubscriptionAddOn, SubscriptionStatus
from catalog.models import Entitlement, Feature, FeatureKind
from customers.models import Customer
from provisioning.models import (
    AccessStatus,
    CustomerAccess,
    DriftAuditRun,
    DriftFinding,
    DriftKind,
    EntitlementOverride,
    EventCursor,
    Order,
    OrderStatus,
    ProvisionedEntitlement,
    SeatAssignment,
    ServiceKey,
)

BATCH = 500
PAYING = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
HELD = (SubscriptionStatus.SUSPENDED, SubscriptionStatus.PAUSED)
PROVISIONING_CONSUMER = "provisioning"
EVENT_LAG = timedelta(minutes=15)
ORDER_LAG = timedelta(days=1)
K = DriftKind


@dataclass
class _Customer:
    paying: bool = False
    held: bool = False
    status: str = AccessStatus.NONE
    deprovision_at: datetime | None = None
    provisioned: dict = field(default_factory=dict)  # feature id → (enabled, limit)
    seats: dict = field(default_factory=dict)  # feature id → assigned
    usable_keys: int = 0


def _effect(enabled: bool, limit: int | None) -> tuple:
    return (True, limit) if enabled else (False, None)


def _expected_many(customer_ids: list[int], *, at: datetime) -> dict[int, dict]:
    """`entitlements_expected` for many customers in a fixed number of queries (the same
    rules, through the entitlements module's own adding-up and override code)."""
    from provisioning.services import entitlements

    bulk = getattr(entitlements, "entitlements_expected_many", None)
    if bulk is not None:
        return bulk(customer_ids=customer_ids, at=at)
    from provisioning.services.entitlements import _Sum, apply_override

    subs = list(
        Subscription.objects.filter(customer_id__in=customer_ids, status__in=PAYING)
        .order_by("pk")
        .values_list("pk", "customer_id", "plan_id", "quantity")
    )
    sub_customer = {pk: customer for pk, customer, _, _ in subs}
    addons = list(
        SubscriptionAddOn.objects.filter(subscription_id__in=list(sub_customer), started_at__lte=at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .order_by("subscription_id", "pk")
        .values_list("subscription_id", "addon_id", "quantity")
    )
    rows = Entitlement.objects.filter(
        Q(plan_id__in={plan for _, _, plan, _ in subs}) | Q(addon_id__in={a for _, a, _ in addons})
    ).select_related("feature", "plan", "addon")
    by_plan, by_addon = defaultdict(list), defaultdict(list)
    for row in rows:
        (by_plan[row.plan_id] if row.plan_id is not None else by_addon[row.addon_id]).append(row)
    sums: dict[int, dict] = defaultdict(dict)

    def add(customer_id: int, row: Entitlement, times: int, source: str) -> None:
        entry = sums[customer_id].setdefault(row.feature_id, _Sum(kind=row.feature.kind))
        entry.add(enabled=row.enabled, limit=row.limit, times=times, source=source)

    for _, customer_id, plan_id, quantity in subs:
        for row in by_plan[plan_id]:
            times = quantity if row.feature.kind == FeatureKind.SEATS else 1
            add(customer_id, row, times, f"plan:{row.plan.code}")
    for sub_id, addon_id, quantity in addons:
        for row in by_addon[addon_id]:
            add(sub_customer[sub_id], row, quantity, f"addon:{row.addon.code}")
    overrides = (
        EntitlementOverride.objects.filter(customer_id__in=customer_ids, starts_at__lte=at)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .select_related("feature")
        .order_by("starts_at", "pk")
    )
    for override in overrides:
        mine = sums[override.customer_id]
        mine[override.feature_id] = apply_override(mine.get(override.feature_id), override)
    return {
        customer_id: {feature_id: entry.expected() for feature_id, entry in features.items()}
        for customer_id, features in sums.items()
    }


def _in_flux(customer_ids: list[int], *, at: datetime) -> set[int]:
    """Customers provisioning has not caught up with yet: an event the provisioning consumer
    has not read, recorded or taking effect less than EVENT_LAG ago, or an order received or
    in progress opened less than ORDER_LAG ago. Older lag is drift: a stuck consumer or
    order is what the audit must show."""
    busy = set(
        Order.objects.filter(
            customer_id__in=customer_ids,
            status__in=[OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS],
            created_at__gt=at - ORDER_LAG,
        ).values_list("customer_id", flat=True)
    )
    cursor = EventCursor.objects.filter(consumer=PROVISIONING_CONSUMER).first()
    if cursor is not None:
        waiting = [
            int(item["id"] if isinstance(item, dict) else item) for item in cursor.pending_ids
        ]
        cut = at - EVENT_LAG
        busy |= set(
            BillingEvent.objects.filter(customer_id__in=customer_ids)
            .filter(Q(pk__gt=cursor.last_event_id) | Q(pk__in=waiting))
            .filter(Q(occurred_at__gt=cut) | Q(recorded_at__gt=cut))
            .values_list("customer_id", flat=True)
        )
    return busy


def _facts(customer_ids: list[int], *, at: datetime) -> dict[int, _Customer]:
    facts = {pk: _Customer() for pk in customer_ids}
    for customer_id, status in Subscription.objects.filter(
        customer_id__in=customer_ids, status__in=[*PAYING, *HELD]
    ).values_list("customer_id", "status"):
        facts[customer_id].paying |= status in PAYING
        facts[customer_id].held |= status in HELD
    for customer_id, status, deprovision_at in CustomerAccess.objects.filter(
        customer_id__in=customer_ids
    ).values_list("customer_id", "status", "deprovision_at"):
        facts[customer_id].status, facts[customer_id].deprovision_at = status, deprovision_at
    for customer_id, feature_id, enabled, limit in ProvisionedEntitlement.objects.filter(
        customer_id__in=customer_ids
    ).values_list("customer_id", "feature_id", "enabled", "limit"):
        facts[customer_id].provisioned[feature_id] = _effect(enabled, limit)
    for row in (
        SeatAssignment.objects.filter(customer_id__in=customer_ids)
        .values("customer_id", "feature_id")
        .annotate(n=Count("pk"))
    ):
        facts[row["customer_id"]].seats[row["feature_id"]] = row["n"]
    for row in (
        ServiceKey.objects.filter(customer_id__in=customer_ids, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .values("customer_id")
        .annotate(n=Count("pk"))
    ):
        facts[row["customer_id"]].usable_keys = row["n"]
    return facts


def _value_text(effect: tuple) -> str:
    enabled, limit = effect
    if not enabled:
        return "off"
    return "on (unlimited)" if limit is None else f"on ({limit})"


def drift_findings(customer_ids: list[int], *, at: datetime) -> list[tuple[int, str, str]]:
    """(customer id, kind, detail) of every drift among these customers at `at`."""
    facts = _facts(customer_ids, at=at)
    busy = _in_flux(customer_ids, at=at)
    expected_all = _expected_many(
        [pk for pk, fact in facts.items() if fact.paying and pk not in busy], at=at
    )
    found, codes, features_named = [], {}, set()
    for customer_id, fact in facts.items():
        if customer_id in busy:
            continue
        in_grace = fact.deprovision_at is not None and fact.deprovision_at > at
        active = fact.status == AccessStatus.ACTIVE
        if active and not fact.paying and not in_grace:
            billing = "suspended/paused" if fact.held else "no trialing, active or past-due"
            found.append(
                (customer_id, K.ACCESS_WITHOUT_PAYMENT, f"Access active; billing: {billing}.")
            )
        if fact.paying and not active:
            found.append(
                (customer_id, K.PAID_WITHOUT_ACCESS, f"Paying subscription; access {fact.status}.")
            )
        if fact.usable_keys and (
            fact.status == AccessStatus.DEPROVISIONED or (active and fact.held and not fact.paying)
        ):
            found.append(
                (
                    customer_id,
                    K.KEYS_WHILE_SUSPENDED,
                    f"{fact.usable_keys} usable service key(s); access {fact.status}.",
                )
            )
        if not fact.paying:
            continue
        expected = {
            feature_id: _effect(want.enabled, want.limit)
            for feature_id, want in expected_all.get(customer_id, {}).items()
        }
        if active:
            differ = sorted(
                feature_id
                for feature_id in set(expected) | set(fact.provisioned)
                if expected.get(feature_id, (False, None))
                != fact.provisioned.get(feature_id, (False, None))
            )
            if differ:
                features_named |= set(differ)
                pairs = [
                    (f, fact.provisioned.get(f, (False, None)), expected.get(f, (False, None)))
                    for f in differ
                ]
                found.append((customer_id, K.ENTITLEMENT_MISMATCH, pairs))
        for feature_id, assigned in sorted(fact.seats.items()):
            enabled, limit = expected.get(feature_id, (False, None))
            purchased = limit if enabled else 0
            if purchased is not None and assigned > purchased:
                features_named.add(feature_id)
                found.append((customer_id, K.SEATS_OVER, (feature_id, assigned, purchased)))
    if features_named:
        codes = dict(Feature.objects.filter(pk__in=features_named).values_list("pk", "code"))
    result = []
    for customer_id, kind, detail in found:
        if kind == K.ENTITLEMENT_MISMATCH:
            detail = "; ".join(
                f"{codes.get(f, f)}: has {_value_text(has)}, billing says {_value_text(want)}"
                for f, has, want in sorted(detail, key=lambda pair: str(codes.get(pair[0])))
            )
        elif kind == K.SEATS_OVER:
            feature_id, assigned, purchased = detail
            detail = f"{codes.get(feature_id, feature_id)}: {assigned} assigned, {purchased} sold."
        result.append((customer_id, kind, detail[:500]))
    return result


def drift_audit_run(*, at: datetime) -> DriftAuditRun:
    """Audit every customer; the findings are kept on the run (the admin report)."""
    run = DriftAuditRun.objects.create(started_at=at)
    last = 0
    while True:
        ids = list(
            Customer.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            break
        last = ids[-1]
        findings = [
            DriftFinding(run=run, customer_id=customer_id, kind=kind, detail=detail)
            for customer_id, kind, detail in drift_findings(ids, at=at)
        ]
        DriftFinding.objects.bulk_create(findings)
        run.customers_checked += len(ids)
        run.findings_count += len(findings)
    run.finished_at = at
    run.save(update_fields=["customers_checked", "findings_count", "finished_at"])
    return run


def _seats_trim(customer: Customer, *, at: datetime) -> None:
    """Unassign the newest seats beyond what billing sells, per seats feature."""
    from provisioning.services.seats import seat_unassign

    expected = _expected_many([customer.pk], at=at).get(customer.pk, {})
    seats = SeatAssignment.objects.filter(customer=customer).select_related("feature", "user")
    by_feature = defaultdict(list)
    for seat in seats.order_by("assigned_at", "pk"):
        by_feature[seat.feature_id].append(seat)
    for feature_id, held in by_feature.items():
        want = expected.get(feature_id)
        purchased = 0 if want is None or not want.enabled else want.limit
        if purchased is None:
            continue
        for seat in held[purchased:]:
            seat_unassign(customer=customer, feature=seat.feature, user=seat.user, at=at)


def _repair(kind: str, customer: Customer, *, at: datetime, actor: Actor) -> None:
    from provisioning.services import accounts
    from provisioning.services.entitlements import entitlements_sync

    status = (
        CustomerAccess.objects.filter(customer=customer).values_list("status", flat=True).first()
    )
    if kind == K.ACCESS_WITHOUT_PAYMENT:
        accounts.account_suspend(customer=customer, at=at, actor=actor)
    elif kind == K.PAID_WITHOUT_ACCESS:
        if status == AccessStatus.SUSPENDED:
            accounts.account_restore(customer=customer, at=at, actor=actor)
        else:
            accounts.account_activate(customer=customer, at=at, actor=actor)
        entitlements_sync(customer=customer, at=at, actor=actor)
    elif kind == K.ENTITLEMENT_MISMATCH:
        entitlements_sync(customer=customer, at=at, actor=actor)
    elif kind == K.SEATS_OVER:
        _seats_trim(customer, at=at)
    elif kind == K.KEYS_WHILE_SUSPENDED:
        if status == AccessStatus.DEPROVISIONED:
            accounts.account_deprovision(customer=customer, at=at, actor=actor)
        else:
            accounts.account_suspend(customer=customer, at=at, actor=actor)


def drift_repair(*, finding: DriftFinding, at: datetime, actor: Actor = None) -> DriftFinding:
    """Fix one finding with the service that owns it, once. A finding that no longer holds
    (billing or provisioning moved on since the run) is closed without touching anything."""
    with transaction.atomic():
        finding = (
            DriftFinding.objects.select_for_update().select_related("customer").get(pk=finding.pk)
        )
        if finding.repaired_at is not None:
            return finding
        still = any(
            kind == finding.kind for _, kind, _ in drift_findings([finding.customer_id], at=at)
        )
        if still:
            _repair(finding.kind, finding.customer, at=at, actor=actor)
        finding.repaired_at = at
        finding.repaired_by = (actor_label(actor) if still else "already consistent")[:200]
        finding.save(update_fields=["repaired_at", "repaired_by"])
    return finding
