import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from api.models import ApiKey, ApiKeyScope

KEY_PREFIX = "sk_"


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, name: str, scopes: Iterable[str], created_by=None) -> tuple[ApiKey, str]:
    """Make a key; returns the row and the raw key, which is never stored and shown only now."""
    scopes = sorted(set(scopes))
    valid = set(ApiKeyScope.values)
    if not name.strip():
        raise ValidationError({"name": "A key needs a name."})
    if not scopes or not set(scopes) <= valid:
        raise ValidationError({"scopes": f"Scopes must be a non-empty subset of {sorted(valid)}."})
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name.strip(),
        prefix=raw_key[:11],
        hashed_key=api_key_hash(raw_key),
        scopes=scopes,
        created_by=created_by,
    )
    return key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, at: datetime) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if key.revoked_at is None:
        key.revoked_at = at
        key.save(update_fields=["revoked_at"])
    return key
