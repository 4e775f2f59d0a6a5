"""Outbound requests from provisioning (api/outbound.py): webhook endpoint URLs and
`call_http` step URLs are refused when saved (service, API, admin, workflow validation) and
again when called (a row saved before the check fails with a recorded error, no request);
DNS rebinding between save and delivery; redirects are answers; answers are kept short.
A fake resolver answers every name: no DNS, no internet."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from api.errors import DomainError
from api.tests.outbound_fakes import PUBLIC_V4, REFUSED, install, local_server
from billing.models import BillingEvent
from billing.tests import factories
from provisioning.models import FulfillmentStep, OrderKind, WebhookDelivery, WebhookEndpoint
from provisioning.models import Workflow as WorkflowRow
from provisioning.services import orders, webhook_delivery, webhooks
from provisioning.services.workflows import workflow_for, workflow_validate

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
HTTP_REFUSED = [url for url in REFUSED if url.startswith("http")]


@pytest.fixture
def net(monkeypatch, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    return install(monkeypatch)


@pytest.fixture
def server():
    state = local_server()
    yield state
    state.close()


def _event():
    customer = factories.customer(external_id=f"c{BillingEvent.objects.count()}")
    return BillingEvent.objects.create(
        kind="invoice.paid",
        occurred_at=AT,
        customer=customer,
        subject_type="customers.customer",
        subject_id=str(customer.pk),
    )


def _delivered(url: str, *, saved_unchecked: bool):
    """An endpoint for `url` (written straight to the table, as before this check existed,
    or through the service), one event fanned out to it and delivered."""
    webhooks.webhooks_fan_out(at=AT)  # the fan-out cursor exists: later events are read
    if saved_unchecked:
        hook = WebhookEndpoint.objects.create(url=url, secret="whsec_x", created_at=AT)
    else:
        hook = webhooks.webhook_endpoint_create(url=url, events=[], at=AT)[0]
    _event()
    webhooks.webhooks_fan_out(at=AT)
    assert webhook_delivery.webhooks_deliver_due(at=AT) == 1
    return WebhookDelivery.objects.get(endpoint=hook)


# Webhook endpoints: saved
@pytest.mark.parametrize("url", REFUSED)
def test_a_refused_url_is_not_saved_as_an_endpoint(net, url):
    with pytest.raises(DomainError) as error:
        webhooks.webhook_endpoint_create(url=url, events=[], at=AT)
    expected = "url_not_allowed" if url.startswith("http") else "invalid_url"
    assert (error.value.code, error.value.field) == (expected, "url")
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_cannot_be_changed_to_a_private_url(net):
    hook = webhooks.webhook_endpoint_create(url="https://public.example.test/h", events=[], at=AT)[
        0
    ]
    with pytest.raises(DomainError) as error:
        webhooks.webhook_endpoint_update(
            endpoint=hook, url="http://metadata.example.test/latest/meta-data/", at=AT
        )
    assert error.value.code == "url_not_allowed"
    hook.refresh_from_db()
    assert hook.url == "https://public.example.test/h"


def test_the_api_refuses_the_metadata_address_in_the_error_format(net, api):
    response = api.post(
        "/api/v1/webhook-endpoints/",
        {"url": "http://169.254.169.254/latest/meta-data/", "events": []},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["field"]) == (
        "invalid_request",
        "url_not_allowed",
        "url",
    )
    assert "link-local" in error["message"]
    assert not WebhookEndpoint.objects.exists()
    made = api.post(
        "/api/v1/webhook-endpoints/", {"url": "https://public.example.test/h"}, format="json"
    )
    assert made.status_code == 201
    changed = api.patch(
        f"/api/v1/webhook-endpoints/{made.json()['id']}/",
        {"url": "http://[::1]:5432/"},
        format="json",
    )
    assert (changed.status_code, changed.json()["error"]["code"]) == (400, "url_not_allowed")
    assert WebhookEndpoint.objects.get().url == "https://public.example.test/h"


def test_the_admin_refuses_a_private_url_on_the_form(net, admin_client):
    response = admin_client.post(
        "/admin/provisioning/webhookendpoint/add/",
        {"url": "http://127.0.0.1:5432/", "events_text": ""},
    )
    assert response.status_code == 200
    assert "loopback" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


# Webhook endpoints: delivered
@pytest.mark.parametrize("url", HTTP_REFUSED)
def test_an_endpoint_saved_before_the_check_fails_at_delivery_without_a_request(net, url):
    delivery = _delivered(url, saved_unchecked=True)
    attempt = delivery.attempt_log.get()
    assert delivery.status == "failed"
    assert (delivery.response_code, attempt.response_code) == (None, None)
    assert attempt.error.startswith("url_not_allowed: ")
    assert "Nothing was sent" in attempt.error
    assert net[1].made == []


def test_a_private_endpoint_is_never_posted_to_even_when_a_server_listens(net, server):
    delivery = _delivered(server.url("/ok"), saved_unchecked=True)
    assert "loopback" in delivery.error
    assert server.seen == []


def test_a_name_rebound_to_a_private_address_after_saving_is_refused_at_delivery(net, server):
    dns, connections = net
    dns.set("rebind.example.test", [PUBLIC_V4], ["127.0.0.1"])
    delivery = _delivered(f"http://rebind.example.test:{server.port}/ok", saved_unchecked=False)
    assert "resolves to 127.0.0.1, which is a loopback address" in delivery.error
    assert connections.made == []
    assert server.seen == []


def test_a_redirect_is_recorded_as_the_answer_and_not_followed(net, server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    delivery = _delivered(server.url("/redirect"), saved_unchecked=False)
    assert (delivery.status, delivery.response_code) == ("failed", 302)
    assert "redirects are not followed" in delivery.error
    assert "169.254.169.254" in delivery.error  # where it pointed, for the operator
    assert len(server.seen) == 1
    assert net[1].made == [("127.0.0.1", server.port)]


def test_an_allowed_private_host_gets_its_delivery_and_the_answer_is_kept_short(
    net, server, settings
):
    dns, _ = net
    dns.set("crm.internal", ["127.0.0.1"])
    settings.OUTBOUND_ALLOWED_HOSTS = ["crm.internal"]
    delivery = _delivered(f"http://crm.internal:{server.port}/big", saved_unchecked=False)
    assert (delivery.status, delivery.response_code) == ("succeeded", 200)
    assert len(delivery.response_body) == webhooks.MAX_BODY == 2048
    assert server.seen[0].headers["Host"] == f"crm.internal:{server.port}"


# Provisioning steps (call_http)
def _http_step(config: dict):
    steps = [
        {"key": "hook", "type": "call_http", "config": config},
        {"key": "approve", "type": "manual_approval", "depends_on": ["hook"]},
    ]
    WorkflowRow.objects.update_or_create(  # as saved before the check (no validation)
        product=None, kind=OrderKind.ACTIVATE, defaults={"steps": steps}
    )
    customer = factories.customer(external_id=f"c{FulfillmentStep.objects.count()}")
    order = orders.order_create(customer=customer, kind=OrderKind.ACTIVATE, at=AT)
    orders.order_run(order=order, at=AT)
    return order, FulfillmentStep.objects.get(order=order, key="hook")


@pytest.mark.parametrize("name", ["url", "health_url", "undo_url"])
@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://0x7f.1/", "http://ula.example.test/"],
)
def test_a_workflow_with_a_private_step_url_is_not_saved(net, name, url):
    config = {"url": "https://public.example.test/p", name: url}
    with pytest.raises(ValidationError) as error:
        workflow_validate([{"key": "hook", "type": "call_http", "config": config}])
    assert error.value.code == "url_not_allowed"
    assert f"hook: config.{name}: " in error.value.messages[0]
    steps = [
        {"key": "hook", "type": "call_http", "config": {"url": "https://public.example.test/p"}}
    ]
    assert workflow_validate(steps)


def test_a_stored_private_step_url_fails_the_step_with_a_recorded_error(net):
    order, step = _http_step({"url": "http://169.254.169.254/latest/meta-data/"})
    assert step.status == "failed"
    assert step.last_error.startswith("OutboundRefused: 169.254.169.254 is a link-local")
    assert net[1].made == []
    assert workflow_for(kind=OrderKind.ACTIVATE)  # reading the workflow itself still works


def test_a_private_health_url_fails_the_step_rather_than_waiting(net, server):
    order, step = _http_step({"url": "https://public.example.test/p", "health_url": server.url()})
    assert step.status == "failed"
    assert "loopback" in step.last_error
    assert server.seen == []


def test_a_private_undo_url_is_not_called_when_undoing(net, server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    order, step = _http_step({"url": server.url("/ok"), "undo_url": "http://[::1]:9/undo"})
    assert step.status == "succeeded"
    order = orders.order_abandon(order=order, at=AT + timedelta(minutes=1), actor="ops")
    assert "Undo of hook" in order.error
    assert "loopback" in order.error
    assert [seen.path for seen in server.seen] == ["/ok"]


def test_a_step_keeps_500_characters_of_the_answer_and_redirects_fail_it(net, server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    _, step = _http_step({"url": server.url("/big")})
    assert step.status == "succeeded"
    assert step.result["response"] == "x" * 500
    _, step = _http_step({"url": server.url("/redirect")})
    assert step.status == "failed"
    assert "answered 302" in step.last_error
    assert [seen.path for seen in server.seen] == ["/big", "/redirect"]
