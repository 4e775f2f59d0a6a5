"""Outbound webhooks: the business's endpoints, the billing events fanned out to them, and
signed deliveries with retries.

Fan-out reads the billing event log with its own cursor (consumer "webhooks") and makes one
`WebhookDelivery` per (matching active endpoint, event) — the unique constraint means never
twice. Delivery claims one due row at a time (`select_for_update(skip_locked=True)` plus a
compare-and-swap on `next_attempt_at`, which also holds on SQLite), pushes its
`next_attempt_at` out by a lease and writes a "sending" attempt, commits, and only then
calls out; the outcome is recorded in a second transaction. A worker that dies mid-call
leaves the "sending" attempt behind and the delivery is tried again when the lease ends, so
receivers must deduplicate on `Webhook-Id` (the event id, the same on every retry).

Signing (documented for receivers, see `webhook_signature_verify`):
    Webhook-Timestamp: <unix seconds>
    Webhook-Signature: v1=<hex HMAC-SHA256(key=secret as UTF-8, msg=f"{timestamp}.{body}")>
Receivers reject timestamps more than 5 minutes away from their clock (replay protection).

Only events recorded at or after an endpoint's creation are sent to it (`created_at <=
event.recorded_at`): a new endpoint does not receive the backlog of older events.

Endpoint URLs go through api/outbound.py when saved (http(s) only, no user info, no host
resolving to a loopback, private, link-local or other non-public address unless
OUTBOUND_ALLOWED_HOSTS names it) and again at every delivery, which connects to the address
that was checked. An endpoint saved before that check existed, or whose name now resolves to
a private address, fails at delivery with the refusal recorded as the attempt's error.

An endpoint is disabled after MAX_CONSECUTIVE_FAILURES failed attempts in a row, or when a
delivery gives up and it has not had a successful answer for DISABLE_AFTER; the error is
logged and mailed to the site admins (`mail_admins`, after commit). No billing event is
written: provisioning never writes billing tables.
"""

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from functools import partial

from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Max, Q

from api.errors import DomainError
from api.outbound import outbound_url_check
from billing.models import BillingEvent
from provisioning.models import (
    DeliveryStatus,
    EventCursor,
    WebhookDelivery,
    WebhookEndpoint,
)

CONSUMER = "webhooks"
TIMEOUT_SECONDS = 10
LEASE = timedelta(seconds=TIMEOUT_SECONDS + 50)  # a claimed delivery is not claimed again
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
MAX_ATTEMPTS = 8  # 1+2+4+…+64 min: the last try about 2 h 7 min after the first
MAX_CONSECUTIVE_FAILURES = 20
DISABLE_AFTER = timedelta(days=3)
GAP_PATIENCE = timedelta(hours=1)  # an id missing from the log this long was rolled back
MAX_BODY = 2048  # bytes of a receiver's answer kept on the delivery (the first 2 KB)
SIGNATURE_TOLERANCE = 300
SENDING = "sending"
ABANDONED = "no outcome recorded (the worker stopped?)"
EVENT_FILTER = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")
_url_validator = URLValidator(schemes=["http", "https"])


# Signing
def webhook_signature(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """The `Webhook-Signature` header value for `body` sent at `timestamp`."""
    text = body.decode() if isinstance(body, bytes) else body
    digest = hmac.new(secret.encode(), f"{timestamp}.{text}".encode(), hashlib.sha256)
    return f"v1={digest.hexdigest()}"


def webhook_signature_verify(
    secret: str,
    body: str | bytes,
    header_timestamp: str,
    header_signature: str,
    *,
    now: datetime,
    tolerance: int = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver runs (copy it): the signature matches the raw body and timestamp,
    compared in constant time, and the timestamp is within `tolerance` seconds of `now` —
    an old message replayed by someone who captured it is refused. Several space-separated
    `v1=` values are accepted (one may be signed with a newer secret)."""
    try:
        timestamp = int(header_timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret, timestamp, body)
    return any(
        hmac.compare_digest(expected, candidate.strip())
        for candidate in (header_signature or "").replace(",", " ").split()
    )


def _secret_new() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# Endpoints
def webhook_url_clean(url: str) -> str:
    """The URL, stripped, or a DomainError: `invalid_url` for what is not an http(s) URL,
    `url_not_allowed` for one we will not call (see api/outbound.py). Looks the host up:
    call it outside transactions."""
    url = (url or "").strip()
    if url.lower().startswith(("http://", "https://")):
        outbound_url_check(url, resolve=False)  # user info, addresses in odd forms
    try:
        _url_validator(url)
    except Exception:  # noqa: BLE001 - ValidationError; any refusal is the same answer
        raise DomainError(
            "Enter an http:// or https:// URL.", code="invalid_url", field="url"
        ) from None
    if len(url) > 500:
        raise DomainError("The URL is longer than 500 characters.", code="invalid_url", field="url")
    outbound_url_check(url)
    return url


def webhook_events_clean(events) -> list[str]:
    if not isinstance(events, list | tuple):
        raise DomainError("A list of event kinds.", code="invalid_events", field="events")
    cleaned = []
    for value in events:
        if not isinstance(value, str) or not EVENT_FILTER.match(value.strip()):
            raise DomainError(
                f"Not an event kind or prefix: {value!r} (e.g. invoice.paid, invoice.*).",
                code="invalid_events",
                field="events",
            )
        if value.strip() not in cleaned:
            cleaned.append(value.strip())
    return cleaned


def event_filter_matches(filters: list[str], kind: str) -> bool:
    """Empty filters, or "*": every event; "invoice.*": kinds starting with "invoice."."""
    if not filters:
        return True
    for value in filters:
        if value == "*" or value == kind:
            return True
        if value.endswith(".*") and kind.startswith(value[:-1]):
            return True
    return False


def _cursor_ensure() -> EventCursor:
    """The fan-out cursor; made at the end of the log, so a new installation's first
    endpoint is not sent the whole history."""
    last = BillingEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    cursor, _ = EventCursor.objects.get_or_create(
        consumer=CONSUMER, defaults={"last_event_id": last}
    )
    return cursor


def webhook_endpoint_create(
    *, url: str, events: list[str], description: str = "", at: datetime
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown to the caller once). It is sent the
    events recorded from `at` on."""
    url = webhook_url_clean(url)  # a DNS lookup: before the transaction
    return _endpoint_create(url=url, events=events, description=description, at=at)


@transaction.atomic
def _endpoint_create(
    *, url: str, events: list[str], description: str, at: datetime
) -> tuple[WebhookEndpoint, str]:
    _cursor_ensure()
    secret = _secret_new()
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        events=webhook_events_clean(events),
        description=(description or "")[:200],
        secret=secret,
        created_at=at,
    )
    return endpoint, secret


def _endpoint_locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    at: datetime,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
) -> WebhookEndpoint:
    url = None if url is None else webhook_url_clean(url)  # before the transaction
    return _endpoint_update(endpoint=endpoint, url=url, events=events, description=description)


@transaction.atomic
def _endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None,
    events: list[str] | None,
    description: str | None,
) -> WebhookEndpoint:
    endpoint = _endpoint_locked(endpoint)
    if url is not None:
        endpoint.url = url
    if events is not None:
        endpoint.events = webhook_events_clean(events)
    if description is not None:
        endpoint.description = description[:200]
    endpoint.save(update_fields=["url", "events", "description"])
    return endpoint


@transaction.atomic
def webhook_endpoint_disable(
    *, endpoint: WebhookEndpoint, at: datetime, reason: str = "Disabled by an operator."
) -> WebhookEndpoint:
    """No new deliveries are made and due ones wait. Disabling twice changes nothing."""
    endpoint = _endpoint_locked(endpoint)
    if endpoint.active:
        endpoint.active = False
        endpoint.disabled_at = at
        endpoint.disabled_reason = reason[:300]
        endpoint.save(update_fields=["active", "disabled_at", "disabled_reason"])
    return endpoint


@transaction.atomic
def webhook_endpoint_enable(*, endpoint: WebhookEndpoint, at: datetime) -> WebhookEndpoint:
    """Active again with a clean failure count; deliveries still pending or failed go out
    at once (events that happened while it was disabled are not sent)."""
    endpoint = _endpoint_locked(endpoint)
    endpoint.active = True
    endpoint.consecutive_failures = 0
    endpoint.disabled_at = None
    endpoint.disabled_reason = ""
    endpoint.save(
        update_fields=["active", "consecutive_failures", "disabled_at", "disabled_reason"]
    )
    endpoint.deliveries.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED], next_attempt_at__gt=at
    ).exclude(attempt_log__error=SENDING).update(next_attempt_at=at)
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, at: datetime
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret, in force for the next attempt (the old one stops at once)."""
    endpoint = _endpoint_locked(endpoint)
    endpoint.secret = _secret_new()
    endpoint.save(update_fields=["secret"])
    return endpoint, endpoint.secret


# Fan-out
def _events_read(cursor: EventCursor, *, at: datetime, limit: int) -> list[BillingEvent]:
    """The next events after the cursor plus those it is still waiting for (ids skipped by
    transactions that had not committed yet), moving the cursor on. The caller saves it."""
    waiting = {int(item["id"]): item["since"] for item in cursor.pending_ids}
    events = list(
        BillingEvent.objects.filter(Q(pk__gt=cursor.last_event_id) | Q(pk__in=list(waiting)))
        .select_related("customer")
        .order_by("pk")[:limit]
    )
    expected = cursor.last_event_id + 1
    for event in events:
        waiting.pop(event.pk, None)
        if event.pk > cursor.last_event_id:
            for missing in range(expected, min(event.pk, expected + 1000)):
                waiting[missing] = at.isoformat()
            expected = event.pk + 1
            cursor.last_event_id = event.pk
    oldest = at - GAP_PATIENCE
    cursor.pending_ids = [
        {"id": pk, "since": since}
        for pk, since in sorted(waiting.items())
        if datetime.fromisoformat(since) > oldest
    ]
    return events


@transaction.atomic
def webhooks_fan_out(*, at: datetime, limit: int = 1000) -> int:
    """One delivery per new event and matching active endpoint that existed when the event
    was recorded; returns how many were offered (a row that already exists is left as it
    is). Concurrent runs queue on the cursor's lock."""
    _cursor_ensure()
    cursor = EventCursor.objects.select_for_update().get(consumer=CONSUMER)
    events = _events_read(cursor, at=at, limit=limit)
    endpoints = list(WebhookEndpoint.objects.filter(active=True))
    rows = [
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            status=DeliveryStatus.PENDING,
            next_attempt_at=at,
            created_at=at,
        )
        for event in events
        for endpoint in endpoints
        if endpoint.created_at <= event.recorded_at  # no backlog from before the endpoint
        and event_filter_matches(endpoint.events, event.kind)
    ]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    cursor.save(update_fields=["last_event_id", "pending_ids", "updated_at"])
    if rows:
        from django_q.tasks import async_task

        transaction.on_commit(
            partial(async_task, "provisioning.tasks_webhooks.webhooks_deliver_due_task")
        )
    return len(rows)
