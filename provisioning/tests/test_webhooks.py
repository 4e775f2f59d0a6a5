"""Outbound webhooks: signing, fan-out with filters (never twice), delivery to a real local
HTTP server, retries with backoff, giving up, disabling a failing endpoint, redelivery."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from api.errors import DomainError
from billing.models import BillingEvent
from billing.tests import factories
from provisioning.models import DeliveryAttempt, DeliveryStatus, EventCursor, WebhookDelivery
from provisioning.services import webhook_delivery, webhooks
from provisioning.tests.webhook_server import start_server

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def server(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # the stub server (private otherwise)
    state = start_server()
    yield state
    state.server.shutdown()
    state.server.server_close()


def event(kind="invoice.paid", customer=None, **payload):
    customer = customer or factories.customer(external_id=f"c{BillingEvent.objects.count()}")
    return BillingEvent.objects.create(
        kind=kind,
        occurred_at=AT,
        customer=customer,
        subject_type="customers.customer",
        subject_id=str(customer.pk),
        payload=payload,
    )


def endpoint(url="https://example.com/hooks", events=(), at=AT):
    return webhooks.webhook_endpoint_create(url=url, events=list(events), at=at)[0]


def delivery_for(url, kind="invoice.paid"):
    hook = endpoint(url)
    event(kind, amount="12.50")
    webhooks.webhooks_fan_out(at=AT)
    return hook, WebhookDelivery.objects.get(endpoint=hook)


# Signing
def test_a_signature_verifies_and_a_tampered_body_or_old_timestamp_does_not():
    secret, body, ts = "whsec_test", '{"id":"evt_1"}', int(AT.timestamp())
    signature = webhooks.webhook_signature(secret, ts, body)
    assert signature.startswith("v1=")
    assert len(signature) == 3 + 64
    verify = webhooks.webhook_signature_verify
    assert verify(secret, body, str(ts), signature, now=AT)
    assert verify(secret, body.encode(), str(ts), f"v1=0000 {signature}", now=AT)
    assert not verify(secret, body.replace("1", "2"), str(ts), signature, now=AT)
    assert not verify("whsec_other", body, str(ts), signature, now=AT)
    assert not verify(secret, body, str(ts + 1), signature, now=AT)
    assert not verify(secret, body, str(ts), signature, now=AT + timedelta(seconds=301))
    assert not verify(secret, body, str(ts), signature, now=AT - timedelta(seconds=301))
    assert verify(secret, body, str(ts), signature, now=AT + timedelta(seconds=299))
    assert not verify(secret, body, "soon", signature, now=AT)
    assert not verify(secret, body, str(ts), "", now=AT)


# Endpoints
def test_an_endpoint_gets_a_secret_once_and_refuses_bad_urls_and_filters():
    hook, secret = webhooks.webhook_endpoint_create(
        url=" https://example.com/h ", events=["invoice.*", "payment.failed"], at=AT
    )
    assert secret.startswith("whsec_")
    assert len(secret) > 30
    assert (hook.url, hook.events, hook.active) == (
        "https://example.com/h",
        ["invoice.*", "payment.failed"],
        True,
    )
    for url in ["ftp://example.com/x", "javascript:alert(1)", "example.com", "", "file:///etc"]:
        with pytest.raises(DomainError) as error:
            webhooks.webhook_endpoint_create(url=url, events=[], at=AT)
        assert (error.value.code, error.value.field) == ("invalid_url", "url")
    for events in [["Invoice paid"], ["invoice.*.x"], [3], "invoice.paid"]:
        with pytest.raises(DomainError) as error:
            webhooks.webhook_endpoint_create(url="http://example.com", events=events, at=AT)
        assert error.value.field == "events"
    _, rotated = webhooks.webhook_endpoint_rotate_secret(endpoint=hook, at=AT)
    hook.refresh_from_db()
    assert rotated != secret
    assert hook.secret == rotated


def test_filters_match_exact_kinds_prefixes_or_everything():
    match = webhooks.event_filter_matches
    assert match([], "invoice.paid")
    assert match(["*"], "payment.failed")
    assert match(["invoice.*"], "invoice.paid")
    assert not match(["invoice.*"], "invoices.paid")
    assert match(["invoice.paid"], "invoice.paid")
    assert not match(["invoice.paid"], "invoice.void")


# Fan-out
def test_fan_out_follows_filters_skips_disabled_endpoints_and_never_makes_a_delivery_twice():
    early = event("invoice.paid")  # before any endpoint: history is not sent
    now = timezone.now()
    invoices = endpoint(events=["invoice.*"], at=now)
    activations = endpoint(events=["subscription.activated"], at=now)
    everything = endpoint(at=now)
    off = endpoint(at=now)
    webhooks.webhook_endpoint_disable(endpoint=off, at=AT)
    paid, activated, failed = (
        event("invoice.paid"),
        event("subscription.activated"),
        event("payment.failed"),
    )
    assert webhooks.webhooks_fan_out(at=AT) == 5
    assert webhooks.webhooks_fan_out(at=AT) == 0
    pairs = set(WebhookDelivery.objects.values_list("endpoint_id", "event_id"))
    assert pairs == {
        (invoices.pk, paid.pk),
        (activations.pk, activated.pk),
        (everything.pk, paid.pk),
        (everything.pk, activated.pk),
        (everything.pk, failed.pk),
    }
    EventCursor.objects.filter(consumer="webhooks").update(last_event_id=0)
    webhooks.webhooks_fan_out(at=AT)  # read again from the start: still one row per pair
    assert WebhookDelivery.objects.count() == 5  # and the early event is older than them
    assert not WebhookDelivery.objects.filter(event=early).exists()
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 5


def test_a_new_endpoint_gets_only_events_recorded_after_it_was_made():
    old = endpoint(at=timezone.now())  # an endpoint exists: the fan-out cursor is running
    backlog = [event("invoice.paid") for _ in range(3)]  # not fanned out yet (worker down)
    new = endpoint(at=timezone.now())
    later = [event("invoice.paid") for _ in range(2)]
    assert webhooks.webhooks_fan_out(at=AT) == 5 + 2
    assert {d.event for d in old.deliveries.all()} == {*backlog, *later}
    assert {d.event for d in new.deliveries.all()} == set(later)
    EventCursor.objects.filter(consumer="webhooks").update(last_event_id=0)
    webhooks.webhooks_fan_out(at=AT)  # read again from the start: the backlog stays out
    assert {d.event for d in new.deliveries.all()} == set(later)


def test_fan_out_reads_an_event_that_commits_after_a_later_one():
    hook = endpoint()
    first = event("invoice.paid")
    webhooks.webhooks_fan_out(at=AT)
    cursor = EventCursor.objects.get(consumer="webhooks")
    # an id skipped by a transaction still open is remembered and read once it commits
    cursor.last_event_id = first.pk + 1
    cursor.pending_ids = [{"id": first.pk + 1, "since": AT.isoformat()}]
    cursor.save()
    late = event("invoice.paid")
    assert late.pk == first.pk + 1
    webhooks.webhooks_fan_out(at=AT + timedelta(seconds=5))
    assert WebhookDelivery.objects.filter(endpoint=hook, event=late).exists()
    assert EventCursor.objects.get(consumer="webhooks").pending_ids == []


# Delivery
def test_a_delivery_is_signed_posted_and_logged(server):
    hook, delivery = delivery_for(server.url("/ok"))
    assert webhook_delivery.webhooks_deliver_due(at=AT) == 1
    [received] = server.received
    body = json.loads(received.body)
    assert body["id"] == f"evt_{delivery.event_id}"
    assert body["type"] == "invoice.paid"
    assert body["data"]["payload"] == {"amount": "12.50"}
    assert set(body["data"]) == {"customer", "subject", "payload"}
    assert received.headers["Webhook-Id"] == body["id"]
    assert received.headers["Webhook-Timestamp"] == str(int(AT.timestamp()))
    assert webhooks.webhook_signature_verify(
        hook.secret,
        received.body,
        received.headers["Webhook-Timestamp"],
        received.headers["Webhook-Signature"],
        now=AT + timedelta(seconds=2),
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    assert (delivery.response_body, delivery.delivered_at) == ("thanks", AT)
    attempt = delivery.attempt_log.get()
    assert (attempt.response_code, attempt.error, attempt.at) == (200, "", AT)
    assert webhook_delivery.webhooks_deliver_due(at=AT + timedelta(hours=1)) == 0


def test_failures_retry_with_exponential_backoff_then_give_up(server):
    hook, delivery = delivery_for(server.url("/fail"))
    at, waits = AT, []
    for _ in range(webhooks.MAX_ATTEMPTS):
        assert webhook_delivery.webhooks_deliver_due(at=at) == 1
        assert webhook_delivery.webhooks_deliver_due(at=at) == 0  # not due again yet
        delivery.refresh_from_db()
        if delivery.next_attempt_at:
            waits.append(delivery.next_attempt_at - at)
            assert (
                webhook_delivery.webhooks_deliver_due(at=delivery.next_attempt_at - timedelta(1e-3))
                == 0
            )
            at = delivery.next_attempt_at
    assert waits == [timedelta(minutes=2**n) for n in range(webhooks.MAX_ATTEMPTS - 1)]
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.GAVE_UP, 8)
    assert (delivery.response_code, delivery.error) == (500, "HTTP 500")
    assert len(delivery.response_body) == 2048  # the first 2 KB of the answer
    assert [a.response_code for a in delivery.attempt_log.all()] == [500] * 8
    assert len(server.received) == 8
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures) == (True, 8)
    assert webhook_delivery.backoff(20) == webhooks.BACKOFF_CAP


def test_an_endpoint_that_hangs_times_out_and_is_retried(server):
    server.hang_seconds = 1.5
    _, delivery = delivery_for(server.url("/hang"))
    webhook_delivery.webhooks_deliver_due(at=AT)
    delivery.refresh_from_db()
    attempt = delivery.attempt_log.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert attempt.response_code is None
    assert "timed out" in attempt.error
    assert 400 <= attempt.duration_ms < 1500
    assert delivery.next_attempt_at == AT + timedelta(minutes=1)


def test_a_refused_connection_is_a_failed_attempt(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    _, delivery = delivery_for("http://127.0.0.1:9/nothing-listens")
    webhook_delivery.webhooks_deliver_due(at=AT)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.response_code is None
    assert delivery.error


def test_twenty_failures_in_a_row_disable_the_endpoint_and_tell_the_admins(
    server, settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    hook = endpoint(server.url("/fail"))
    customer = factories.customer()
    for _ in range(25):
        event("invoice.paid", customer=customer)
    webhooks.webhooks_fan_out(at=AT)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_delivery.webhooks_deliver_due(at=AT) == 20  # then the endpoint is off
    hook.refresh_from_db()
    assert not hook.active
    assert hook.disabled_at == AT
    assert "20 failures in a row" in hook.disabled_reason
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert hook.url in mail.outbox[0].subject
    assert hook.secret not in mail.outbox[0].subject + mail.outbox[0].body  # never mailed
    event("invoice.paid", customer=customer)
    webhooks.webhooks_fan_out(at=AT)  # a disabled endpoint gets no new deliveries
    assert hook.deliveries.count() == 25
    assert webhook_delivery.webhooks_deliver_due(at=AT + timedelta(days=1)) == 0
    webhooks.webhook_endpoint_enable(endpoint=hook, at=AT + timedelta(days=1))
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures, hook.disabled_reason) == (True, 0, "")
    server.received.clear()
    assert webhook_delivery.webhooks_deliver_due(at=AT + timedelta(days=1), limit=3) == 3


def test_giving_up_after_three_days_without_success_disables_the_endpoint(server, settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    hook, first = delivery_for(server.url("/fail"))

    def fail_until_given_up(delivery, at):
        while True:
            webhook_delivery.webhooks_deliver_due(at=at)
            delivery.refresh_from_db()
            if delivery.status == DeliveryStatus.GAVE_UP:
                return
            at = delivery.next_attempt_at

    fail_until_given_up(first, AT)
    hook.refresh_from_db()
    assert hook.active  # gave up, but failing for two hours only
    webhook_delivery.webhook_delivery_redeliver(delivery=first, at=AT + timedelta(hours=3))
    hook.refresh_from_db()
    assert hook.consecutive_failures == 9
    hook.consecutive_failures = 0  # as if some deliveries had succeeded in between …
    hook.save()
    event("invoice.paid")
    later = AT + timedelta(days=3)
    webhooks.webhooks_fan_out(at=later)
    second = hook.deliveries.exclude(pk=first.pk).get()
    fail_until_given_up(second, later)
    hook.refresh_from_db()
    assert not hook.active
    assert "no successful delivery since" in hook.disabled_reason


def test_redeliver_sends_again_now_whatever_the_state(server):
    hook, delivery = delivery_for(server.url("/fail"))
    webhook_delivery.webhooks_deliver_due(at=AT)
    hook.url = server.url("/ok")
    hook.save()
    later = AT + timedelta(seconds=10)  # before the scheduled retry
    delivery = webhook_delivery.webhook_delivery_redeliver(delivery=delivery, at=later)
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("succeeded", 2, later)
    delivery = webhook_delivery.webhook_delivery_redeliver(delivery=delivery, at=later)
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    assert [a.response_code for a in delivery.attempt_log.all()] == [500, 200, 200]
    assert webhook_delivery.webhooks_deliver_due(at=AT + timedelta(hours=1)) == 0
    hook.refresh_from_db()
    assert hook.consecutive_failures == 0


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends():
    _, delivery = delivery_for("https://example.com/x")
    delivery_claimed, attempt = webhook_delivery._claim_next(at=AT)
    assert delivery_claimed.pk == delivery.pk
    assert attempt.error == webhooks.SENDING
    assert webhook_delivery._claim_next(at=AT + timedelta(seconds=30)) is None
    with pytest.raises(DomainError) as error:
        webhook_delivery.webhook_delivery_redeliver(
            delivery=delivery, at=AT + timedelta(seconds=30)
        )
    assert error.value.code == "delivery_in_flight"
    again, second = webhook_delivery._claim_next(at=AT + webhooks.LEASE)  # the worker died
    assert again.attempts == 2
    assert DeliveryAttempt.objects.get(pk=attempt.pk).error == webhooks.ABANDONED
    assert second.error == webhooks.SENDING


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_send_a_delivery_twice(postgres_only, server):
    import threading

    from django.db import connection

    endpoint(server.url("/ok"))
    customer = factories.customer()
    for _ in range(30):
        event("invoice.paid", customer=customer)
    webhooks.webhooks_fan_out(at=AT)
    sent = []

    def worker():
        try:
            sent.append(webhook_delivery.webhooks_deliver_due(at=AT))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sent) == 30
    assert len(server.received) == 30
    assert len({r.headers["Webhook-Id"] for r in server.received}) == 30
    assert DeliveryAttempt.objects.count() == 30
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}
