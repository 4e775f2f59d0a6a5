"""What a bogus request to the Stripe webhook URL can make us store: a body over the limit
is refused (413) unread, a refused body is kept cut to 4 KB, and a valid signed event is
still stored whole and processed."""

import json
import logging

import pytest
from django.urls import resolve, reverse
from djstripe.models import Event, WebhookEventTrigger

from billing.payments.gateways.stripe_webhook_bounds import (
    REFUSED_BODY_CHARS,
    stripe_webhook_receive,
)
from billing.payments.tests.test_stripe_webhooks import (  # noqa: F401 - fixtures
    collect,
    deliver,
    endpoint,
    event,
    settle,
    stub,
)

pytestmark = pytest.mark.django_db
TWO_MB = 2 * 1024 * 1024


@pytest.fixture
def url(endpoint):  # noqa: F811
    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint.djstripe_uuid})


def bogus(size: int) -> str:
    """A JSON body that looks like an event, `size` characters long."""
    head = '{"id": "evt_bogus", "livemode": false, "object": "event", "pad": "'
    return head + "x" * (size - len(head) - 2) + '"}'


def test_the_webhook_url_goes_through_the_bound(url):
    assert resolve(url).func is stripe_webhook_receive


def test_a_2_mb_body_is_refused_unread_and_not_stored(client, url):
    response = client.post(
        url, data=bogus(TWO_MB), content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=0"
    )
    assert response.status_code == 413
    assert WebhookEventTrigger.objects.count() == 0


def test_a_body_under_the_limit_with_a_bad_signature_is_stored_cut(client, url, settings):
    settings.STRIPE_WEBHOOK_MAX_BODY_BYTES = 3 * 1024 * 1024  # let the 2 MB reach dj-stripe
    response = client.post(
        url,
        data=bogus(TWO_MB),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=" + "0" * 64,
        HTTP_X_PADDING="y" * 20_000,
    )
    assert response.status_code == 400
    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid is False
    assert len(trigger.body) <= REFUSED_BODY_CHARS
    assert trigger.body.startswith('{"id": "evt_bogus"')
    assert f"[{TWO_MB} characters;" in trigger.body
    assert all(len(value) <= 512 for value in trigger.headers.values())
    assert len(json.dumps(trigger.headers)) < 10_000


def test_a_refused_body_without_an_event_id_is_logged_cut(client, url, caplog):
    body = json.dumps({"pad": "z" * 200_000})
    with caplog.at_level(logging.ERROR):
        response = client.post(
            url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=0"
        )
    assert response.status_code == 400
    quoted = [r.getMessage() for r in caplog.records if "json body" in r.getMessage()]
    assert quoted
    assert all(len(message) < 2100 for message in quoted)
    assert len(WebhookEventTrigger.objects.get().body) <= REFUSED_BODY_CHARS


def test_a_valid_signed_event_is_stored_whole_and_processed(stub, deliver, settings):  # noqa: F811
    payment, intent = collect(stub, "processing", method="pm_fakesepadebit00000001", currency="EUR")
    succeeded = event("payment_intent.succeeded", settle(intent, "succeeded"), settings)
    succeeded["padding"] = "p" * 20_000  # larger than the bound of a refused body

    response = deliver(succeeded)

    assert response.status_code == 200
    trigger = WebhookEventTrigger.objects.get()
    assert (trigger.valid, trigger.processed) == (True, True)
    assert trigger.body == json.dumps(succeeded)
    assert Event.objects.get().id == succeeded["id"]
    payment.refresh_from_db()
    assert payment.status == "succeeded"
