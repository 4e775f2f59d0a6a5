"""A catalog with one feature of each kind, plans and add-ons granting them, and usage."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

from billing.tests import factories
from billing.usage.services import usage_events_ingest
from catalog import services as catalog
from catalog.tests.factories import feature as feature_create
from catalog.tests.factories import metric as metric_create

AT = datetime(2027, 3, 1, 12, tzinfo=UTC)
_events = count()


class Catalog:
    def __init__(self):
        self.calls = metric_create("api_calls")
        self.sso = feature_create("sso", kind="boolean")
        self.audit = feature_create("audit_log", kind="boolean")
        self.quota = feature_create("api_quota", kind="quota", metric=self.calls)
        self.seats = feature_create("editor_seats", kind="seats")
        self.basic = self.plan(
            "basic", {self.sso: False, self.quota: 1000, self.seats: 2}, amount="10.00"
        )
        self.pro = self.plan("pro", {self.sso: True, self.quota: 5000, self.seats: 5})
        self.unlimited = self.plan("unlimited", {self.sso: True, self.quota: None})
        self.extra_calls = self.addon("extra-calls", {self.quota: 500})
        self.audit_addon = self.addon("audit", {self.audit: True})

    def plan(self, code, grants: dict, amount="30.00"):
        return catalog.plan_create(
            code=code,
            name=code.title(),
            currency="USD",
            amount=Decimal(amount),
            entitlements=[{"feature": f, "value": v} for f, v in grants.items()],
        )

    def addon(self, code, grants: dict):
        return catalog.addon_create(
            code=code,
            name=code,
            currency="USD",
            amount=Decimal("5.00"),
            interval="month",
            entitlements=[{"feature": f, "value": v} for f, v in grants.items()],
        )


def subscribe(customer, plan, *, at=AT, **kwargs):
    return factories.subscription(customer=customer, plan=plan, at=at, **kwargs)


def use(sub, metric_code: str, n: int, *, at=AT + timedelta(hours=1)):
    """`n` usage events of `metric_code` on `sub`, at `at`."""
    events = [
        {
            "transaction_id": f"ent-{next(_events)}",
            "subscription": str(sub.pk),
            "code": metric_code,
            "timestamp": at.isoformat(),
        }
        for _ in range(n)
    ]
    for start in range(0, n, 1000):
        results = usage_events_ingest(events=events[start : start + 1000], at=at)
        assert all(r.error is None for r in results), [r.error for r in results]
