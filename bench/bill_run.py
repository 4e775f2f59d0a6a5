"""Bill run benchmark: N subscriptions on mixed plans, one bill run, time and peak memory.

    DATABASE_URL=postgres://root@127.0.0.1:5432/bench .venv/bin/python bench/bill_run.py --n 100000

`--taxed` sets up a seller in Ireland registered in IE (OSS), GB, US-TX, US-NY, CA, CA-QC and AU,
and spreads the customers over places taxed in different ways (an EU consumer, an EU business
reverse-charged, the home country, the UK, Texas's 80%, a state where nothing is collected,
Quebec's two components, Australia); without it the seller collects nowhere (every line 0).

Uses the configured database (create it first: `createdb -h 127.0.0.1 bench`); it migrates,
deletes earlier bench rows, bulk-creates customers and subscriptions whose first period is
already billed (as after checkout), then runs `manage.py bill_run` in a child process at the
end of that first period, so every subscription renews once. Prints subscriptions, lines,
invoices, seconds, subscriptions/s and the child's peak RSS (VmHWM, sampled every 0.2 s).
"""

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_env import production_env  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
production_env()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Sum  # noqa: E402

from billing.models import BillingEvent, Invoice, InvoiceLine, Subscription  # noqa: E402
from billing.subscriptions import periods  # noqa: E402
from billing.tax.models import TaxRegistration, TaxSettings  # noqa: E402
from catalog.models import Plan  # noqa: E402
from catalog.services import plan_create  # noqa: E402
from customers.models import Customer  # noqa: E402

START = datetime(2027, 1, 1, tzinfo=UTC)
PLANS = [  # code, currency, amount, interval, pay in advance
    ("bench-basic", "USD", "19.00", "month", True),
    ("bench-pro", "USD", "49.00", "month", True),
    ("bench-eur", "EUR", "29.00", "month", True),
    ("bench-arrears", "USD", "99.00", "month", False),
    ("bench-weekly", "USD", "5.00", "week", True),
]
TIMEZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]
CHUNK = 5000
# country, state, VAT number (valid by checksum) for --taxed customers, in turn.
PLACES = [
    ("DE", "", ""),
    ("FR", "", "FR40303265045"),
    ("IE", "", ""),
    ("GB", "", ""),
    ("US", "TX", ""),
    ("US", "CA", ""),
    ("CA", "QC", ""),
    ("AU", "", ""),
]
REGISTRATIONS = [
    ("IE", ""),
    ("GB", ""),
    ("US", "TX"),
    ("US", "NY"),
    ("CA", ""),
    ("CA", "QC"),
    ("AU", ""),
]


def tax_setup(taxed: bool) -> None:
    TaxRegistration.objects.all().delete()
    TaxSettings.objects.update_or_create(
        pk=1, defaults={"seller_country": "IE" if taxed else "", "eu_oss": True}
    )
    if taxed:
        TaxRegistration.objects.bulk_create(
            TaxRegistration(country=country, region=region, number="BENCH")
            for country, region in REGISTRATIONS
        )


def reset() -> None:
    bench = Customer.objects.filter(external_id__startswith="bench-")
    with connection.cursor() as cursor, transaction.atomic():
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE billing_billingevent DISABLE TRIGGER USER")
        BillingEvent.objects.filter(customer__in=bench)._raw_delete(BillingEvent.objects.db)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE billing_billingevent ENABLE TRIGGER USER")
        InvoiceLine.objects.filter(customer__in=bench).delete()
        Invoice.objects.filter(customer__in=bench).delete()
        Subscription.objects.filter(customer__in=bench).delete()
        bench.delete()


def plans(specs=PLANS) -> list[Plan]:
    """The plans of `specs` (code, currency, amount, interval, pay in advance[, interval
    count]), made when missing; a code listed twice gives its plan twice (a larger share)."""
    found = []
    for code, currency, amount, interval, advance, *count in specs:
        plan = Plan.objects.filter(code=code, is_latest=True).first() or plan_create(
            code=code,
            name=code,
            currency=currency,
            amount=Decimal(amount),
            interval=interval,
            interval_count=count[0] if count else 1,
            pay_in_advance=advance,
        )
        found.append(plan)
    return found


def populate(n: int, taxed: bool, specs=PLANS, pending: bool = False) -> datetime:
    """Customers with one subscription each, on the plans of `specs` in turn; returns the
    as_of that renews them all. The first period is billed already (as after checkout), or,
    with `pending`, the subscriptions start at START and the first bill run starts them."""
    catalog = plans(specs)
    as_of = START
    for offset in range(0, n, CHUNK):
        size = min(CHUNK, n - offset)
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    external_id=f"bench-{offset + i}",
                    name=f"Bench {offset + i}",
                    email=f"b{offset + i}@example.com",
                    currency=catalog[(offset + i) % len(catalog)].currency,
                    timezone=TIMEZONES[(offset + i) % len(TIMEZONES)],
                    **(place((offset + i) % len(PLACES)) if taxed else {}),
                )
                for i in range(size)
            ]
        )
        subs = []
        for index, customer in enumerate(customers):
            plan = catalog[(offset + index) % len(catalog)]
            schedule = periods.schedule_for(
                start_at=START,
                tz=customer.timezone,
                interval=plan.interval,
                interval_count=plan.interval_count,
            )
            first = periods.first_period(schedule)
            sub = Subscription(
                customer=customer,
                plan=plan,
                quantity=1 + index % 3,
                status="pending" if pending else "active",
                currency=plan.currency,
                timezone=customer.timezone,
                interval=plan.interval,
                interval_count=plan.interval_count,
                start_at=START,
                start_date=schedule.start_date,
                anchor_date=schedule.anchor,
                anchor_day=schedule.anchor_day,
            )
            if not pending:
                sub.set_period(first)
                sub.billed_through = first.end if plan.pay_in_advance else first.start
            subs.append(sub)
            as_of = max(as_of, first.end)
        Subscription.objects.bulk_create(subs)
        print(f"  created {offset + size} subscriptions", file=sys.stderr)
    return as_of


def place(index: int) -> dict:
    country, state, tax_id = PLACES[index]
    return {
        "country": country,
        "address_country": country,
        "address_state": state,
        "tax_id": tax_id,
        "tax_id_status": "valid" if tax_id else "unverified",
    }


def _high_water_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((ln for ln in status.splitlines() if ln.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--taxed", action="store_true", help="a mix of taxed jurisdictions")
    parser.add_argument("--profile", metavar="FILE", help="run the bill run under cProfile")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    reset()
    tax_setup(args.taxed)
    as_of = populate(args.n, args.taxed)
    connection.close()
    env = {
        **os.environ,
        "INVOICE_DRAFT_GRACE_HOURS": os.environ.get("INVOICE_DRAFT_GRACE_HOURS", "1"),
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            sys.executable,
            *(["-m", "cProfile", "-o", args.profile] if args.profile else []),
            str(ROOT / "manage.py"),
            "bill_run",
            "--as-of",
            as_of.isoformat(),
        ],
        env=env,
        cwd=ROOT,
    )
    peak_kb = 0
    while child.poll() is None:  # the child's own high-water mark (VmHWM), read while it runs
        peak_kb = max(peak_kb, _high_water_kb(child.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if child.returncode:
        sys.exit(f"bill_run failed with exit code {child.returncode}")
    peak_mb = peak_kb / 1024
    bench = Customer.objects.filter(external_id__startswith="bench-")
    lines = InvoiceLine.objects.filter(customer__in=bench).count()
    invoices = Invoice.objects.filter(customer__in=bench).count()
    print(f"database       {connection.vendor}")
    print(f"subscriptions  {args.n}")
    print(f"invoices       {invoices}")
    print(f"lines          {lines}")
    print(f"taxed          {'yes' if args.taxed else 'no'}")
    print(
        f"tax            {Invoice.objects.filter(customer__in=bench).aggregate(t=Sum('tax'))['t']}"
    )
    print(f"seconds        {seconds:.1f}")
    print(f"subs/second    {args.n / seconds:.0f}")
    print(f"peak RSS (MB)  {peak_mb:.0f}")


if __name__ == "__main__":
    main()
