"""The CPU floor of one API request in this stack: what a request costs before any work.

    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_ingest .venv/bin/python bench/request_floor.py

In-process (Django's test client, no HTTP, DEBUG off), one request at a time: the median
CPU time of an authenticated request that does one lookup and answers 404, of the
single-event POST, and of the usage read. At N requests/s on C cores every request may
use C / N seconds of CPU, web server and database together: 2 ms at 1,000/s on 2 cores.
Uses the configured database (any migrated one); it adds an API key, one subscription and
a metric, all named `floor-…`.
"""

import logging
import os
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_env import production_env  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
production_env()
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()
warnings.filterwarnings("ignore", "No directory at", UserWarning)
logging.getLogger("django.request").setLevel(logging.ERROR)  # no "Not Found" line per 404

from django.test import Client  # noqa: E402

from api.services import api_key_create  # noqa: E402
from billing.invoicing.services.subscription_billing import subscription_create  # noqa: E402
from billing.models import Subscription  # noqa: E402
from catalog.models import BillableMetric, Plan  # noqa: E402
from catalog.services import metric_create, plan_create  # noqa: E402
from customers.models import Customer  # noqa: E402
from customers.services import customer_create  # noqa: E402

RUNS = 300


def cpu_ms(call) -> float:
    for _ in range(30):  # warm up: connection, caches, prepared statements
        call()
    times = []
    for _ in range(RUNS):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def main() -> None:
    now = datetime.now(UTC)
    metric = BillableMetric.objects.filter(code="floor-calls").first() or metric_create(
        code="floor-calls", name="floor calls", aggregation="count", field=""
    )
    plan = Plan.objects.filter(code="floor-plan").first() or plan_create(
        code="floor-plan",
        name="Floor",
        currency="USD",
        amount=Decimal(0),
        charges=[{"metric": metric, "model": "standard", "properties": {"unit_amount": "0.01"}}],
    )
    sub = Subscription.objects.filter(external_id="floor-sub").first()
    if sub is None:
        customer = Customer.objects.filter(external_id="floor-customer").first()
        customer = customer or customer_create(
            external_id="floor-customer", name="Floor", email="floor@example.com", currency="USD"
        )
        sub = subscription_create(customer=customer, plan=plan, at=now, external_id="floor-sub")
    _, raw = api_key_create(name="floor", scopes=["read", "write"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    counter = iter(range(10**9))
    run = f"{now:%Y%m%d%H%M%S}"

    def not_found():
        assert client.get("/api/v1/events/floor-none/").status_code == 404

    def single():
        body = {"transaction_id": f"floor-{run}-{next(counter)}", "subscription": "floor-sub"}
        body["code"] = "floor-calls"
        response = client.post("/api/v1/events/", body, content_type="application/json")
        assert response.status_code == 201, response.content[:200]

    def usage():
        assert client.get(f"/api/v1/subscriptions/{sub.pk}/usage/").status_code == 200

    print(f"median CPU per request, in-process, {RUNS} requests each")
    for label, call in (
        ("authenticate + one lookup + 404", not_found),
        ("POST /events/ (one event)", single),
        ("GET /subscriptions/{id}/usage/", usage),
    ):
        print(f"  {label:34} {cpu_ms(call):6.2f} ms")
    print("budget at 1,000 requests/s on 2 cores: 2.00 ms (web server and database together)")


if __name__ == "__main__":
    main()
