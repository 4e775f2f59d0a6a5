"""The customer's account on the business's service: activate, suspend, restore and
deprovision. Each service locks the customer's CustomerAccess row (made first when missing),
changes it only when something changes, and then moves `version` on (the access check's
cache key).

A suspension or a restore that changes the status records a billing event
(`account.suspended` / `account.restored`, payload `{reason, comment}`) in the same
transaction — the one billing table written here, so the customer notices (and webhooks)
follow it. Provisioning's own consumer has no order for these kinds and skips them.

Suspension does not touch API keys: `service_key_authenticate` refuses every key of a
customer whose access is not active, so the same keys work again after a restore.
"""

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from api.errors import StateError
from billing.events.services import billing_event_record
from customers.models import Customer, CustomerRole, CustomerUser
from customers.services import customer_user_add
from provisioning.models import (
    AccessStatus,
    CustomerAccess,
    SeatAssignment,
    ServiceKey,
    SuspendReason,
)

Actor = Any


def access_lock(*, customer: Customer) -> CustomerAccess:
    """The customer's CustomerAccess row, made when missing, locked until the caller's
    transaction ends. Every service that changes a customer's access, seats or keys takes
    this lock first, so they never interleave."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("access_lock must run inside the caller's transaction.")
    CustomerAccess.objects.get_or_create(customer=customer)
    return CustomerAccess.objects.select_for_update().get(customer=customer)


def access_version_touch(access: CustomerAccess) -> CustomerAccess:
    """Move `version` on for a locked row (and save its other changed fields first)."""
    CustomerAccess.objects.filter(pk=access.pk).update(version=F("version") + 1)
    access.refresh_from_db(fields=["version", "updated_at"])
    return access


def _save(access: CustomerAccess, fields: list[str]) -> CustomerAccess:
    access.save(update_fields=[*fields, "updated_at"])
    return access_version_touch(access)


def account_owner_ensure(*, customer: Customer) -> CustomerUser:
    """The customer's owner; when it has none, the login of `customer.email` becomes it."""
    owner = (
        CustomerUser.objects.filter(customer=customer, role=CustomerRole.OWNER)
        .order_by("pk")
        .first()
    )
    if owner is None:
        owner = customer_user_add(customer=customer, email=customer.email, role=CustomerRole.OWNER)
    return owner


@transaction.atomic
def account_activate(*, customer: Customer, at: datetime, actor: Actor = None) -> CustomerAccess:
    """Access active (from any state: first activation, after a restore-worthy payment, or a
    customer coming back after deprovisioning) and an owner user exists. Idempotent. From
    suspended it is a restore: `account.restored` is recorded."""
    access = access_lock(customer=customer)
    account_owner_ensure(customer=customer)
    if access.status == AccessStatus.ACTIVE and access.deprovision_at is None:
        return access
    if access.status in (AccessStatus.NONE, AccessStatus.DEPROVISIONED):
        access.activated_at = at
        access.deprovisioned_at = None
    was_suspended, lifted = access.status == AccessStatus.SUSPENDED, access.suspend_reason
    access.status = AccessStatus.ACTIVE
    access.suspended_at = None
    access.deprovision_at = None
    access.suspend_reason, access.suspend_comment = "", ""
    access = _save(
        access,
        [
            "status",
            "activated_at",
            "suspended_at",
            "deprovision_at",
            "deprovisioned_at",
            "suspend_reason",
            "suspend_comment",
        ],
    )
    if was_suspended:
        _account_event("account.restored", access, at=at, actor=actor, reason=lifted, comment="")
    return access


def _account_event(
    kind: str, access: CustomerAccess, *, at: datetime, actor: Actor, reason: str, comment: str
) -> None:
    billing_event_record(
        kind=kind,
        subject=access,
        at=at,
        actor=actor,
        customer=access.customer,
        payload={"reason": reason, "comment": comment},
    )


@transaction.atomic
def account_suspend(
    *,
    customer: Customer,
    at: datetime,
    reason: str = "",
    comment: str = "",
    actor: Actor = None,
) -> CustomerAccess:
    """Active → suspended: the customer's API keys stop working (they are not revoked) and
    the access check answers `suspended`. Suspending an account that is already suspended,
    was never activated or is deprovisioned changes nothing. `reason` is a `SuspendReason`
    (staff give one; blank when billing suspends, e.g. a subscription on hold)."""
    if reason and reason not in SuspendReason.values:
        raise ValidationError(
            {"reason": ValidationError(f"Not a suspension reason: {reason}.", code="invalid")}
        )
    access = access_lock(customer=customer)
    if access.status != AccessStatus.ACTIVE:
        return access
    access.status = AccessStatus.SUSPENDED
    access.suspended_at = at
    access.suspend_reason, access.suspend_comment = reason, comment
    access = _save(access, ["status", "suspended_at", "suspend_reason", "suspend_comment"])
    _account_event("account.suspended", access, at=at, actor=actor, reason=reason, comment=comment)
    return access


@transaction.atomic
def account_restore(
    *, customer: Customer, at: datetime, comment: str = "", actor: Actor = None
) -> CustomerAccess:
    """Suspended → active, with the same keys and seats. Restoring an active account changes
    nothing; one never activated or deprovisioned must be activated instead (422). The
    event's `reason` is the suspension's, now lifted."""
    access = access_lock(customer=customer)
    if access.status == AccessStatus.ACTIVE:
        return access
    if access.status != AccessStatus.SUSPENDED:
        raise StateError(
            f"Only a suspended account can be restored; this one is {access.status}.",
            code="not_suspended",
        )
    lifted = access.suspend_reason
    access.status = AccessStatus.ACTIVE
    access.suspended_at = None
    access.suspend_reason, access.suspend_comment = "", ""
    access = _save(access, ["status", "suspended_at", "suspend_reason", "suspend_comment"])
    _account_event("account.restored", access, at=at, actor=actor, reason=lifted, comment=comment)
    return access


@transaction.atomic
def account_deprovision_schedule(
    *, customer: Customer, deprovision_at: datetime | None, at: datetime, actor: Actor = None
) -> CustomerAccess:
    """Set (or, with None, cancel) the moment access ends: the grace period after a cancel.
    The deprovisioning itself is `account_deprovision`, run when that moment comes."""
    access = access_lock(customer=customer)
    if access.status == AccessStatus.DEPROVISIONED or access.deprovision_at == deprovision_at:
        return access
    access.deprovision_at = deprovision_at
    return _save(access, ["deprovision_at"])


@transaction.atomic
def account_deprovision(*, customer: Customer, at: datetime, actor: Actor = None) -> CustomerAccess:
    """Access ends: every service key is revoked, every seat removed, status deprovisioned.
    Customer users stay (they are the customer's logins, also for the billing portal).
    Provisioned entitlements are the entitlements services' to remove. Idempotent."""
    access = access_lock(customer=customer)
    revoked = ServiceKey.objects.filter(customer=customer, revoked_at__isnull=True).update(
        revoked_at=at
    )
    removed, _ = SeatAssignment.objects.filter(customer=customer).delete()
    if access.status == AccessStatus.DEPROVISIONED:
        return access_version_touch(access) if revoked or removed else access
    access.status = AccessStatus.DEPROVISIONED
    access.deprovisioned_at = at
    access.deprovision_at = None
    access.suspended_at = None
    access.suspend_reason, access.suspend_comment = "", ""
    return _save(
        access,
        [
            "status",
            "deprovisioned_at",
            "deprovision_at",
            "suspended_at",
            "suspend_reason",
            "suspend_comment",
        ],
    )
