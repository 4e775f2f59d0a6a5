"""Revenue bench: N subscriptions billed for M months, the reports' consumer, the month
close (recognition + journal) and the revenue, MRR and ledger reports at that size.

    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_revenue \\
        .venv/bin/python bench/revenue.py --n 100000 --months 3 --fresh

`--fresh` drops the database of DATABASE_URL (its name must start with "bench") and makes it
again from `<name>_tpl`, a migrated template kept between runs (made and migrated on first
use), so a run starts from an empty database in seconds. Without it the database must have
no journal yet (it is migrated first).

Customers with one subscription each, on bill_run.py's seeding (`populate`) with a revenue
mix: 65% monthly in advance (USD and EUR), 10% monthly in arrears, 15% quarterly, 10% yearly;
10% with a 20% coupon (forever), 5% of the USD ones with 5.00 off for two periods. All start on
2027-01-01 (each in its customer's time zone). Month m (0..M-1) is billed on its 2nd day: the
first periods in month 0, then monthly renewals (arrears: the period just ended); quarterly
plans renew in month 3. A few invoices a month are credited (`credit_note_issue`, half a
line) ten days later.

`--seed bulk` (the default) writes month m's invoices, lines and billing events in bulk as the
bill run does (per batch of 500 customers: `subscription.renewed`, `discount.ended`,
`invoice.created`, `invoice.finalized`), finalized (numbered, open), with the coupon lines
the bill run would add; the consumer reads them like any other events. At n=400 it gives the
same invoices, lines, totals, discounts, events and recognition lines as `--seed bill_run`,
which runs the real bill run (`bill_run_execute`, drafts finalized at once: about 25
invoices/s, so for small N only). The seeding time is printed apart.

The subscriptions' `subscription.activated` events: with `--activations rebuild` (default)
they are written first and read by `mrr_rebuild_all` (timed), the consumer's cursor set after
them, as for subscriptions that started before the bench; with `--activations consume` the
consumer reads them in month 1 (one `subscription_mrr_refresh` each, about 20 ms: half an hour
for 100,000).

Then per month: `reports_events_consume_all` (timed: events/s), `VACUUM ANALYZE` (what
autovacuum does between a bill run and a close; bulk rows have no statistics until then and
some plans go wrong by minutes; `--no-vacuum` skips it), and `month_close` of the month
(timed; the target is 60 s at 100,000 subscriptions), the machine load around each. At the end
each report (median of `--calls` calls; the target is 1 s): recognition report, waterfall,
deferred roll-forward, MRR at month end, MRR movements, trial balance, and the first page of
`GET /api/v1/journal-entries/?from=&to=`, `GET /api/v1/revenue/recognition/` and the MRR
endpoints through Django's test client; row counts; invariants (every entry balances, by
SQL; the trial balances sum to zero; the roll-forwards balance; every schedule's lines add up
to its amount less what credits took off deferred revenue; closed months are fully posted and
the journal's recognition equals the lines posted). `--profile FILE` writes a cProfile of the
closes (all months) to FILE. `--reports-only` times the reports of a database a run left.
"""

import argparse
import cProfile
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_env import production_env  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="subscriptions (one a customer)")
    parser.add_argument("--months", type=int, default=3, help="months billed and closed")
    parser.add_argument("--seed", choices=("bulk", "bill_run"), default="bulk")
    parser.add_argument(
        "--credit-notes", type=int, help="credit notes a month (default N / 2,000, at least 1)"
    )
    parser.add_argument(
        "--activations",
        choices=("rebuild", "consume"),
        default="rebuild",
        help="bulk seed: the subscriptions' activation events read before the bench by "
        "mrr_rebuild_all (default), or by the consumer in month 1 (one MRR refresh each)",
    )
    parser.add_argument(
        "--no-vacuum",
        dest="vacuum",
        action="store_false",
        help="skip the VACUUM ANALYZE before each close and the reports",
    )
    parser.add_argument(
        "--reports-only",
        action="store_true",
        help="only the reports, rows and invariants of a database a run left",
    )
    parser.add_argument("--calls", type=int, default=5, help="calls per report (median)")
    parser.add_argument("--fresh", action="store_true", help="drop and remake the database")
    parser.add_argument("--profile", metavar="FILE", help="cProfile of the closes to FILE")
    args = parser.parse_args()
    if args.fresh and args.reports_only:
        parser.error("--reports-only reads the database a run left: not with --fresh.")
    return args


def fresh_database(url: str) -> None:
    """Drop the database of `url` and make it again from its migrated template."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.startswith("bench"):
        sys.exit(f"--fresh drops the database; {name!r} does not start with 'bench'.")
    template = f"{name}_tpl"
    admin = parts._replace(path="/postgres").geturl()

    def execute(statement, *names) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))

    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template]).fetchone()
    if not found:
        execute("CREATE DATABASE {}", template)
    started = time.perf_counter()
    subprocess.run(  # a no-op when the template is up to date
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"],
        env={**os.environ, "DATABASE_URL": parts._replace(path=f"/{template}").geturl()},
        cwd=ROOT,
        check=True,
    )
    execute("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    execute("CREATE DATABASE {} TEMPLATE {}", name, template)
    print(f"  fresh database {name} from {template} in {time.perf_counter() - started:.1f} s")


ARGS = arguments() if __name__ == "__main__" else None
production_env()
# The real bill run (--seed bill_run) finalizes its drafts at once, as a shop without a
# grace period does; bulk seeding writes finalized invoices.
os.environ.setdefault("INVOICE_DRAFT_GRACE_HOURS", "0")
if ARGS is not None and ARGS.fresh:
    fresh_database(os.environ["DATABASE_URL"])

from bill_run import START, populate, tax_setup  # noqa: E402  (sets Django up)
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402

from api.services import api_key_create  # noqa: E402
from billing.invoicing.services.bill_runs import bill_run_execute  # noqa: E402
from billing.invoicing.services.credits import credit_note_issue  # noqa: E402
from billing.models import (  # noqa: E402
    BillingEvent,
    Coupon,
    Discount,
    Invoice,
    InvoiceLine,
    Subscription,
)
from billing.subscriptions import periods  # noqa: E402
from catalog.money import round_money  # noqa: E402
from reports.consumer import CONSUMER, reports_events_consume_all  # noqa: E402
from reports.ledger.closing import month_close, month_end  # noqa: E402
from reports.ledger.models import JournalEntry, JournalLine, MonthClose  # noqa: E402
from reports.ledger.selectors import trial_balance  # noqa: E402
from reports.metrics.history import mrr_rebuild_all  # noqa: E402
from reports.metrics.models import MrrSegment  # noqa: E402
from reports.metrics.selectors import mrr_at, mrr_movements_report  # noqa: E402
from reports.models import EventCursor  # noqa: E402
from reports.revenue.models import (  # noqa: E402
    RecognitionLine,
    RevenueReversal,
    RevenueSchedule,
)
from reports.revenue.schedules import Month  # noqa: E402
from reports.revenue.selectors import (  # noqa: E402
    deferred_roll_forward,
    recognition_report,
    revenue_waterfall,
)

# code, currency, amount, interval, pay in advance[, interval count]; 20 slots = 5% each
BASIC = ("bench-basic", "USD", "19.00", "month", True)
PRO = ("bench-pro", "USD", "49.00", "month", True)
EUR = ("bench-eur", "EUR", "29.00", "month", True)
ARREARS = ("bench-arrears", "USD", "99.00", "month", False)
QUARTERLY = ("bench-quarterly", "USD", "129.00", "month", True, 3)
YEARLY = ("bench-yearly", "USD", "490.00", "year", True)
SPECS = [BASIC, PRO, EUR, QUARTERLY, BASIC, YEARLY, PRO, EUR, ARREARS, BASIC]
SPECS += [PRO, EUR, QUARTERLY, BASIC, ARREARS, PRO, EUR, QUARTERLY, BASIC, YEARLY]
CHUNK = 500  # the bill run's batch of customers
HUNDRED = Decimal(100)


def month_start(m: int) -> datetime:
    return datetime(
        START.year + (START.month - 1 + m) // 12, (START.month - 1 + m) % 12 + 1, 1, tzinfo=UTC
    )


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


# -- Seeding ---------------------------------------------------------------------------------


def coupons() -> tuple[Coupon, Coupon]:
    percent, _ = Coupon.objects.get_or_create(
        code="bench-20off",
        defaults={"name": "20% off", "kind": "percent", "percent_off": 20, "duration": "forever"},
    )
    fixed, _ = Coupon.objects.get_or_create(
        code="bench-5off",
        defaults={
            "name": "5.00 off twice",
            "kind": "fixed",
            "amount_off": Decimal(5),
            "currency": "USD",
            "duration": "repeating",
            "duration_in_periods": 2,
        },
    )
    return percent, fixed


def subscriptions_seed(n: int, pending: bool) -> list[Subscription]:
    """The customers and subscriptions (bill_run.populate) and their discounts."""
    populate(n, False, SPECS, pending=pending)
    subs = list(
        Subscription.objects.filter(customer__external_id__startswith="bench-")
        .select_related("plan")
        .order_by("pk")
    )
    percent, fixed = coupons()
    discounts = []
    for index, sub in enumerate(subs):
        spread = (index % len(SPECS) + index // len(SPECS)) % 20
        coupon = percent if spread in (0, 10) else fixed if spread == 5 else None
        if coupon is not None and (coupon.kind == "percent" or sub.currency == coupon.currency):
            discounts.append(
                Discount(
                    coupon=coupon, customer_id=sub.customer_id, subscription=sub, start_at=START
                )
            )
    Discount.objects.bulk_create(discounts, batch_size=5000)
    return subs


class BulkBilling:
    """Month by month, what the bill run invoices, written in bulk: per subscription the
    periods due by `as_of` (in advance: started by then; in arrears: ended by then), one
    finalized invoice with a line per period and the coupon lines, and the events."""

    def __init__(self, subs: list[Subscription]):
        self.subs = subs
        self.current: dict[int, int] = {}  # subscription → index of its current period
        self.billed: dict[int, int] = {}  # subscription → last period index billed
        self.discounts: dict[int, list[Discount]] = {}
        for discount in Discount.objects.select_related("coupon").order_by("pk"):
            self.discounts.setdefault(discount.subscription_id, []).append(discount)
        self.numbers = 0
        self.activated = False

    def activations(self) -> int:
        """Every subscription's `subscription.activated`, written before any invoice (as if
        the subscriptions had started before the bench); the last event id."""
        events = [
            self._event("subscription.activated", sub, sub.start_at, self._payload(sub))
            for sub in self.subs
        ]
        BillingEvent.objects.bulk_create(events, batch_size=5000)
        self.activated = True
        return events[-1].pk

    @staticmethod
    def _payload(sub: Subscription) -> dict:
        return {"plan": sub.plan.code, "status": "active"}

    def month(self, as_of: datetime) -> tuple[int, int, int]:
        """Invoices, lines and events written for the bill run at `as_of`."""
        totals = [0, 0, 0]
        changed: dict[int, Discount] = {}
        for offset in range(0, len(self.subs), CHUNK):
            with transaction.atomic():
                made = self._chunk(self.subs[offset : offset + CHUNK], as_of, changed)
            totals = [a + b for a, b in zip(totals, made, strict=True)]
        Discount.objects.bulk_update(
            changed.values(), ["periods_applied", "end_at"], batch_size=2000
        )
        return tuple(totals)

    def _due(self, sub: Subscription, as_of: datetime) -> tuple[list[periods.Period], str | None]:
        schedule = sub.schedule
        current = periods.period_containing(schedule, as_of)
        first = periods.first_period(schedule).index
        event = None
        if sub.pk not in self.current:
            event = "subscription.activated"
        elif current.index > self.current[sub.pk]:
            event = "subscription.renewed"
        self.current[sub.pk] = current.index
        last = current.index if sub.plan.pay_in_advance else current.index - 1
        start = self.billed.get(sub.pk, first - 1) + 1
        due = [periods.period(schedule, index) for index in range(start, last + 1)]
        if due:
            self.billed[sub.pk] = last
        return due, event

    def _chunk(self, subs, as_of: datetime, changed: dict) -> tuple[int, int, int]:
        sub_events, invoices, lines_of = [], [], []
        for sub in subs:
            due, event = self._due(sub, as_of)
            if event == "subscription.activated":
                if not self.activated:
                    sub_events.append(self._event(event, sub, sub.start_at, self._payload(sub)))
            elif event:
                current = periods.period(sub.schedule, self.current[sub.pk])
                payload = {
                    **self._payload(sub),
                    "period_end": current.end.isoformat(),
                    "period_start": current.start.isoformat(),
                }
                sub_events.append(self._event(event, sub, current.start, payload))
            if not due:
                continue
            lines = [self._line(sub, period) for period in due]
            coupon_lines, ended = self._coupon_lines(sub, lines, as_of, changed)
            lines += coupon_lines
            sub_events += [
                self._event(
                    "discount.ended",
                    discount,
                    as_of,
                    {"coupon": discount.coupon.code, "periods_applied": discount.periods_applied},
                )
                for discount in ended
            ]
            invoices.append(self._invoice(sub, lines, as_of))
            lines_of.append(lines)
        Invoice.objects.bulk_create(invoices)
        rows = []
        for invoice, lines in zip(invoices, lines_of, strict=True):
            for position, line in enumerate(lines):
                line.invoice, line.position = invoice, position
                rows.append(line)
        InvoiceLine.objects.bulk_create(rows)
        created = [
            self._event(
                "invoice.created",
                invoice,
                as_of,
                {"total": str(invoice.total), "currency": invoice.currency},
            )
            for invoice in invoices
        ]
        finalized = [
            self._event(
                "invoice.finalized",
                invoice,
                as_of,
                {"number": invoice.number, "total": str(invoice.total)},
            )
            for invoice in invoices
        ]
        BillingEvent.objects.bulk_create(sub_events + created + finalized)
        return len(invoices), len(rows), len(sub_events) + len(created) + len(finalized)

    @staticmethod
    def _event(kind: str, subject, at: datetime, payload: dict) -> BillingEvent:
        return BillingEvent(
            kind=kind,
            occurred_at=at,
            customer_id=subject.customer_id,
            subject_type=subject._meta.label_lower,
            subject_id=str(subject.pk),
            actor="system",
            payload=payload,
        )

    @staticmethod
    def _line(sub: Subscription, period: periods.Period) -> InvoiceLine:
        plan = sub.plan
        return InvoiceLine(
            customer_id=sub.customer_id,
            currency=sub.currency,
            subscription=sub,
            kind="subscription",
            description=f"{plan.name} × {sub.quantity}",
            quantity=Decimal(sub.quantity),
            unit_amount=plan.amount,
            amount=round_money(plan.amount * sub.quantity, sub.currency),
            period_start=period.start,
            period_end=period.end,
            billing_key=f"bench:{sub.pk}:{period.index}",
        )

    def _coupon_lines(self, sub, lines, as_of, changed) -> tuple[list[InvoiceLine], list]:
        """As invoices_discount: one negative `credit` line per active discount; and the
        discounts that ended (their last period applied)."""
        made, ended, remaining = [], [], sum((line.amount for line in lines), Decimal(0))
        for discount in self.discounts.get(sub.pk, []):
            coupon = discount.coupon
            if discount.end_at is not None or remaining <= 0:
                continue
            if coupon.kind == "percent":
                amount = round_money(remaining * coupon.percent_off / HUNDRED, sub.currency)
            else:
                amount = round_money(coupon.amount_off, sub.currency)
            amount = min(amount, remaining)
            made.append(
                InvoiceLine(
                    customer_id=sub.customer_id,
                    currency=sub.currency,
                    subscription=sub,
                    kind="credit",
                    description=f"Coupon {coupon.code}",
                    unit_amount=-amount,
                    amount=-amount,
                    period_start=min(line.period_start for line in lines),
                    period_end=max(line.period_end for line in lines),
                    billing_key=f"discount:{discount.pk}:{discount.periods_applied + 1}",
                )
            )
            remaining -= amount
            discount.periods_applied += 1
            if (
                coupon.duration_in_periods
                and discount.periods_applied >= coupon.duration_in_periods
            ):
                discount.end_at = as_of
                ended.append(discount)
            changed[discount.pk] = discount
        return made, ended

    def _invoice(self, sub, lines, as_of: datetime) -> Invoice:
        self.numbers += 1
        discount = -sum((line.amount for line in lines if line.kind == "credit"), Decimal(0))
        subtotal = sum((line.amount for line in lines), Decimal(0)) + discount
        total = subtotal - discount
        return Invoice(
            customer_id=sub.customer_id,
            currency=sub.currency,
            status="open",
            number=f"INV-{as_of.year}-B{self.numbers:07d}",
            period_start=min(line.period_start for line in lines),
            period_end=max(line.period_end for line in lines),
            subtotal=subtotal,
            discount=discount,
            total=total,
            amount_due=total,
            tax_date=as_of.date(),
            issued_at=as_of,
            due_at=as_of + timedelta(days=30),
        )


def credit_notes(as_of: datetime, count: int, at: datetime) -> int:
    """Credit half of a line of `count` invoices issued at `as_of`, through the service."""
    invoices = Invoice.objects.filter(issued_at=as_of, status="open").order_by("pk")
    total = invoices.count()
    made = 0
    for k in range(min(count, total)):
        invoice = invoices[k * total // count]
        line = invoice.lines.filter(amount__gt=0).order_by("position").first()
        with transaction.atomic():
            credit_note_issue(
                invoice=invoice,
                at=at,
                reason="product_unsatisfactory",
                lines=[
                    {"invoice_line": line, "amount": round_money(line.amount / 2, line.currency)}
                ],
            )
        made += 1
    return made


# -- Reports ---------------------------------------------------------------------------------


def median_time(fn, calls: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(calls):
        result, seconds = timed(fn)
        times.append(seconds)
    return statistics.median(times), result


def api_get(client: Client, url: str):
    def call():
        response = client.get(url, secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
        return response

    return call


def reports(first: Month, last: Month, calls: int) -> list[tuple[str, float, str]]:
    _, raw = api_key_create(name="bench revenue", scopes=["read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    end = month_end(last.first_day)
    at_end = datetime.combine(last.next().first_day, datetime.min.time(), tzinfo=UTC) - timedelta(
        seconds=1
    )
    span = f"from={first}&to={last}"
    checks = [
        (
            "recognition_report USD",
            lambda: recognition_report(currency="USD", first=first, last=last),
        ),
        (
            "revenue_waterfall USD",
            lambda: revenue_waterfall(currency="USD", first=first, last=last),
        ),
        (
            "deferred_roll_forward USD",
            lambda: deferred_roll_forward(currency="USD", first=first, last=last),
        ),
        ("mrr_at USD", lambda: mrr_at(at=at_end, currency="USD")),
        (
            "mrr_movements_report USD",
            lambda: mrr_movements_report(first=str(first), last=str(last), currency="USD"),
        ),
        ("trial_balance USD", lambda: trial_balance(currency="USD", through=end)),
        (
            "GET journal-entries (page 1)",
            api_get(client, f"/api/v1/journal-entries/?from={last.first_day}&to={end}"),
        ),
        (
            "GET revenue/recognition",
            api_get(client, f"/api/v1/revenue/recognition/?{span}&currency=USD"),
        ),
        (
            "GET revenue/mrr",
            api_get(
                client,
                f"/api/v1/revenue/mrr/?at={at_end.isoformat().replace('+00:00', 'Z')}&currency=USD",
            ),
        ),
        (
            "GET revenue/mrr/movements",
            api_get(client, f"/api/v1/revenue/mrr/movements/?{span}&currency=USD"),
        ),
    ]
    rows = []
    for name, fn in checks:
        try:
            seconds, _ = median_time(fn, calls)
        except Exception as error:  # noqa: BLE001 - a report not ready yet is said, not fatal
            rows.append((name, float("nan"), f"failed: {str(error)[:160]}"))
            continue
        rows.append((name, seconds, "ok" if seconds <= 1 else "OVER 1 s"))
    return rows


# -- Invariants ------------------------------------------------------------------------------


def scalar(query: str, params=()) -> object:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def invariants(first: Month, last: Month) -> list[tuple[str, bool, str]]:
    lines, entries = JournalLine._meta.db_table, JournalEntry._meta.db_table
    rec, sched, rev = (
        RecognitionLine._meta.db_table,
        RevenueSchedule._meta.db_table,
        RevenueReversal._meta.db_table,
    )
    results = []
    unbalanced = scalar(
        f"SELECT COUNT(*) FROM (SELECT entry_id FROM {lines} GROUP BY entry_id "  # noqa: S608
        "HAVING SUM(debit) <> SUM(credit) OR SUM(debit) <= 0) AS x"
    )
    results.append(("every entry balances (SQL)", unbalanced == 0, f"{unbalanced} unbalanced"))
    empty = scalar(
        f"SELECT COUNT(*) FROM {entries} e WHERE NOT EXISTS "  # noqa: S608
        f"(SELECT 1 FROM {lines} l WHERE l.entry_id = e.id)"
    )
    results.append(("no entry without lines", empty == 0, f"{empty} empty"))
    for currency in ("USD", "EUR"):
        rows = trial_balance(currency=currency)
        total = sum((row["balance"] for row in rows), Decimal(0))
        results.append((f"trial balance {currency} sums to 0", total == 0, f"sum {total}"))
        report = deferred_roll_forward(currency=currency, first=first, last=last)
        closing = report["months"][-1]["closing"]
        results.append(
            (f"roll-forward {currency} balanced", report["balanced"], f"closing {closing}")
        )
    wrong = scalar(
        f"SELECT COUNT(*) FROM {sched} s LEFT JOIN "  # noqa: S608
        f"(SELECT schedule_id, SUM(amount) AS total FROM {rec} GROUP BY schedule_id) r "
        "ON r.schedule_id = s.id LEFT JOIN "
        f"(SELECT schedule_id, SUM(from_deferred) AS total FROM {rev} GROUP BY schedule_id) v "
        "ON v.schedule_id = s.id "
        "WHERE COALESCE(r.total, 0) <> s.amount - COALESCE(v.total, 0)"
    )
    results.append(("schedule lines = amount - credits off deferred", wrong == 0, f"{wrong} off"))
    unposted = scalar(
        f"SELECT COUNT(*) FROM {rec} WHERE month <= %s AND amount <> posted",  # noqa: S608
        [last.first_day],
    )
    results.append(("closed months fully posted", unposted == 0, f"{unposted} lines unposted"))
    journal = scalar(
        f"SELECT COALESCE(SUM(l.debit - l.credit), 0) FROM {lines} l JOIN {entries} e "  # noqa: S608
        "ON e.id = l.entry_id WHERE e.kind = 'recognition' AND l.role = 'deferred_revenue'"
    )
    posted = scalar(f"SELECT COALESCE(SUM(posted), 0) FROM {rec}")  # noqa: S608
    results.append(
        ("journal recognition = lines posted", journal == posted, f"{journal} vs {posted}")
    )
    return results


# -- Main ------------------------------------------------------------------------------------


def row_counts() -> list[tuple[str, object]]:
    kinds = dict(JournalEntry.objects.order_by().values_list("kind").annotate(count=Count("id")))
    return [
        ("invoices", Invoice.objects.count()),
        ("invoice lines", InvoiceLine.objects.count()),
        ("billing events", BillingEvent.objects.count()),
        ("schedules", RevenueSchedule.objects.count()),
        ("recognition lines", RecognitionLine.objects.count()),
        ("reversals", RevenueReversal.objects.count()),
        ("journal entries", JournalEntry.objects.count()),
        ("  by kind", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))),
        ("journal lines", JournalLine.objects.count()),
        ("mrr segments", MrrSegment.objects.count()),
    ]


def vacuum() -> float:
    """VACUUM ANALYZE the database: what autovacuum does between a bill run and a close
    (fresh bulk rows have no statistics until then, and plans on them go wrong)."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def out(name: str, value: object) -> None:
    print(f"{name:34} {value}", flush=True)


def month_run(args, m: int, billing, per_month: int, profile) -> None:
    """Bill month m, credit a few invoices, read the log and close the month, printing."""
    month = Month.of(month_start(m).date())
    as_of = month_start(m) + timedelta(days=1)
    out(f"-- {month}", "")
    if billing is not None:
        (invoices, lines, events), seconds = timed(billing.month, as_of)
        what = f"bulk: {invoices} invoices, {lines} lines, {events} events"
    else:
        run, seconds = timed(bill_run_execute, as_of=as_of, at=as_of)
        what = f"bill run: {run.invoices_created} invoices, {run.lines_created} lines"
    out("  seed (s)", f"{seconds:.1f}  ({what})")
    credit_at = as_of + timedelta(days=10)
    notes, seconds = timed(credit_notes, as_of, per_month, credit_at)
    out("  credit notes", f"{notes} in {seconds:.1f} s")
    read = EventCursor.objects.filter(consumer=CONSUMER).values_list("last_event_id", flat=True)
    events = BillingEvent.objects.filter(pk__gt=read.first() or 0).count()
    before = load()
    _, seconds = timed(reports_events_consume_all, at=credit_at + timedelta(hours=1))
    out("  consume (s)", f"{seconds:.1f}  ({events} events, {events / seconds:.0f}/s)")
    out("  load before/after consume", f"{before} | {load()}")
    if args.vacuum:
        out("  VACUUM ANALYZE (s)", f"{vacuum():.1f}")
    close_at = datetime.combine(month.next().first_day, datetime.min.time(), tzinfo=UTC)
    entries = JournalEntry.objects.count()
    before = load()
    if profile:
        profile.enable()
    _, seconds = timed(
        month_close,
        month=month.first_day,
        at=close_at + timedelta(hours=6),
        actor="bench",
        consume=reports_events_consume_all,
    )
    if profile:
        profile.disable()
    posted = JournalEntry.objects.count() - entries
    verdict = "ok" if seconds <= 60 else "OVER 60 s"
    out("  close (s)", f"{seconds:.1f}  ({posted} entries posted) {verdict}")
    out("  load before/after close", f"{before} | {load()}")


def main(args: argparse.Namespace) -> None:
    if connection.vendor != "postgresql":
        print("warning: not PostgreSQL; the targets are for PostgreSQL", file=sys.stderr)
    out("database", f"{connection.vendor} {connection.settings_dict['NAME']}")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            out("autovacuum", cursor.fetchone()[0])
    out("load (1/5/15 min) start", load())
    if args.reports_only:
        closed = list(MonthClose.objects.order_by("month").values_list("month", flat=True))
        if not closed:
            sys.exit("--reports-only needs a database with closed months.")
        first, last = Month.of(closed[0]), Month.of(closed[-1])
        if args.vacuum:
            out("VACUUM ANALYZE (s)", f"{vacuum():.1f}")
    else:
        if not args.fresh:
            call_command("migrate", verbosity=0)
        if JournalEntry.objects.exists() or Subscription.objects.exists():
            sys.exit("The database holds subscriptions or a journal already: use --fresh.")
        tax_setup(False)
        out("subscriptions", args.n)
        out("months", args.months)
        out("seed", args.seed)
        subs, seconds = timed(subscriptions_seed, args.n, args.seed == "bill_run")
        out("seed subscriptions (s)", f"{seconds:.1f}")
        billing = BulkBilling(subs) if args.seed == "bulk" else None
        if billing is not None and args.activations == "rebuild":
            last_id = billing.activations()
            segments, seconds = timed(mrr_rebuild_all, at=START)
            EventCursor.objects.update_or_create(
                consumer=CONSUMER, defaults={"last_event_id": last_id}
            )
            out("activations", "read by mrr_rebuild_all before month 1 (not consumed)")
            out("mrr_rebuild_all (s)", f"{seconds:.1f}  ({segments} segments)")
        else:
            out("activations", "consumed in month 1 (one MRR refresh each)")
        per_month = args.credit_notes if args.credit_notes is not None else max(1, args.n // 2000)
        profile = cProfile.Profile() if args.profile else None
        for m in range(args.months):
            month_run(args, m, billing, per_month, profile)
        if profile:
            profile.dump_stats(args.profile)
            out("profile of the closes", args.profile)
        first, last = Month.of(month_start(0).date()), Month.of(month_start(args.months - 1).date())
        if args.vacuum:
            out("VACUUM ANALYZE (s)", f"{vacuum():.1f}")
    out(f"-- reports {first} to {last} (median of {args.calls} calls)", "")
    for name, seconds, verdict in reports(first, last, args.calls):
        out(f"  {name}", f"{seconds:.3f} s  {verdict}")
    out("-- rows", "")
    for name, value in row_counts():
        out(f"  {name}", value)
    out("-- invariants", "")
    checks = invariants(first, last)
    for name, ok, detail in checks:
        out(f"  {name}", f"{'ok' if ok else 'FAILED'}  ({detail})")
    out("load (1/5/15 min) end", load())
    if not all(ok for _, ok, _ in checks):
        sys.exit(1)


if __name__ == "__main__":
    main(ARGS)
