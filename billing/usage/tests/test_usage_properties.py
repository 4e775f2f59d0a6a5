"""Property: aggregates kept up to date event by event equal the aggregates of the events
computed at once, whatever the batching, the order of timestamps and the duplicates."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import UsageAggregate, UsageEvent
from billing.tests import factories
from billing.usage.pricing import aggregate_value
from billing.usage.services import usage_events_ingest
from catalog.tests import factories as catalog

pytestmark = pytest.mark.django_db
START = datetime(2027, 1, 1, tzinfo=UTC)
AT = datetime(2027, 3, 1, tzinfo=UTC)
METRICS = {
    "n_count": ("count", ""),
    "n_sum": ("sum", "v"),
    "n_max": ("max", "v"),
    "n_latest": ("latest", "v"),
    "n_unique": ("unique_count", "v"),
}

event = st.fixed_dictionaries(
    {
        "tx": st.integers(0, 30),  # a small pool: duplicates are frequent
        "code": st.sampled_from(sorted(METRICS)),
        # A few instants in January and February (two periods): equal timestamps are common.
        "minutes": st.integers(0, 8).map(lambda week: week * 60 * 24 * 7 + 1),
        "value": st.decimals(min_value=0, max_value=1000, places=3),
    }
)


@pytest.fixture
def sub():
    for code, (aggregation, field) in METRICS.items():
        catalog.metric(code, aggregation, field)
    plan = factories.plan()
    return factories.subscription(customer=factories.customer(), plan=plan, at=START)


def expected(events: list[dict]) -> dict[tuple[str, datetime], Decimal]:
    """The aggregates computed from the first occurrence of each transaction id."""
    seen, groups = set(), {}
    for e in events:
        if e["tx"] in seen:
            continue
        seen.add(e["tx"])
        ts = START + timedelta(minutes=e["minutes"])
        period = (
            START if ts < datetime(2027, 2, 1, tzinfo=UTC) else datetime(2027, 2, 1, tzinfo=UTC)
        )
        groups.setdefault((e["code"], period), []).append((ts, e["value"]))
    result = {}
    for (code, period), rows in groups.items():
        values = [v for _, v in rows]
        result[(code, period)] = {
            "count": Decimal(len(rows)),
            "sum": sum(values, Decimal(0)),
            "max": max(values),
            # latest: the greatest timestamp; on a tie, the one received last
            "latest": max(enumerate(rows), key=lambda r: (r[1][0], r[0]))[1][1],
            "unique_count": Decimal(len({v.normalize() for v in values})),
        }[METRICS[code][0]]
    return result


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=st.lists(event, max_size=60), cuts=st.lists(st.integers(0, 60), max_size=4))
def test_incremental_aggregates_equal_the_batch_computation(sub, events, cuts):
    with transaction.atomic():
        raw = [
            {
                "transaction_id": f"t{e['tx']}",
                "subscription": str(sub.pk),
                "code": e["code"],
                "timestamp": (START + timedelta(minutes=e["minutes"])).isoformat(),
                "properties": {"v": e["value"]},
            }
            for e in events
        ]
        bounds = sorted({0, len(raw), *(c for c in cuts if c < len(raw))})
        for low, high in zip(bounds, bounds[1:], strict=False):
            usage_events_ingest(events=raw[low:high], at=AT)
        got = {
            (a.metric.code, a.period_start): aggregate_value(a, a.metric.aggregation)
            for a in UsageAggregate.objects.select_related("metric")
        }
        assert got == expected(events)
        assert UsageEvent.objects.count() == len({e["tx"] for e in events})
        transaction.set_rollback(True)
