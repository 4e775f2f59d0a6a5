"""API keys for the customer's own use of the business's service (not our admin keys).

The raw key (`ck_live_…`) is returned once by create/rotate and never stored: only its
SHA-256 and a short prefix are. A key works while it is not revoked, not past `expires_at`
(set when it is rotated: the overlap), and its customer's access is active — so a suspended
customer's keys stop working and work again on restore without being issued anew.

A key issued by provisioning (`service_key_issue`) reaches nobody: it is `unrevealed`, its
hash is of a secret thrown away at once, and it cannot be used until the customer reveals it
in the portal (`service_key_reveal`), which gives it a new secret, shown that once. Each
action is logged (logger `provisioning.keys`) with who did it; no log line holds a secret.
"""

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from api.errors import Conflict, StateError
from api.services import api_key_hash
from billing.events.services import actor_label
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
logger = logging.getLogger("provisioning.keys")


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


def _issue(
    *,
    customer: Customer,
    name: str,
    scopes: list[str],
    at: datetime,
    rotated_from=None,
    unrevealed: bool = False,
):
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ServiceKey.objects.create(
        customer=customer,
        name=name,
        # an unrevealed key shows no character of the secret thrown away
        prefix=KEY_PREFIX if unrevealed else raw[:PREFIX_LENGTH],
        hashed_key=service_key_hash(raw),
        scopes=scopes,
        created_at=at,
        rotated_from=rotated_from,
        unrevealed=unrevealed,
    )
    return key, raw


def _new_key_allowed(*, customer: Customer, at: datetime) -> None:
    """Refused while the customer's access is suspended or deprovisioned, and beyond its key
    limit. Locks the customer's access row (serialises the count)."""
    access = access_lock(customer=customer)
    _require_usable(access)
    limit = service_key_limit(customer=customer)
    if service_keys_active(customer=customer, at=at).count() >= limit:
        raise Conflict(
            f"The customer already has {limit} active API keys, its limit; revoke one first.",
            code="key_limit_reached",
        )


@transaction.atomic
def service_key_create(
    *, customer: Customer, name: str, scopes: Iterable[str], at: datetime, actor: Actor = None
) -> tuple[ServiceKey, str]:
    """A new key; returns the row and the raw key, shown only now. Refused while the
    customer's access is suspended or deprovisioned, and beyond the customer's key limit."""
    name, scopes = _clean_name(name), _clean_scopes(scopes)
    _new_key_allowed(customer=customer, at=at)
    key, raw = _issue(customer=customer, name=name, scopes=scopes, at=at)
    logger.info(
        "service key %s created for customer %s by %s", key.pk, customer.pk, actor_label(actor)
    )
    return key, raw


@transaction.atomic
def service_key_issue(
    *, customer: Customer, name: str, scopes: Iterable[str], at: datetime, actor: Actor = None
) -> ServiceKey:
    """A new key for the customer to reveal in the portal (`service_key_reveal`): nobody
    knows a secret of it, so it cannot be used until then. The same checks as create."""
    name, scopes = _clean_name(name), _clean_scopes(scopes)
    _new_key_allowed(customer=customer, at=at)
    key, _ = _issue(customer=customer, name=name, scopes=scopes, at=at, unrevealed=True)
    logger.info(
        "service key %s issued unrevealed to customer %s by %s",
        key.pk,
        customer.pk,
        actor_label(actor),
    )
    return key


@transaction.atomic
def service_key_reveal(
    *, key: ServiceKey, at: datetime, actor: Actor = None
) -> tuple[ServiceKey, str]:
    """An unrevealed key gets its secret, returned this once (only its hash is stored) and
    never again: a second reveal is refused (422 `key_revealed`; rotate it instead), as is
    the reveal of a revoked, expired or rotated key."""
    key = ServiceKey.objects.select_for_update().get(pk=key.pk)
    if not key.unrevealed:
        raise StateError(
            "This key was already revealed; it cannot be shown again. Rotate it for a new one.",
            code="key_revealed",
        )
    if key.revoked_at is not None:
        raise StateError("A revoked key cannot be revealed.", code="key_revoked")
    if key.expires_at is not None:
        raise StateError("A rotated or expiring key cannot be revealed.", code="key_expired")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key.hashed_key = service_key_hash(raw)
    key.prefix = raw[:PREFIX_LENGTH]
    key.unrevealed = False
    key.revealed_at = at
    key.save(update_fields=["hashed_key", "prefix", "unrevealed", "revealed_at"])
    logger.info("service key %s revealed by %s", key.pk, actor_label(actor))
    return key, raw


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
    new, raw = _issue(
        customer=old.customer, name=old.name, scopes=list(old.scopes), at=at, rotated_from=old
    )
    logger.info("service key %s rotated to %s by %s", old.pk, new.pk, actor_label(actor))
    return new, raw


@transaction.atomic
def service_key_revoke(*, key: ServiceKey, at: datetime, actor: Actor = None) -> ServiceKey:
    """The key stops working now, for good. Idempotent (the first revocation time stays)."""
    key = ServiceKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = at
        key.save(update_fields=["revoked_at"])
        logger.info("service key %s revoked by %s", key.pk, actor_label(actor))
    return key


def service_key_is_usable(key: ServiceKey, *, at: datetime, access_status: str | None) -> bool:
    return (
        not key.unrevealed
        and key.revoked_at is None
        and (key.expires_at is None or key.expires_at > at)
        and access_status == AccessStatus.ACTIVE
    )


def service_key_authenticate(raw: str, *, at: datetime) -> ServiceKey | None:
    """The key `raw` stands for when it may be used now, else None (unknown, unrevealed,
    revoked, expired, or its customer's access not active). One query; `last_used_at` is
    written at most once a minute. The returned key carries `customer` and `customer.access`."""
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
