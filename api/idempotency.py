"""`Idempotency-Key` on POST: the same key and body replay the first response; another body → 409.

The record is claimed (inserted) before the view runs, so a concurrent duplicate gets 409
instead of running twice. Only 2xx responses are kept: a refused request changed nothing,
so its key is freed for a corrected retry. A claim left behind by a dead process is taken
over after `STALE_AFTER`.
"""

import hashlib
import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework import exceptions
from rest_framework.response import Response

from api.errors import Conflict
from api.models import ApiKey, IdempotencyRecord

STALE_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255


def request_fingerprint(*, method: str, path: str, body) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_begin(
    *, api_key: ApiKey, key: str, method: str, path: str, fingerprint: str, at: datetime
) -> tuple[IdempotencyRecord | None, IdempotencyRecord | None]:
    """Claim `key`: returns (claimed record, None) to proceed, or (None, done record) to replay."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise exceptions.ValidationError(
            {"Idempotency-Key": [f"The key must be 1 to {MAX_KEY_LENGTH} characters."]}
        )
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    api_key=api_key, key=key, method=method, path=path, request_hash=fingerprint
                )
            return record, None
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if existing is None:
            continue  # deleted meanwhile: claim again
        ttl = timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
        if existing.created_at < at - ttl:
            existing.delete()
            continue
        if existing.request_hash != fingerprint:
            raise Conflict(
                "This Idempotency-Key was used with a different request.",
                code="idempotency_key_reused",
                field="Idempotency-Key",
            )
        if existing.completed_at is not None:
            return None, existing
        if existing.created_at < at - STALE_AFTER:
            taken = IdempotencyRecord.objects.filter(
                pk=existing.pk, completed_at=None, created_at=existing.created_at
            ).update(created_at=at)
            if taken:
                return existing, None
        raise Conflict(
            "A request with this Idempotency-Key is still being processed.",
            code="idempotency_key_in_use",
            field="Idempotency-Key",
        )
    raise Conflict("Could not claim the Idempotency-Key; retry.", code="idempotency_key_in_use")


def idempotency_complete(*, record: IdempotencyRecord, response: Response, at: datetime) -> None:
    if 200 <= response.status_code < 300:
        record.response_status = response.status_code
        record.response_body = json.loads(json.dumps(response.data, default=str))
        record.completed_at = at
        record.save(update_fields=["response_status", "response_body", "completed_at"])
    else:
        record.delete()


def idempotency_replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response
