"""The webhooks API: the secret shown once, validation as 400 contract bodies, enable /
disable / rotate, deliveries with their attempts, redeliver."""

import pytest
from django.contrib import admin
from django.urls import include, path
from django.utils import timezone

import provisioning.admin_webhooks  # noqa: F401 - registers the webhooks admin
from billing.models import BillingEvent
from billing.tests import factories
from provisioning.models import WebhookDelivery, WebhookEndpoint
from provisioning.services import webhook_delivery, webhooks
from provisioning.tests.webhook_server import start_server

# Served here until config/urls.py includes provisioning.api.webhooks_urls (then the same).
urlpatterns = [
    path("api/v1/", include("provisioning.api.webhooks_urls")),
    path("admin/", admin.site.urls),
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
BASE = "/api/v1/webhook-endpoints/"


@pytest.fixture
def server(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # the stub server (private otherwise)
    state = start_server()
    yield state
    state.server.shutdown()
    state.server.server_close()


def create(api, **body):
    return api.post(BASE, {"url": "https://example.com/hooks", **body}, format="json")


def test_create_shows_the_secret_once(api):
    response = create(api, events=["invoice.*", "payment.failed"], description="CRM")
    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["invoice.*", "payment.failed"]
    assert (body["active"], body["description"]) == (True, "CRM")
    assert WebhookEndpoint.objects.get().secret == body["secret"]
    shown = api.get(f"{BASE}{body['id']}/").json()
    assert "secret" not in shown
    assert shown["url"] == "https://example.com/hooks"
    listed = api.get(BASE).json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert "secret" not in listed["results"][0]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"url": "ftp://example.com/x"}, "url", "invalid_url"),
        ({"url": "not a url"}, "url", "invalid_url"),
        ({"url": "https://example.com", "events": ["no spaces"]}, "events", "invalid_events"),
        ({"url": "https://example.com", "events": "invoice.paid"}, "events", "not_a_list"),
        ({"url": "https://example.com", "secret": "mine"}, "secret", "unknown_field"),
        ({}, "url", "required"),
        ({"url": ["https://example.com"]}, "url", "invalid"),
    ],
)
def test_invalid_requests_are_400_with_the_contract_body(api, body, field, code):
    response = api.post(BASE, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["field"], error["code"]) == ("invalid_request", field, code)


def test_a_body_that_is_not_an_object_is_400(api):
    assert api.post(BASE, ["x"], format="json").status_code == 400
    assert api.post(BASE, "x", content_type="application/json").status_code == 400


def test_disable_enable_rotate_and_update(api):
    endpoint = create(api).json()
    url = f"{BASE}{endpoint['id']}/"
    disabled = api.post(f"{url}disable/").json()
    assert (disabled["active"], disabled["disabled_reason"]) == (False, "Disabled by an operator.")
    assert api.post(f"{url}enable/").json()["active"] is True
    rotated = api.post(f"{url}rotate-secret/").json()
    assert rotated["secret"] != endpoint["secret"]
    assert rotated["secret"].startswith("whsec_")
    changed = api.patch(url, {"events": ["subscription.*"]}, format="json")
    assert changed.status_code == 200
    assert changed.json()["events"] == ["subscription.*"]
    assert api.patch(url, {"url": "gopher://x"}, format="json").status_code == 400
    assert api.get(f"{BASE}999999/").status_code == 404
    assert api.post(f"{BASE}abc/disable/").status_code == 404
    assert api.delete(url).status_code == 405


def test_deliveries_are_listed_with_attempts_and_can_be_redelivered(api, server):
    endpoint = create(api, url=server.url("/fail")).json()
    customer = factories.customer()
    BillingEvent.objects.create(
        kind="invoice.paid",
        occurred_at=WebhookEndpoint.objects.get().created_at,
        customer=customer,
        subject_type="customers.customer",
        subject_id=str(customer.pk),
    )
    webhooks.webhooks_fan_out(at=timezone.now())
    webhook_delivery.webhooks_deliver_due(at=timezone.now())
    listed = api.get(f"{BASE}{endpoint['id']}/deliveries/").json()
    [delivery] = listed["results"]
    assert listed["next_cursor"] is None
    assert (delivery["status"], delivery["event_type"], delivery["response_code"]) == (
        "failed",
        "invoice.paid",
        500,
    )
    assert [a["response_code"] for a in delivery["attempt_log"]] == [500]
    assert api.get(f"{BASE}{endpoint['id']}/deliveries/?status=succeeded").json()["results"] == []
    assert api.get(f"{BASE}{endpoint['id']}/deliveries/?status=bogus").status_code == 400
    WebhookEndpoint.objects.update(url=server.url("/ok"))
    again = api.post(f"/api/v1/webhook-deliveries/{delivery['id']}/redeliver/")
    assert again.status_code == 200
    assert (again.json()["status"], again.json()["attempts"]) == ("succeeded", 2)
    assert [a["response_code"] for a in again.json()["attempt_log"]] == [500, 200]
    assert WebhookDelivery.objects.get().status == "succeeded"
    assert (
        api.get("/api/v1/webhook-deliveries/?status=succeeded").json()["results"][0]["id"]
        == (delivery["id"])
    )
    assert api.post("/api/v1/webhook-deliveries/424242/redeliver/").status_code == 404


def test_reading_needs_read_and_changing_needs_write(read_only_api, api):
    endpoint = create(api).json()
    assert read_only_api.get(BASE).status_code == 200
    assert read_only_api.post(f"{BASE}{endpoint['id']}/rotate-secret/").status_code == 403
    assert create(read_only_api).status_code == 403


def test_an_idempotent_create_returns_the_same_endpoint(api):
    first = api.post(BASE, {"url": "https://e.example"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post(BASE, {"url": "https://e.example"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json() == again.json()
    assert WebhookEndpoint.objects.count() == 1


def test_the_admin_makes_endpoints_shows_the_secret_once_and_redelivers(admin_client, server):
    response = admin_client.post(
        "/admin/provisioning/webhookendpoint/add/",
        {"url": server.url("/ok"), "description": "CRM", "events_text": "invoice.*, payment.*"},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["invoice.*", "payment.*"]
    assert endpoint.secret in response.content.decode()  # the message, once
    page = admin_client.get(f"/admin/provisioning/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint.secret not in page.content.decode()
    refused = admin_client.post(
        "/admin/provisioning/webhookendpoint/add/", {"url": "ftp://x.example", "events_text": ""}
    )
    assert refused.status_code == 200
    assert "http:// or https://" in refused.content.decode()
    customer = factories.customer()
    BillingEvent.objects.create(
        kind="invoice.paid",
        occurred_at=timezone.now(),
        customer=customer,
        subject_type="customers.customer",
        subject_id=str(customer.pk),
    )
    webhooks.webhooks_fan_out(at=timezone.now())
    delivery = WebhookDelivery.objects.get()
    response = admin_client.post(
        "/admin/provisioning/webhookdelivery/",
        {"action": "redeliver_selected", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert "succeeded (200)" in response.content.decode()
    page = admin_client.get(f"/admin/provisioning/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    response = admin_client.post(
        "/admin/provisioning/webhookendpoint/",
        {"action": "disable_selected", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    assert not endpoint.active
