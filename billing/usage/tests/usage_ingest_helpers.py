"""Shared by the usage ingestion tests (test_usage_ingest*.py): fixed times, the metrics, a
subscription, and shortcuts around usage_events_ingest."""

from datetime import UTC, datetime

from billing.models import UsageAggregate
from billing.tests import factories
from billing.usage.services import usage_events_ingest
from catalog.models import BillableMetric
from catalog.tests.factories import metric as metric_create


def t(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


START = t(2027, 1, 15)  # the subscription starts (UTC midnight: its periods start at 00:00Z)
AT = t(2027, 1, 20, 12)  # the events are received
JAN = (t(2027, 1, 15), t(2027, 2, 15))


def metrics_create() -> dict[str, BillableMetric]:
    """The `metrics` fixture of these modules."""
    return {
        "calls": metric_create("calls", "count"),
        "tokens": metric_create("tokens", "sum", "tokens"),
        "peak": metric_create("peak", "max", "gb"),
        "users": metric_create("users", "unique_count", "user"),
        "seats": metric_create("seats", "latest", "seats"),
    }


def subscription_create():
    """The `sub` fixture of these modules: "sub-1" on a plan without charges, from START."""
    customer = factories.customer()
    plan = factories.plan("pro", "30.00")
    return factories.subscription(customer=customer, plan=plan, at=START, external_id="sub-1")


def event(tx: str, code: str = "calls", ts: object = "2027-01-20T10:00:00Z", **extra) -> dict:
    body = {"transaction_id": tx, "subscription": "sub-1", "code": code, "timestamp": ts}
    return {**body, **extra}


def ingest(*events, at: datetime = AT):
    return usage_events_ingest(events=list(events), at=at)


def statuses(results) -> list[str]:
    return [r.status for r in results]


def aggregate(code: str, period_start: datetime = JAN[0]) -> UsageAggregate:
    return UsageAggregate.objects.get(metric__code=code, period_start=period_start)
