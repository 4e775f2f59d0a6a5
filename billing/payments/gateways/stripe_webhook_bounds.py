"""What dj-stripe keeps of a Stripe webhook request that it refuses, bounded.

dj-stripe stores every request to `/stripe/webhook/<uuid>/` as a `WebhookEventTrigger` row —
body, headers, traceback — before it checks the signature, so anyone could fill the
database with bogus megabytes. Here:
- `stripe_webhook_receive` (routed in front of dj-stripe's view) answers 413 to a body over
  `STRIPE_WEBHOOK_MAX_BODY_BYTES` (512 KB) without reading it;
- a request that does not validate is saved with its body cut to REFUSED_BODY_CHARS, its
  headers and traceback cut too (receivers of dj-stripe's validation signals);
- dj-stripe's log line quoting a body without an event id is cut to LOG_CHARS.
A valid event is stored whole. Connected by `billing.apps.BillingConfig.ready()`.
"""

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from djstripe import signals
from djstripe.models import WebhookEventTrigger
from djstripe.models import webhooks as djstripe_webhooks
from djstripe.views import ProcessWebhookView

logger = logging.getLogger(__name__)
REFUSED_BODY_CHARS = 4096
REFUSED_HEADERS = 50
REFUSED_HEADER_CHARS = 512
REFUSED_TRACEBACK_CHARS = 8192
LOG_CHARS = 2048
_djstripe_view = ProcessWebhookView.as_view()


@transaction.non_atomic_requests  # as dj-stripe's view: its error rows must commit
@csrf_exempt
@login_not_required
def stripe_webhook_receive(request: HttpRequest, uuid) -> HttpResponse:
    """dj-stripe's webhook view, for a body of a bounded size (413 beyond it)."""
    limit = settings.STRIPE_WEBHOOK_MAX_BODY_BYTES
    length = request.META.get("CONTENT_LENGTH") or ""
    # Django reads no body without a valid Content-Length; a longer one is not read at all.
    if request.method == "POST" and length.isdigit() and int(length) > limit:
        logger.warning("Stripe webhook refused: a body of %s bytes (limit %s)", length, limit)
        return HttpResponse("Request body too large.", status=413, content_type="text/plain")
    return _djstripe_view(request, uuid=uuid)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = f"\n[{len(text)} characters; the rest was not stored: the request was refused]"
    return text[: limit - len(note)] + note


def webhook_trigger_bound(trigger: WebhookEventTrigger) -> None:
    """Cut what a refused (not valid) trigger keeps; a valid one is left whole."""
    if trigger.valid:
        return
    trigger.body = _cut(trigger.body or "", REFUSED_BODY_CHARS)
    headers = trigger.headers if isinstance(trigger.headers, dict) else {}
    trigger.headers = {
        str(name)[:100]: _cut(str(value), REFUSED_HEADER_CHARS)
        for name, value in list(headers.items())[:REFUSED_HEADERS]
    }
    trigger.traceback = _cut(trigger.traceback or "", REFUSED_TRACEBACK_CHARS)


@receiver(signals.webhook_post_validate, dispatch_uid="billing.stripe.bound_refused")
def _refused_after_validation(sender, instance: WebhookEventTrigger, valid, **kwargs) -> None:
    if not valid:
        webhook_trigger_bound(instance)


@receiver(signals.webhook_processing_error, dispatch_uid="billing.stripe.bound_failed")
def _refused_by_an_error(sender, instance: WebhookEventTrigger, **kwargs) -> None:
    webhook_trigger_bound(instance)  # an event that validated but failed stays whole


class _ShortMessage(logging.Filter):
    """dj-stripe logs a body without an event id in full: keep its first LOG_CHARS."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > LOG_CHARS:
            record.msg, record.args = message[:LOG_CHARS] + " […]", None
        return True


djstripe_webhooks.logger.addFilter(_ShortMessage())  # the logger its webhook model uses
