"""API.md § Provisioning over HTTP (and the Subscriptions sentence on access): entitlements,
the access check right after a call returns, orders, webhook endpoints."""

from datetime import UTC, datetime, timedelta

import pytest

from api.tests.contract import helpers as h


@pytest.fixture
def catalog(api):
    h.metric(api, "calls")
    h.feature(api, "sso")
    h.feature(api, "audit_log")
    h.feature(api, "calls_quota", "quota", "calls")
    charges = [{"metric": "calls", "model": "standard", "properties": {"unit_amount": "0"}}]
    h.plan(
        api,
        "basic",
        amount="10.00",
        charges=charges,
        entitlements=[{"feature": "sso", "value": True}, {"feature": "calls_quota", "value": 100}],
    )
    h.plan(
        api,
        "pro",
        amount="50.00",
        charges=charges,
        entitlements=[
            {"feature": "sso", "value": True},
            {"feature": "audit_log", "value": True},
            {"feature": "calls_quota", "value": None},
        ],
    )
    h.customer(api, "acme")


def check(api, feature: str, quantity: int = 1) -> dict:
    body = {"customer": "acme", "feature": feature, "quantity": quantity}
    return api.ok("POST", "access/check", body)


def test_entitlements_give_each_feature_its_value_usage_and_remaining(api, catalog):
    """ "`GET /customers/{id}/entitlements/` → each feature with its value, usage and
    remaining"."""
    start = datetime.now(UTC) - timedelta(hours=1)
    h.subscribe(api, "acme", "basic", external_id="s1", start_at=h.iso(start))
    h.batch(api, "s1", [("calls", h.iso(start + timedelta(seconds=n)), {}) for n in range(30)])
    body = api.ok("GET", "customers/acme/entitlements/")
    rows = {row["feature"]: row for row in body["results"]}
    assert set(rows) == {"sso", "calls_quota"}
    assert (rows["sso"]["enabled"], rows["sso"]["value"]) == (True, True)
    quota = rows["calls_quota"]
    assert (quota["value"], quota["usage"], quota["remaining"]) == (100, "30", "70")
    assert quota["limit"] == 100
    customer_id = api.ok("GET", "customers/acme/")["id"]
    by_id = api.ok("GET", f"customers/{customer_id}/entitlements/")
    assert by_id["results"] == body["results"]


def test_access_check_answers_for_a_new_subscription_as_soon_as_it_is_created(api, catalog):
    """ "When the API call that creates or changes a subscription returns, its entitlements
    already answer `/access/check` accordingly" and "`POST /access/check` `{api_key |
    customer, feature, quantity: 1}` → `{allowed, reason, limit, used, remaining}`"."""
    assert check(api, "sso")["allowed"] is False
    sub = h.subscribe(api, "acme", "basic")
    answer = check(api, "sso")
    assert set(answer) >= {"allowed", "reason", "limit", "used", "remaining"}
    assert (answer["allowed"], answer["reason"]) == (True, "ok")
    denied = check(api, "audit_log")
    assert (denied["allowed"], denied["reason"]) == (False, "not_entitled")
    quota = check(api, "calls_quota", 101)
    assert (quota["allowed"], quota["limit"]) == (False, 100)
    assert check(api, "calls_quota", 100)["allowed"] is True

    api.ok("POST", f"subscriptions/{sub['id']}/change/", {"plan": "pro"})
    assert check(api, "audit_log")["allowed"] is True
    unlimited = check(api, "calls_quota", 10_000)
    assert (unlimited["allowed"], unlimited["limit"]) == (True, None)

    api.ok("POST", f"subscriptions/{sub['id']}/change/", {"plan": "basic"})
    assert check(api, "audit_log")["allowed"] is False


def test_access_check_follows_pause_and_resume(api, catalog):
    """ "When the API call that creates or changes a subscription returns, its entitlements
    already answer `/access/check` accordingly" — pause and resume too (issue 13 §5)."""
    sub = h.subscribe(api, "acme", "basic")
    api.ok("POST", f"subscriptions/{sub['id']}/pause/")
    assert check(api, "sso")["allowed"] is False
    api.ok("POST", f"subscriptions/{sub['id']}/resume/")
    assert check(api, "sso")["allowed"] is True


def test_orders_with_their_fulfillment_steps(api, catalog, worker):
    """ "`GET /orders/`, `GET /orders/{id}/` with fulfillment steps and their states"."""
    h.subscribe(api, "acme", "basic")
    orders = h.wait_for(
        lambda: [
            o
            for o in api.ok("GET", "orders/", customer="acme")["results"]
            if o["status"] == "completed"
        ],
        what="the activation order",
    )
    order = api.ok("GET", f"orders/{orders[0]['id']}/")
    assert order["customer"] == "acme"
    assert order["steps"]
    assert {step["status"] for step in order["steps"]} <= {"succeeded", "completed", "skipped"}
    assert all({"key", "type", "status"} <= set(step) for step in order["steps"])


def test_a_webhook_endpoint_secret_is_shown_once(api):
    """ "`POST /webhook-endpoints/` `{url, events: [...]}` → the signing secret, shown once"."""
    body = {"url": "https://example.com/hooks", "events": ["invoice.paid"]}
    made = api.ok("POST", "webhook-endpoints/", body, 201)
    assert made["secret"]
    assert (made["url"], made["events"]) == (body["url"], body["events"])
    again = api.ok("GET", f"webhook-endpoints/{made['id']}/")
    assert "secret" not in again
    listed = api.ok("GET", "webhook-endpoints/")["results"]
    assert all("secret" not in row for row in listed)


def test_access_check_by_the_customer_service_key(api, catalog):
    """ "`POST /access/check` `{api_key | customer, feature, quantity: 1}`": the key the
    customer's own product presents names the customer."""
    h.subscribe(api, "acme", "basic")
    made = api.ok("POST", "customers/acme/service-keys/", {"name": "prod", "scopes": ["read"]}, 201)
    by_key = api.ok("POST", "access/check", {"api_key": made["key"], "feature": "sso"})
    assert (by_key["allowed"], by_key["reason"]) == (True, "ok")
    unknown = api.ok("POST", "access/check", {"api_key": "nope-" + "x" * 30, "feature": "sso"})
    assert (unknown["allowed"], unknown["reason"]) == (False, "invalid_api_key")
