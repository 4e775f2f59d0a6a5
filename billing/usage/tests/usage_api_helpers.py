"""Shared by the usage API tests (test_usage_api*.py): the frozen clock's NOW, the metrics, a
plan with one charge per pricing model, and request helpers."""

import json
from datetime import UTC, datetime

from billing.models import UsageAggregate
from billing.tests import factories
from catalog.models import BillableMetric
from catalog.tests.factories import metric as metric_create

START = datetime(2027, 1, 15, tzinfo=UTC)
NOW = datetime(2027, 1, 20, 12, tzinfo=UTC)
EVENTS = "/api/v1/events/"
BATCH = "/api/v1/events/batch/"
ALERTS = "/api/v1/usage-alerts/"
ERROR_KEYS = {"type", "code", "message", "field"}


def metrics_create() -> dict[str, BillableMetric]:
    """The `metrics` fixture of these modules."""
    return {
        "calls": metric_create("calls", "count"),
        "tokens": metric_create("tokens", "sum", "tokens"),
        "peak": metric_create("peak", "max", "gb"),
        "users": metric_create("users", "unique_count", "user"),
        "payments": metric_create("payments", "sum", "amount"),
        "seats": metric_create("seats", "latest", "seats"),
    }


def charges(metrics, **properties) -> list[dict]:
    """One charge per pricing model (properties may be replaced by model name)."""
    default = {
        "standard": {"unit_amount": "0.05"},
        "graduated": {
            "tiers": [
                {"up_to": 100, "unit_amount": "0.01"},
                {"up_to": None, "unit_amount": "0.005", "flat_amount": "1"},
            ]
        },
        "volume": {
            "tiers": [
                {"up_to": 10, "unit_amount": "2"},
                {"up_to": None, "unit_amount": "1.5", "flat_amount": "3"},
            ]
        },
        "package": {"package_size": 5, "amount": "10", "free_units": 2},
        "percentage": {"rate": "1.5", "fixed_amount": "0.1"},
    }
    default.update(properties)
    metric_of = {
        "standard": "calls",
        "graduated": "tokens",
        "volume": "peak",
        "package": "users",
        "percentage": "payments",
    }
    return [
        {"metric": metrics[metric_of[model]], "model": model, "properties": default[model]}
        for model in metric_of
    ]


def subscription_create(metrics):
    """The `sub` fixture of these modules: "sub-1" on a plan with every charge, from START."""
    customer = factories.customer()
    plan = factories.plan("pro", "30.00", charges=charges(metrics))
    return factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")


def post(client, url: str, body, **headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def event(tx: str, code: str = "calls", **extra) -> dict:
    body = {
        "transaction_id": tx,
        "subscription": "sub-1",
        "code": code,
        "timestamp": "2027-01-20T10:00:00Z",
    }
    return {**body, **extra}


def count(code: str) -> int:
    agg = UsageAggregate.objects.filter(metric__code=code).first()
    return agg.event_count if agg else 0
