"""API keys for the customer's own use of the business's service (not our admin keys).

The raw key (`ck_live_…`) is returned once by create/rotate and never stored: only its
SHA-256 and a short prefix are. A key works while it is not revoked, not past `expires_at`
(set when it is rotated: the overlap), and its customer's access is active — so a suspended
customer's keys stop working and work again on restore without being issued anew.
"""

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from api.errors import Conflict, StateError
from api.services import api_key_hash
from customers.models import Customer
from provisioning.models import AccessStatus, CustomerAccess, ProvisionedEntitlement, ServiceKey
from provisioning.services.accounts import Actor, access_lock

KEY_PREFIX = "ck_live_"
PREFIX_LENGTH = 12  # "ck_live_" and 4 characters of the secret: enough to tell keys apart
SCOPES = ("read", "write", "admin")
DEFAULT_MAX_ACTIVE_KEYS = 20
HARD_MAX_ACTIVE_KEYS = 1000  # even with an unlimited entitlement
MAX_OVERLAP = timedelta(days=30)
LAST_USED_RESOLUTION = timedelta(minutes=1)


def service_key_hash(raw: str) -> str:
    """What is stored of a service key (the same digest as our own API keys)."""
    return api_key_hash(raw)


def service_keys_active(*, customer: Customer, at: datetime) -> QuerySet[ServiceKey]:
    """Keys not revoked and not expired at `at` (whatever the customer's access state)."""
    return ServiceKey.objects.filter(customer=customer, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at)
    )


def service_key_limit(*, customer: Customer) -> int:
    """How many active keys the customer may hold: the limit of its provisioned
    `PROVISIONING_API_KEYS_FEATURE` entitlement (feature code, default `api_keys`) when it has
    one — 0 when that feature is off, unlimited capped at HARD_MAX_ACTIVE_KEYS — else
    DEFAULT_MAX_ACTIVE_KEYS."""
    code = getattr(settings, "PROVISIONING_API_KEYS_FEATURE", "api_keys")
    held = ProvisionedEntitlement.objects.filter(customer=customer, feature__code=code).first()
    if held is None:
        return DEFAULT_MAX_ACTIVE_KEYS
    if not held.enabled:
        return 0
    return HARD_MAX_ACTIVE_KEYS if held.limit is None else min(held.limit, HARD_MAX_ACTIVE_KEYS)


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    if isinstance(scopes, str):
        scopes = [scopes]
    cleaned = sorted(set(scopes))
    if not cleaned or not set(cleaned) <= set(SCOPES):
        raise ValidationError(
            {
                "scopes": ValidationError(
                    f"Scopes must be a non-empty subset of {list(SCOPES)}.", code="invalid_scopes"
                )
            }
        )
    return cleaned


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError(
            {"name": ValidationError("Give a name of 1 to 100 characters.", code="invalid")}
        )
    return name


def _require_usable(access: CustomerAccess) -> None:
    if access.status in (AccessStatus.SUSPENDED, AccessStatus.DEPROVISIONED):
        raise StateError(
            f"The customer's access is {access.status}; no key can be issued.",
            code=f"access_{access.status}",
        )


def _issue(*, customer: Customer, name: str, scopes: list[str], at: datetime, rotated_from=None):
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ServiceKey.objects.create(
        customer=customer,
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        hashed_key=service_key_hash(raw),
        scopes=scopes,
        created_at=at,
        rotated_from=rotated_from,
    )
    return key, raw


@transaction.atomic
def service_key_create(
    *, customer: Customer, name: str, scopes: Iterable[str], at: datetime, actor: Actor = None
) -> tuple[ServiceKey, str]:
    """A new key; returns the row and the raw key, shown only now. Refused while the
    customer's access is suspended or deprovisioned, and beyond the customer's key limit."""
    name, scopes = _clean_name(name), _clean_scopes(scopes)
    access = access_lock(customer=customer)  # serialises the count below
    _require_usable(access)
    limit = service_key_limit(customer=customer)
    if service_keys_active(customer=customer, at=at).count() >= limit:
        raise Conflict(
            f"The customer already has {limit} active API keys, its limit; revoke one first.",
            code="key_limit_reached",
        )
    return _issue(customer=customer, name=name, scopes=scopes, at=at)


@transaction.atomic
def service_key_rotate(
    *,
    key: ServiceKey,
    at: datetime,
    overlap: timedelta = timedelta(hours=24),
    actor: Actor = None,
) -> tuple[ServiceKey, str]:
    """A new key with the same name and scopes replaces `key`, which keeps working until
    `at + overlap` so clients can switch. A revoked, expired or already rotated key cannot
    be rotated (422). The overlap key does not count against the limit."""
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise ValidationError(
            {"overlap": ValidationError(f"Give 0 to {MAX_OVERLAP.days} days.", code="invalid")}
        )
    access = access_lock(customer=key.customer)
    old = ServiceKey.objects.select_for_update().get(pk=key.pk)
    if old.revoked_at is not None:
        raise StateError("A revoked key cannot be rotated.", code="key_revoked")
    if old.expires_at is not None and old.expires_at <= at:
        raise StateError("An expired key cannot be rotated.", code="key_expired")
    if ServiceKey.objects.filter(rotated_from=old).exists():
        raise StateError("This key was already rotated; rotate its successor.", code="key_rotated")
    _require_usable(access)
    ends = at + overlap
    if old.expires_at is None or ends < old.expires_at:
        old.expires_at = ends
        old.save(update_fields=["expires_at"])
    return _issue(
        customer=old.customer, name=old.name, scopes=list(old.scopes), at=at, rotated_from=old
    )


@transaction.atomic
def service_key_revoke(*, key: ServiceKey, at: datetime, actor: Actor = None) -> ServiceKey:
    """The key stops working now, for good. Idempotent (the first revocation time stays)."""
    key = ServiceKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = at
        key.save(update_fields=["revoked_at"])
    return key


def service_key_is_usable(key: ServiceKey, *, at: datetime, access_status: str | None) -> bool:
    return (
        key.revoked_at is None
        and (key.expires_at is None or key.expires_at > at)
        and access_status == AccessStatus.ACTIVE
    )


def service_key_authenticate(raw: str, *, at: datetime) -> ServiceKey | None:
    """The key `raw` stands for when it may be used now, else None (unknown, revoked,
    expired, or its customer's access not active). One query; `last_used_at` is written at
    most once a minute. The returned key carries `customer` and `customer.access`."""
    if not isinstance(raw, str) or not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None
    key = (
        ServiceKey.objects.select_related("customer__access")
        .filter(hashed_key=service_key_hash(raw))
        .first()
    )
    if key is None:
        return None
    # RelatedObjectDoesNotExist is an AttributeError: no CustomerAccess row gives None.
    access = getattr(key.customer, "access", None)
    if not service_key_is_usable(key, at=at, access_status=access and access.status):
        return None
    if key.last_used_at is None or at - key.last_used_at >= LAST_USED_RESOLUTION:
        ServiceKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=at - LAST_USED_RESOLUTION)
        ).update(last_used_at=at)
        key.last_used_at = at
    return key
