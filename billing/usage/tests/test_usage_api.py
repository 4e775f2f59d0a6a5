"""Usage API through a real DRF client: a subscription's usage, GET
/subscriptions/{id}/usage/, priced per charge model. The clock is frozen (the views read it)
at NOW."""

import pytest
import time_machine

from billing.tests import factories
from billing.usage.tests.usage_api_helpers import (
    BATCH,
    NOW,
    START,
    charges,
    event,
    metrics_create,
    post,
    subscription_create,
)
from catalog.models import BillableMetric

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def metrics(db) -> dict[str, BillableMetric]:
    return metrics_create()


@pytest.fixture
def sub(metrics):
    return subscription_create(metrics)


# --- GET /subscriptions/{id}/usage/ ----------------------------------------------------


def usage_events() -> list[dict]:
    return [
        *(event(f"call-{i}") for i in range(7)),
        event("tok-1", "tokens", properties={"tokens": 200}),
        event("tok-2", "tokens", properties={"tokens": "50.5"}),
        event("gb-1", "peak", properties={"gb": 12.5}),
        event("gb-2", "peak", properties={"gb": 3}),
        *(event(f"user-{i}", "users", properties={"user": f"u{i % 8}"}) for i in range(11)),
        event("pay-1", "payments", properties={"amount": "100"}),
        event("pay-2", "payments", properties={"amount": "33.33"}),
        event("seat-1", "seats", properties={"seats": 4}),  # a metric without a charge
    ]


def test_usage_per_charge_model_in_usd(api, sub):
    response = post(api, BATCH, {"events": usage_events()})
    assert response.json()["created"] == 25, response.json()

    usage = api.get(f"/api/v1/subscriptions/{sub.pk}/usage/")
    assert usage.status_code == 200
    body = usage.json()
    assert body == {
        "period_start": "2027-01-15T00:00:00Z",
        "period_end": "2027-02-15T00:00:00Z",
        "currency": "USD",
        "charges": [
            # 7 × 0.05
            {"metric": "calls", "model": "standard", "value": "7", "amount": "0.35"},
            # 100 × 0.01 + 150.5 × 0.005 + 1 = 2.7525
            {"metric": "tokens", "model": "graduated", "value": "250.5", "amount": "2.75"},
            # the whole 12.5 in the second tier: 12.5 × 1.5 + 3
            {"metric": "peak", "model": "volume", "value": "12.5", "amount": "21.75"},
            # 8 users, 2 free, 6 → 2 packages of 5 × 10
            {"metric": "users", "model": "package", "value": "8", "amount": "20.00"},
            # (100 × 1.5% + 0.10) + (33.33 × 1.5% + 0.10) = 1.6 + 0.59995
            {"metric": "payments", "model": "percentage", "value": "133.33", "amount": "2.20"},
        ],
        "metrics": [
            {"metric": "calls", "aggregation": "count", "value": "7"},
            {"metric": "payments", "aggregation": "sum", "value": "133.33"},
            {"metric": "peak", "aggregation": "max", "value": "12.5"},
            {"metric": "seats", "aggregation": "latest", "value": "4"},
            {"metric": "tokens", "aggregation": "sum", "value": "250.5"},
            {"metric": "users", "aggregation": "unique_count", "value": "8"},
        ],
        "total": "47.05",
    }
    assert api.get("/api/v1/subscriptions/sub-1/usage/").json() == body


def test_usage_without_events_is_zero(api, sub):
    body = api.get("/api/v1/subscriptions/sub-1/usage/").json()
    assert [(c["value"], c["amount"]) for c in body["charges"]] == [("0", "0.00")] * 5
    assert (body["metrics"], body["total"]) == ([], "0.00")


def test_usage_of_unknown_subscription_is_404(api, sub):
    response = api.get("/api/v1/subscriptions/nope/usage/")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_usage_in_jpy_has_no_decimals(api, metrics):
    customer = factories.customer("tanaka", currency="JPY", timezone="Asia/Tokyo")
    plan = factories.plan(
        "pro-jp",
        "3000",
        currency="JPY",
        charges=charges(
            metrics,
            standard={"unit_amount": "1.5"},
            graduated={
                "tiers": [
                    {"up_to": 100, "unit_amount": "0.3"},
                    {"up_to": None, "unit_amount": "0.25", "flat_amount": "10"},
                ]
            },
            volume={
                "tiers": [
                    {"up_to": 10, "unit_amount": "200"},
                    {"up_to": None, "unit_amount": "150", "flat_amount": "300"},
                ]
            },
            package={"package_size": 5, "amount": "1000", "free_units": 2},
            percentage={"rate": "3.6", "fixed_amount": "10", "per_event_min": "12"},
        ),
    )
    sub = factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")
    response = post(api, BATCH, {"events": usage_events()})
    assert response.json()["created"] == 25, response.json()
    body = api.get("/api/v1/subscriptions/sub-1/usage/").json()
    # Asia/Tokyo: the period runs from local midnight (15:00Z the day before).
    assert (body["period_start"], body["period_end"], body["currency"]) == (
        "2027-01-14T15:00:00Z",
        "2027-02-14T15:00:00Z",
        "JPY",
    )
    assert [(c["metric"], c["value"], c["amount"]) for c in body["charges"]] == [
        ("calls", "7", "11"),  # 7 × 1.5 = 10.5, half up
        ("tokens", "250.5", "78"),  # 100 × 0.3 + 150.5 × 0.25 + 10 = 77.625
        ("peak", "12.5", "2175"),  # 12.5 × 150 + 300
        ("users", "8", "2000"),  # 2 packages
        ("payments", "133.33", "26"),  # 100 → 13.6; 33.33 → 11.19988, raised to 12
    ]
    assert body["total"] == "4290"  # the sum of the rounded amounts
    assert sub.currency == "JPY"


# --- Bugs found while writing these tests, fixed ------------------------------------------


def test_usage_in_a_trial_is_priced_at_zero(api, metrics):
    plan = factories.plan("trial", "30.00", trial_days=14, charges=charges(metrics))
    factories.subscription(customer=factories.customer(), plan=plan, at=START, external_id="sub-1")
    post(api, BATCH, {"events": [event(f"c{i}") for i in range(10)]})
    body = api.get("/api/v1/subscriptions/sub-1/usage/").json()
    assert (body["period_start"], body["period_end"]) == (
        "2027-01-15T00:00:00Z",
        "2027-01-29T00:00:00Z",
    )
    assert body["metrics"] == [{"metric": "calls", "aggregation": "count", "value": "10"}]
    assert body["charges"][0]["value"] == "10"
    assert [c["amount"] for c in body["charges"]] == ["0.00"] * 5
    assert body["total"] == "0.00"
