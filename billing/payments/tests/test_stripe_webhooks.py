"""Stripe webhooks through dj-stripe's endpoint, signed as Stripe signs them, against the
local Stripe stub (dj-stripe re-fetches the objects from it): each event moves our payment
once through the real payment services; bad signatures and replays change nothing."""

import copy
import hashlib
import hmac
import itertools
import json
import re
import time
from decimal import Decimal

import pytest
from django.urls import reverse
from djstripe.models import Event, WebhookEndpoint, WebhookEventTrigger

from billing.models import BillingEvent, Gateway, InvoiceStatus, PaymentMethod
from billing.payments.services import payments
from billing.tests import factories
from billing.tests.payment_helpers import AT, card, open_invoice
from billing.tests.stripe_stub import fixture, stripe_stub_running

pytestmark = pytest.mark.django_db
SECRET = "whsec_test_0123456789abcdef"
SEPA = "pm_fakesepadebit00000001"
_event_ids = itertools.count(1)


@pytest.fixture
def stub(settings, monkeypatch):
    with stripe_stub_running(settings, monkeypatch, hang_seconds=1.0) as stub:
        Gateway.objects.filter(code="stripe").update(
            options={"timeout": 0.4, "max_network_retries": 0}
        )
        yield stub
    sent = " ".join(f"{r.path} {r.query} {r.body}" for r in stub.requests)
    assert not re.search(r"(?<!\d)\d{13,19}(?!\d)", sent), "a card number was sent to Stripe"


@pytest.fixture
def endpoint(settings):
    return WebhookEndpoint.objects.create(
        id="we_test_billing",
        url="https://billing.example.com/stripe/webhook/",
        enabled_events=["*"],
        secret=SECRET,
        status="enabled",
        livemode=False,
        api_version=settings.STRIPE_API_VERSION,
    )


@pytest.fixture
def deliver(client, endpoint, settings):
    """POST an event to dj-stripe's endpoint as Stripe does: JSON, Stripe-Signature."""
    url = reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint.djstripe_uuid})

    def post(event: dict, secret: str = SECRET):
        body = json.dumps(event)
        stamp = int(time.time())
        digest = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256)
        signature = f"t={stamp},v1={digest.hexdigest()}"
        return client.post(
            url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )

    return post


def event(kind: str, obj: dict, settings) -> dict:
    return {
        "id": f"evt_billing_test_{next(_event_ids)}",
        "object": "event",
        "api_version": settings.STRIPE_API_VERSION,
        "created": int(AT.timestamp()) + 3600,
        "data": {"object": copy.deepcopy(obj)},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def collect(stub, behaviour: str, *, method="tok_visa", currency="USD"):
    """An invoice charged through Stripe (the stub answering `behaviour`)."""
    customer = factories.customer(external_id=f"c-{behaviour}", currency=currency)
    card(customer, token=method, gateway="stripe")
    invoice = open_invoice(customer, "25.00")
    stub.script("POST /v1/payment_intents", behaviour)
    payment = payments.payment_collect(invoice=invoice, at=AT, source="api")
    return payment, stub.objects.get(payment.attempts.get().gateway_reference)


def settle(intent: dict, status: str, **fields) -> dict:
    """What Stripe does later on its side: the debit clears, or fails."""
    intent.update(status=status, **fields)
    if status == "succeeded":
        intent["amount_received"] = intent["amount"]
    return intent


def history(payment) -> list[str]:
    events = BillingEvent.objects.filter(subject_id=str(payment.pk)).order_by("pk")
    return list(events.values_list("kind", flat=True))


def test_a_sepa_debit_settles_by_webhook_once(stub, deliver, settings):
    payment, intent = collect(stub, "processing", method=SEPA, currency="EUR")
    assert payment.status == "pending"
    assert payment.attempts.get().status == "processing"
    succeeded = event("payment_intent.succeeded", settle(intent, "succeeded"), settings)

    response = deliver(succeeded)

    assert response.status_code == 200
    payment.refresh_from_db()
    payment.invoice.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.gateway_reference == intent["id"]
    assert payment.invoice.status == InvoiceStatus.PAID
    assert payment.invoice.amount_paid == Decimal("25.00")
    assert Event.objects.get().id == succeeded["id"]
    recorded = history(payment)
    assert recorded.count("payment.succeeded") == 1

    replay = deliver(succeeded)  # Stripe delivers the same event again

    assert replay.status_code == 200
    assert WebhookEventTrigger.objects.count() == 2
    assert Event.objects.count() == 1
    assert history(payment) == recorded
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.allocations.count() == 1


def test_a_failed_debit_fails_the_payment_and_starts_dunning(stub, deliver, settings):
    payment, intent = collect(stub, "processing", method=SEPA, currency="EUR")
    error = {"code": "card_declined", "decline_code": "insufficient_funds", "message": "No."}
    failed = settle(intent, "requires_payment_method", last_payment_error=error)

    assert deliver(event("payment_intent.payment_failed", failed, settings)).status_code == 200

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "insufficient_funds")
    assert payment.invoice.status == InvoiceStatus.OPEN
    assert "payment.failed" in history(payment)
    assert payment.invoice.dunning_cases.exists()


def test_three_d_secure_completed_by_the_customer_arrives_by_webhook(stub, deliver, settings):
    payment, intent = collect(stub, "requires_action")
    assert payment.status == "requires_action"
    assert payment.next_action["payment_intent"] == intent["id"]

    deliver(event("payment_intent.succeeded", settle(intent, "succeeded"), settings))

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.next_action == {}


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("payment_intent.succeeded", "succeeded", {"succeeded"}),
        ("payment_intent.requires_action", "requires_action", {"requires_action"}),
        ("payment_intent.processing", "processing", {"pending", "unknown"}),  # settles later
    ],
)
def test_a_lost_reply_is_found_by_the_idempotency_key_in_the_metadata(
    stub, deliver, settings, kind, status, expected
):
    payment, _ = collect(stub, "hang")
    attempt = payment.attempts.get()
    assert payment.status == "unknown"
    assert attempt.gateway_reference == ""
    [intent] = [o for o in stub.objects.values() if o["object"] == "payment_intent"]
    assert intent["metadata"]["idempotency_key"] == attempt.idempotency_key

    assert deliver(event(kind, settle(intent, status), settings)).status_code == 200

    payment.refresh_from_db()
    attempt.refresh_from_db()
    assert payment.status in expected
    assert (attempt.gateway_reference, attempt.status) == (intent["id"], status)


def test_a_bad_signature_is_refused_and_changes_nothing(stub, deliver, settings):
    payment, intent = collect(stub, "processing", method=SEPA, currency="EUR")
    succeeded = event("payment_intent.succeeded", settle(intent, "succeeded"), settings)

    response = deliver(succeeded, secret="whsec_forged")

    assert response.status_code == 400
    assert not Event.objects.exists()
    assert not WebhookEventTrigger.objects.get().valid
    payment.refresh_from_db()
    assert payment.status == "pending"


def test_a_charge_that_is_not_ours_is_acknowledged_and_ignored(stub, deliver, settings):
    _, intent = collect(stub, "succeeded")
    stranger = {**intent, "id": "pi_someone_else", "metadata": {}}
    stub.add(stranger)
    before = BillingEvent.objects.count()

    response = deliver(event("payment_intent.succeeded", stranger, settings))

    assert response.status_code == 200
    assert Event.objects.count() == 1
    assert BillingEvent.objects.count() == before


def test_an_early_fraud_warning_rates_the_card_highest(stub, deliver, client, settings):
    payment, intent = collect(stub, "succeeded")
    warning = fixture("early_fraud_warning_issfr_fakefakefakefake0001")
    warning.update(charge=intent["latest_charge"], payment_intent=intent["id"])
    fraud = event("radar.early_fraud_warning.created", warning, settings)
    stub.script(f"GET /v1/charges/{intent['latest_charge']}", "server_error")
    client.raise_request_exception = False

    failed = deliver(fraud)  # we could not ask Stripe: 500, Stripe will deliver it again

    assert failed.status_code == 500
    assert not Event.objects.exists()
    assert deliver(fraud).status_code == 200
    method = PaymentMethod.objects.get(pk=payment.method_id)
    assert method.risk_level == "highest"
    assert BillingEvent.objects.filter(kind="payment_method.risk_reported").count() == 1


def refunds_of(payment) -> list[tuple]:
    return list(payment.refunds.order_by("pk").values_list("amount", "status", "reason"))


def test_a_refund_made_in_stripes_dashboard_is_recorded_once(stub, deliver, settings):
    payment, intent = collect(stub, "succeeded")
    ours = payments.Payment.objects.get(pk=payment.pk)
    from billing.payments.services.refunds import payment_refund

    own = payment_refund(payment=ours, at=AT, amount=Decimal("5.00"), reason="goodwill")
    dashboard = stub.add(
        {
            **stub.objects[own.gateway_reference],
            "id": "re_dashboard_one",
            "amount": 1000,
            "metadata": {},
        }
    )
    assert deliver(event("refund.created", dashboard, settings)).status_code == 200
    assert deliver(event("refund.updated", dashboard, settings)).status_code == 200  # again
    mine = stub.objects[own.gateway_reference]
    assert deliver(event("refund.updated", mine, settings)).status_code == 200  # ours: known

    payment.refresh_from_db()
    assert refunds_of(payment) == [
        (Decimal("5.00"), "succeeded", "goodwill"),
        (Decimal("10.00"), "succeeded", "Refunded at the gateway"),
    ]
    assert (payment.amount_refunded, payment.status) == (Decimal("15.00"), "partially_refunded")
    assert history(payment).count("payment.refunded") == 2


def test_a_dispute_is_logged_mailed_and_when_lost_refunds_the_payment(
    stub, deliver, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    payment, intent = collect(stub, "succeeded")
    dispute = fixture("dispute_dp_fakefakefakefake01")
    dispute.update(
        id="dp_billing_test", payment_intent=intent["id"], charge=intent["latest_charge"]
    )
    dispute.update(amount=2500, currency="usd", status="needs_response")
    stub.add(dispute)

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(event("charge.dispute.created", dispute, settings)).status_code == 200
        assert deliver(event("charge.dispute.updated", dispute, settings)).status_code == 200
    assert [m.subject for m in mailoutbox] == [
        f"[Django] Payment #{payment.pk} disputed: 25.00 USD"
    ]
    dispute["status"] = "lost"
    assert deliver(event("charge.dispute.closed", dispute, settings)).status_code == 200
    assert deliver(event("charge.dispute.closed", dispute, settings)).status_code == 200

    payment.refresh_from_db()
    assert [k for k in history(payment) if "dispute" in k] == [
        "payment.dispute_opened",
        "payment.dispute_updated",
        "payment.dispute_lost",
    ]
    assert refunds_of(payment) == [(Decimal("25.00"), "succeeded", "Dispute lost (fraudulent)")]
    assert payment.status == "refunded"


def test_our_refund_confirmed_by_webhook_before_its_reply_is_recorded_once(stub, deliver, settings):
    from billing.payments.services.refunds import _refund_open, payment_refund_reported

    payment, intent = collect(stub, "succeeded")
    pending = _refund_open(
        payment=payment, amount=Decimal("25.00"), reason="late reply", at=AT, credit_note=None
    )  # the refund call is out; Stripe's webhook comes first
    stripe_refund = stub.add(
        {
            **fixture("refund_re_fakefakefakefakefake0001"),
            "id": "re_webhook_first",
            "amount": 2500,
            "currency": "usd",
            "payment_intent": intent["id"],
            "status": "succeeded",
            "metadata": {"idempotency_key": pending.idempotency_key},
        }
    )
    assert deliver(event("refund.created", stripe_refund, settings)).status_code == 200
    late = payment_refund_reported(  # the reply, recorded after: nothing more happens
        payment_reference=intent["id"],
        refund_reference="re_webhook_first",
        amount=Decimal("25.00"),
        status="succeeded",
        idempotency_key=pending.idempotency_key,
        at=AT,
    )
    payment.refresh_from_db()
    assert late.pk == pending.pk
    assert refunds_of(payment) == [(Decimal("25.00"), "succeeded", "late reply")]
    assert (payment.amount_refunded, payment.status) == (Decimal("25.00"), "refunded")
