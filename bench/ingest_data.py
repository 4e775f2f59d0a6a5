"""bench/ingest.py's data: the bench catalog and subscriptions, the usage tables, the events
sent and the check of what was stored. Imported after django.setup()."""

import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection

from billing.invoicing.services.subscription_billing import subscription_create
from billing.models import Subscription
from catalog.models import BillableMetric, Plan
from catalog.services import metric_create, plan_create
from customers.models import Customer
from customers.services import customer_create

PREFIX = "bench-ingest-"
PLAN = "bench-ingest"
COUNT_METRIC = "bench_ingest_calls"  # count
SUM_METRIC = "bench_ingest_tokens"  # sum of the integer property "tokens"
USAGE_TABLES = [  # each with a subscription_id
    "billing_usagedistinctvalue",
    "billing_usageevent",
    "billing_usageeventkey",
    "billing_usageaggregate",
]
REGIONS = ["eu-west", "us-east", "ap-south", "sa-east"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Data -------------------------------------------------------------------------------


def catalog() -> tuple[Plan, BillableMetric, BillableMetric]:
    count = BillableMetric.objects.filter(code=COUNT_METRIC).first() or metric_create(
        code=COUNT_METRIC, name="Bench calls", aggregation="count"
    )
    total = BillableMetric.objects.filter(code=SUM_METRIC).first() or metric_create(
        code=SUM_METRIC, name="Bench tokens", aggregation="sum", field="tokens"
    )
    plan = Plan.objects.filter(code=PLAN, is_latest=True).first() or plan_create(
        code=PLAN,
        name="Bench ingest",
        currency="USD",
        amount=Decimal("10.00"),
        charges=[
            {"metric": m, "model": "standard", "properties": {"unit_amount": "0.001"}}
            for m in (count, total)
        ],
    )
    return plan, count, total


def subscriptions(plan: Plan, n: int, now: datetime) -> tuple[list[int], int, int]:
    """(spread ids, hot id, warm-up id): started at midnight UTC three days ago, so the first
    monthly period holds now; external ids carry that day, so a run on the same day reuses
    them and a later day makes new ones."""
    start = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    stem = f"{PREFIX}{start:%Y%m%d}-"
    names = [f"{stem}{i}" for i in range(n)] + [f"{stem}hot", f"{stem}warm"]
    found = dict(
        Subscription.objects.filter(external_id__in=names).values_list("external_id", "pk")
    )
    missing = [name for name in names if name not in found]
    for done, name in enumerate(missing, 1):
        customer = Customer.objects.filter(external_id=name).first() or customer_create(
            external_id=name, name=name, email=f"{name}@example.com", currency="USD"
        )
        sub = subscription_create(
            customer=customer, plan=plan, at=now, start_at=start, external_id=name
        )
        found[name] = sub.pk
        if done % 100 == 0 or done == len(missing):
            log(f"  created {done}/{len(missing)} subscriptions")
    ids = [found[name] for name in names]
    bad = Subscription.objects.filter(pk__in=ids).exclude(
        current_period_start__lte=now, current_period_end__gt=now + timedelta(hours=1)
    )
    if bad.exists():
        sys.exit(f"{bad.count()} bench subscriptions have no current period around now")
    return ids[:n], ids[n], ids[n + 1]


def usage_reset() -> None:
    """Empty the usage tables when they hold bench rows only (TRUNCATE), otherwise delete the
    bench subscriptions' rows."""
    bench = list(
        Subscription.objects.filter(external_id__startswith=PREFIX).values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM billing_usageeventkey WHERE NOT subscription_id = "
            "ANY(%s)) OR EXISTS (SELECT 1 FROM billing_usageaggregate WHERE NOT "
            "subscription_id = ANY(%s))",
            [bench, bench],
        )
        if not cursor.fetchone()[0]:
            cursor.execute(f"TRUNCATE {', '.join(USAGE_TABLES)}")
            return
        log("  the usage tables hold other rows: deleting the bench rows only")
        for table in USAGE_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE subscription_id = ANY(%s)", [bench])  # noqa: S608 - constant names
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE billing_usageevent")


def usage_counts(sub_ids: list[int], sum_metric_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM billing_usageevent WHERE subscription_id = ANY(%s)", [sub_ids]
        )
        events = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM billing_usageeventkey WHERE subscription_id = ANY(%s)",
            [sub_ids],
        )
        keys = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*), coalesce(sum(event_count), 0), "
            "coalesce(sum(value_sum) FILTER (WHERE metric_id = %s), 0) "
            "FROM billing_usageaggregate WHERE subscription_id = ANY(%s)",
            [sum_metric_id, sub_ids],
        )
        aggregates, counted, tokens = cursor.fetchone()
    return {
        "events": events,
        "keys": keys,
        "aggregates": aggregates,
        "counted": counted,
        "tokens": int(tokens),
    }


# --- Events -----------------------------------------------------------------------------


def event(g: int, rng: random.Random, sub: int, ts: str, run: str, phase: str) -> dict:
    """Event number `g`: half count events, half sum events (tokens 1..100)."""
    body = {"transaction_id": f"{run}-{phase}-{g}", "subscription": str(sub), "timestamp": ts}
    if rng.random() < 0.5:
        body["code"] = COUNT_METRIC
        body["properties"] = {"region": REGIONS[g % len(REGIONS)]}
    else:
        body["code"] = SUM_METRIC
        body["properties"] = {"tokens": 1 + g % 100, "region": REGIONS[g % len(REGIONS)]}
    return body


def timestamps(size: int) -> list[str]:
    """`size` ISO-8601 timestamps, now and one millisecond apart before it."""
    now = datetime.now(UTC)
    return [(now - timedelta(milliseconds=i)).isoformat() for i in range(size)]


def batch_events(
    b: int, size: int, total: int, subs: list[int], stamps: list[str], run: str, phase: str
) -> list[dict]:
    rng = random.Random(f"{run}-{phase}-{b}")
    first = b * size
    return [
        event(g, rng, subs[rng.randrange(len(subs))], stamps[g - first], run, phase)
        for g in range(first, min(first + size, total))
    ]


def expected(events: list[dict]) -> Counter:
    sent = Counter(events=len(events))
    for body in events:
        if body["code"] == SUM_METRIC:
            sent["sum_events"] += 1
            sent["tokens"] += body["properties"]["tokens"]
    return sent


def verify(label: str, subs: list[int], sum_metric: int, sent: Counter, created: int) -> str:
    found = usage_counts(subs, sum_metric)
    ok = (
        found["events"] == found["keys"] == found["counted"] == sent["events"] == created
        and found["tokens"] == sent["tokens"]
    )
    line = (
        f"events {found['events']}, keys {found['keys']}, aggregates {found['aggregates']} "
        f"counting {found['counted']} (tokens {found['tokens']}); sent {sent['events']} "
        f"(tokens {sent['tokens']}), created {created}"
    )
    if not ok:
        log(f"  {label}: MISMATCH {line}")
    return ("OK     " if ok else "MISMATCH ") + line
