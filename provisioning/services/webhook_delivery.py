"""Sending webhook deliveries: the signed POST, claiming due rows, recording the answer,
backoff, giving up and disabling a failing endpoint (see provisioning/services/webhooks.py
for the protocol). No network call happens inside a transaction or under a lock. The POST
goes through api/outbound.py: the endpoint's URL is checked again at each attempt and the
connection pinned to the checked address; a refused URL is a failed attempt, not a request."""

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import mail_admins
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F

from api.errors import Conflict
from api.outbound import OutboundRefused, outbound_request
from billing.models import BillingEvent
from provisioning.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from provisioning.services.webhooks import (
    ABANDONED,
    BACKOFF_BASE,
    BACKOFF_CAP,
    DISABLE_AFTER,
    LEASE,
    MAX_ATTEMPTS,
    MAX_BODY,
    MAX_CONSECUTIVE_FAILURES,
    SENDING,
    TIMEOUT_SECONDS,
    webhook_signature,
)

logger = logging.getLogger("provisioning.webhooks")


def webhook_body(event: BillingEvent) -> str:
    """The JSON body sent for `event` (the same on every attempt)."""
    customer = event.customer
    document = {
        "id": f"evt_{event.pk}",
        "type": event.kind,
        "created": event.occurred_at,
        "data": {
            "customer": None
            if customer is None
            else {"id": customer.pk, "external_id": customer.external_id},
            "subject": {"type": event.subject_type, "id": event.subject_id},
            "payload": event.payload,
        },
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Answer:
    code: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def webhook_post(*, url: str, body: str, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body`; any answer or failure comes back as an `Answer`, never an exception. A
    redirect is an answer (not followed); the first MAX_BODY bytes of the answer are kept."""
    started = time.monotonic()
    code, text, error = None, "", ""
    try:
        response = outbound_request(
            "POST", url, body=body, headers=headers, timeout=timeout, max_body=MAX_BODY
        )
        code, text = response.status, response.text()
        if 300 <= code < 400:
            error = (
                f"HTTP {code}: redirects are not followed ({response.location or 'no Location'})"
            )
    except OutboundRefused as exc:
        error = f"url_not_allowed: {exc.message} Nothing was sent."
    except OSError as exc:
        error = f"{exc.__class__.__name__}: {exc}"
    duration = int((time.monotonic() - started) * 1000)
    if code is not None and not 200 <= code < 300 and not error:
        error = f"HTTP {code}"
    return Answer(code=code, body=text, error=error[:500], duration_ms=duration)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1, 2, 4, … minutes, capped."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def _timeout() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", TIMEOUT_SECONDS))


def _lease() -> timedelta:
    """How long a claimed delivery stays claimed: longer than any call can take."""
    return max(LEASE, timedelta(seconds=_timeout() + 50))


def _attempt_start(delivery: WebhookDelivery, *, at: datetime) -> DeliveryAttempt:
    """Inside the claiming transaction: the attempt is counted and recorded before the call."""
    DeliveryAttempt.objects.filter(delivery=delivery, error=SENDING).update(error=ABANDONED)
    return DeliveryAttempt.objects.create(delivery=delivery, at=at, error=SENDING)


@transaction.atomic
def _claim_next(*, at: datetime) -> tuple[WebhookDelivery, DeliveryAttempt] | None:
    due = (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
            next_attempt_at__lte=at,
            endpoint__active=True,
        )
        .order_by("next_attempt_at", "pk")
    )
    for delivery in due[:5]:
        claimed = WebhookDelivery.objects.filter(
            pk=delivery.pk, next_attempt_at=delivery.next_attempt_at, attempts=delivery.attempts
        ).update(next_attempt_at=at + _lease(), attempts=F("attempts") + 1)
        if claimed:  # compare-and-swap: another worker did not take it first
            delivery.refresh_from_db()
            return delivery, _attempt_start(delivery, at=at)
    return None


def _send(delivery: WebhookDelivery, *, at: datetime) -> Answer:
    delivery = WebhookDelivery.objects.select_related("endpoint", "event__customer").get(
        pk=delivery.pk
    )
    body = webhook_body(delivery.event)
    timestamp = int(at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "billing-webhooks/1",
        "Webhook-Id": f"evt_{delivery.event_id}",
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": webhook_signature(delivery.endpoint.secret, timestamp, body),
    }
    return webhook_post(url=delivery.endpoint.url, body=body, headers=headers, timeout=_timeout())


def _endpoint_disable_for_failures(endpoint: WebhookEndpoint, *, at: datetime, why: str) -> None:
    """Locked endpoint: disable it, log and mail the site admins after commit."""
    reason = f"Disabled automatically: {why}"[:300]
    endpoint.active = False
    endpoint.disabled_at = at
    endpoint.disabled_reason = reason
    endpoint.save(update_fields=["active", "disabled_at", "disabled_reason"])
    logger.error("webhook endpoint %s (%s) disabled: %s", endpoint.pk, endpoint.url, why)
    transaction.on_commit(
        partial(
            mail_admins,
            f"Webhook endpoint disabled: {endpoint.url}",
            f"Endpoint #{endpoint.pk} ({endpoint.url}) was disabled at {at.isoformat()}.\n"
            f"{why}\nFix the receiver, then enable it again in the admin or with "
            f"POST /api/v1/webhook-endpoints/{endpoint.pk}/enable/.",
            fail_silently=True,
        )
    )


def _failing_since(endpoint: WebhookEndpoint) -> datetime | None:
    """When the endpoint's current run of failures began."""
    last_ok = (
        DeliveryAttempt.objects.filter(
            delivery__endpoint=endpoint, response_code__gte=200, response_code__lt=300
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    failures = DeliveryAttempt.objects.filter(delivery__endpoint=endpoint).exclude(
        response_code__gte=200, response_code__lt=300
    )
    if last_ok is not None:
        failures = failures.filter(at__gt=last_ok)
    return failures.order_by("at").values_list("at", flat=True).first()


@transaction.atomic
def _record(delivery_id: int, attempt_id: int, answer: Answer, *, at: datetime, manual: bool):
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    DeliveryAttempt.objects.filter(pk=attempt_id).update(
        response_code=answer.code, error=answer.error[:500], duration_ms=answer.duration_ms
    )
    delivery.response_code = answer.code
    delivery.response_body = answer.body
    delivery.error = answer.error[:500]
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    if answer.ok:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = at
        delivery.next_attempt_at = None
        endpoint.consecutive_failures = 0
        endpoint.save(update_fields=["consecutive_failures"])
    else:
        if manual and delivery.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.GAVE_UP):
            delivery.next_attempt_at = None  # a manual retry does not restart the schedule
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.GAVE_UP
            delivery.next_attempt_at = None
        else:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = at + backoff(delivery.attempts)
        endpoint.consecutive_failures += 1
        endpoint.save(update_fields=["consecutive_failures"])
        if endpoint.active:
            since = _failing_since(endpoint) if delivery.status == DeliveryStatus.GAVE_UP else None
            if endpoint.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                _endpoint_disable_for_failures(
                    endpoint, at=at, why=f"{endpoint.consecutive_failures} failures in a row."
                )
            elif since is not None and at - since > DISABLE_AFTER:
                _endpoint_disable_for_failures(
                    endpoint, at=at, why=f"no successful delivery since {since.isoformat()}."
                )
    delivery.save()
    return delivery


def deliver_due(*, at: datetime, limit: int = 100, budget_seconds: float = 240) -> int:
    """Send due deliveries one at a time until none is due, `limit` were sent or the time
    budget is spent (the task's timeout is 300 s). Returns how many were sent."""
    sent, started = 0, time.monotonic()
    while sent < limit and time.monotonic() - started < budget_seconds:
        claimed = _claim_next(at=at)
        if claimed is None:
            break
        delivery, attempt = claimed
        answer = _send(delivery, at=at)
        _record(delivery.pk, attempt.pk, answer, at=at, manual=False)
        sent += 1
    return sent


def redeliver(*, delivery: WebhookDelivery, at: datetime) -> WebhookDelivery:
    """Send it again now (an operator's retry), whatever its state; the answer is recorded
    as a new attempt. 409 while an attempt of it is under way."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if (
            delivery.next_attempt_at is not None
            and delivery.next_attempt_at > at
            and delivery.attempt_log.filter(error=SENDING, at__gt=at - _lease()).exists()
        ):
            raise Conflict("This delivery is being sent right now.", code="delivery_in_flight")
        delivery.attempts += 1
        if delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            delivery.next_attempt_at = at + _lease()
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        attempt = _attempt_start(delivery, at=at)
    answer = _send(delivery, at=at)
    return _record(delivery.pk, attempt.pk, answer, at=at, manual=True)


def webhooks_deliver_due(*, at: datetime, limit: int = 100, budget_seconds: float = 240) -> int:
    """Send due deliveries one at a time until none is due, `limit` were sent or the time
    budget is spent (the task's timeout is 300 s). Returns how many were sent."""
    return deliver_due(at=at, limit=limit, budget_seconds=budget_seconds)


def webhook_delivery_redeliver(*, delivery: WebhookDelivery, at: datetime) -> WebhookDelivery:
    """Send it again now (an operator's retry), whatever its state; the answer is recorded
    as a new attempt. 409 while an attempt of it is under way."""
    return redeliver(delivery=delivery, at=at)
