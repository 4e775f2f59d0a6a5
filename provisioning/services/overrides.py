"""Per-customer entitlement overrides: grant, revoke or set the limit of a feature, from
`starts_at` until `expires_at` (open-ended when None).

An override in force changes the customer's provisioned entitlements at once (through
`entitlements_sync`). One that starts or expires later takes effect when
`entitlement_overrides_expire` runs after that moment (a scheduled job: every minute), so
the change is visible without waiting for a billing event.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from api.errors import StateError
from billing.events.services import actor_label
from catalog.models import Feature, FeatureKind
from customers.models import Customer
from provisioning.models import EntitlementOverride, OverrideKind
from provisioning.services.accounts import Actor, access_lock
from provisioning.services.entitlements import entitlements_sync

# How far back a run of `entitlement_overrides_expire` looks for overrides that started or
# expired: far more than the schedule's interval, so a stopped worker catches up.
DEFAULT_LOOKBACK = timedelta(days=1)


def _error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def override_errors(
    *,
    feature: Feature,
    kind: str,
    limit: int | None,
    starts_at: datetime,
    expires_at: datetime | None,
    reason: str,
    at: datetime,
) -> dict[str, ValidationError]:
    """What is wrong with an override before it is made, by field (empty: nothing)."""
    errors: dict[str, ValidationError] = {}
    if kind not in OverrideKind.values:
        errors["kind"] = ValidationError(
            f"Give one of {', '.join(OverrideKind.values)}.", code="invalid_choice"
        )
    elif limit is not None and feature.kind == FeatureKind.BOOLEAN:
        errors["limit"] = ValidationError(
            "An on/off feature takes no limit: grant or revoke it.", code="not_allowed"
        )
    elif kind == OverrideKind.LIMIT and feature.kind == FeatureKind.BOOLEAN:
        errors["kind"] = ValidationError(
            "An on/off feature has no limit: grant or revoke it.", code="not_allowed"
        )
    elif limit is not None and kind == OverrideKind.REVOKE:
        errors["limit"] = ValidationError("A revoke takes no limit.", code="not_allowed")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        errors["limit"] = ValidationError(
            "Give a whole number ≥ 0, or nothing for unlimited.", code="invalid_value"
        )
    if expires_at is not None and expires_at <= starts_at:
        errors["expires_at"] = ValidationError(
            "An override expires after it starts.", code="expires_before_start"
        )
    elif expires_at is not None and expires_at <= at:
        errors["expires_at"] = ValidationError(
            "This override would have expired already.", code="in_the_past"
        )
    if not (reason or "").strip():
        errors["reason"] = ValidationError("Say why the customer gets this override.", "required")
    return errors


@transaction.atomic
def entitlement_override_create(
    *,
    customer: Customer,
    feature: Feature,
    kind: str,
    limit: int | None = None,
    starts_at: datetime,
    expires_at: datetime | None = None,
    reason: str,
    at: datetime,
    actor: Actor = None,
) -> EntitlementOverride:
    """Record an override; when it is already in force, the customer's provisioned
    entitlements change now (and its access version moves on)."""
    errors = override_errors(
        feature=feature,
        kind=kind,
        limit=limit,
        starts_at=starts_at,
        expires_at=expires_at,
        reason=reason,
        at=at,
    )
    if errors:
        raise ValidationError(errors)
    access_lock(customer=customer)
    override = EntitlementOverride.objects.create(
        customer=customer,
        feature=feature,
        kind=kind,
        limit=limit,
        starts_at=starts_at,
        expires_at=expires_at,
        reason=reason.strip()[:300],
        created_by=actor_label(actor)[:200],
    )
    if starts_at <= at:
        entitlements_sync(customer=customer, at=at, actor=actor)
    return override


@transaction.atomic
def entitlement_override_end(
    *, override: EntitlementOverride, at: datetime, actor: Actor = None
) -> EntitlementOverride:
    """End an override now: it expires at `at` and the customer's entitlements follow. One
    that has not started yet never takes effect: it is deleted (the returned row has no pk).
    Ending one that already ended is refused (422 `override_ended`)."""
    access_lock(customer=override.customer)
    override = EntitlementOverride.objects.select_for_update().get(pk=override.pk)
    if override.expires_at is not None and override.expires_at <= at:
        raise StateError("This override has ended already.", code="override_ended")
    if override.starts_at >= at:
        override.delete()
        return override
    override.expires_at = at
    override.save(update_fields=["expires_at"])
    entitlements_sync(customer=override.customer, at=at, actor=actor)
    return override


def entitlement_overrides_expire(*, at: datetime, lookback: timedelta = DEFAULT_LOOKBACK) -> int:
    """The scheduled job: re-sync every customer with an override that expired or started
    in (at - lookback, at], so the change shows without waiting for an event. Idempotent
    (a customer already in step changes nothing); each customer in its own transaction.
    Returns how many customers' entitlements changed."""
    since = at - lookback
    customer_ids = (
        EntitlementOverride.objects.filter(
            Q(expires_at__gt=since, expires_at__lte=at) | Q(starts_at__gt=since, starts_at__lte=at)
        )
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()
    )
    changed = 0
    for customer in Customer.objects.filter(pk__in=list(customer_ids)).order_by("pk"):
        changed += entitlements_sync(customer=customer, at=at, actor="overrides")
    return changed
