"""Reads for the operations console: MRR, the staff dashboard's figures and the customer 360.

Everything here only reads. Amounts are Decimal and kept per currency (never added across
currencies); every function runs a fixed number of queries whatever the number of rows.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Cast

from billing.invoicing.services.credits import customer_balances
from billing.models import (
    BillingEvent,
    DunningCase,
    Invoice,
    InvoiceStatus,
    Payment,
    Subscription,
    SubscriptionAddOn,
    SubscriptionStatus,
    cancel_reason_label,
)
from catalog.models import AddOnInterval
from catalog.money import round_money
from customers.models import Customer
from provisioning.models import (
    DriftAuditRun,
    DriftFinding,
    Order,
    StepStatus,
)
from provisioning.selectors import CustomerEntitlements, customer_entitlements_get

ZERO = Decimal(0)
S = SubscriptionStatus

# MRR counts what customers pay for now: active subscriptions and past-due ones (still
# billed, being chased). Trials, pending starts, paused, suspended and ended ones count 0.
MRR_STATUSES = (S.ACTIVE, S.PAST_DUE)

# Interval units in a year: the monthly amount of a per-period price is
# price × units per year / (12 × interval count), one division (exact for weeks and years).
UNITS_PER_YEAR = {"day": 365, "week": 52, "month": 12, "year": 1}


def monthly_amount(per_period: Decimal, interval: str, interval_count: int) -> Decimal:
    """`per_period` (the price of one billing period) as a monthly amount, unrounded."""
    return per_period * UNITS_PER_YEAR[interval] / Decimal(12 * interval_count)


def subscription_mrr(sub: Subscription, addons: list[SubscriptionAddOn] | None = None) -> Decimal:
    """The monthly recurring revenue of one subscription, unrounded: its base fee × quantity
    plus its open recurring add-ons (billed per period of the subscription, as the bill run
    does), normalised to a month. List prices: discounts and usage are not in MRR. `addons`:
    the subscription's open add-on rows, if already read (else read here)."""
    if sub.status not in MRR_STATUSES:
        return ZERO
    if addons is None:
        addons = list(sub.addons.filter(ended_at__isnull=True).select_related("addon"))
    per_period = sub.plan.amount * sub.quantity
    for row in addons:
        if row.ended_at is None and row.addon.interval != AddOnInterval.ONE_TIME:
            per_period += row.addon.amount * row.quantity
    return monthly_amount(per_period, sub.interval, sub.interval_count)


def mrr_by_currency(*, customer: Customer | None = None) -> dict[str, Decimal]:
    """MRR now per currency (rounded to each currency's minor unit once, on the total), of
    every customer or of one. Two queries."""
    subs = Subscription.objects.filter(status__in=MRR_STATUSES)
    rows = SubscriptionAddOn.objects.filter(
        subscription__status__in=MRR_STATUSES, ended_at__isnull=True
    ).exclude(addon__interval=AddOnInterval.ONE_TIME)
    if customer is not None:
        subs = subs.filter(customer=customer)
        rows = rows.filter(subscription__customer=customer)
    per_period: dict[int, Decimal] = defaultdict(Decimal)
    for sub_id, quantity, amount in rows.order_by().values_list(
        "subscription_id", "quantity", "addon__amount"
    ):
        per_period[sub_id] += amount * quantity
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for pk, currency, quantity, amount, interval, count in subs.order_by().values_list(
        "pk", "currency", "quantity", "plan__amount", "interval", "interval_count"
    ):
        totals[currency] += monthly_amount(amount * quantity + per_period[pk], interval, count)
    return {cur: round_money(total, cur) for cur, total in sorted(totals.items())}


# The dashboard (its date range figures: reports/dashboard.py)
@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    count: int
    amount: Decimal


def invoices_overdue(*, at: datetime, customer: Customer | None = None) -> list[CurrencyTotal]:
    """Open invoices past their due date: count and amount due per currency. One query."""
    invoices = Invoice.objects.filter(status=InvoiceStatus.OPEN, due_at__lt=at)
    if customer is not None:
        invoices = invoices.filter(customer=customer)
    rows = (
        invoices.order_by()
        .values("currency")
        .annotate(n=Count("pk"), due=Sum("amount_due"))
        .order_by("currency")
    )
    return [
        CurrencyTotal(r["currency"], r["n"], round_money(Decimal(r["due"] or 0), r["currency"]))
        for r in rows
    ]


@dataclass(frozen=True)
class DriftSummary:
    run: DriftAuditRun | None
    open_findings: int = 0
    by_kind: list[tuple[str, int]] = field(default_factory=list)


def drift_latest() -> DriftSummary:
    """The latest drift audit run and its findings not repaired yet, by kind. Two queries."""
    run = DriftAuditRun.objects.order_by("-started_at", "-pk").first()
    if run is None:
        return DriftSummary(None)
    rows = (
        DriftFinding.objects.filter(run=run, repaired_at__isnull=True)
        .order_by()
        .values("kind")
        .annotate(n=Count("pk"))
        .order_by("kind")
    )
    by_kind = [(r["kind"], r["n"]) for r in rows]
    return DriftSummary(run, sum(n for _, n in by_kind), by_kind)


@dataclass(frozen=True)
class ChurnSummary:
    voluntary: int
    involuntary: int
    reasons: list[tuple[str, int]]  # (label, subscriptions), most first


def churn_recent(*, at: datetime, days: int = 30) -> ChurnSummary:
    """Subscriptions that ended in the `days` days up to `at`: how many by churn kind, and
    the cancellation reasons given (labels; free text as given). One query."""
    rows = (
        Subscription.objects.filter(
            status=SubscriptionStatus.CANCELED,
            ended_at__gt=at - timedelta(days=days),
            ended_at__lte=at,
        )
        .order_by()
        .values("churn", "cancel_reason")
        .annotate(n=Count("pk"))
    )
    kinds: dict[str, int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    for row in rows:
        kinds[row["churn"] or "voluntary"] += row["n"]
        reasons[cancel_reason_label(row["cancel_reason"]) or "No reason given"] += row["n"]
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    return ChurnSummary(kinds["voluntary"], kinds["involuntary"], ordered)


# The customer 360
RECENT = 25
TIMELINE = 100


@dataclass
class SubscriptionView:
    subscription: Subscription
    mrr: Decimal
    addons: list[SubscriptionAddOn]
    history: list[BillingEvent]


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    what: str
    subject: str
    source: str  # "event" (billing event log) or "admin" (admin change log)
    detail: str = ""


@dataclass
class Customer360:
    customer: Customer
    at: datetime
    contacts: list
    users: list
    subscriptions: list[SubscriptionView]
    mrr: dict[str, Decimal]
    invoices: list[Invoice]
    invoice_count: int
    payments: list[Payment]
    payment_count: int
    balances: dict[str, Decimal]
    open_due: list[CurrencyTotal]
    overdue: list[CurrencyTotal]
    entitlements: CustomerEntitlements
    orders: list[Order]
    dunning_cases: list[DunningCase]
    drift_findings: list[DriftFinding]
    timeline: list[TimelineEntry]


def _ids_as_text(queryset: QuerySet) -> QuerySet:
    """The primary keys of `queryset` as text (LogEntry.object_id is text), as a subquery."""
    return queryset.order_by().annotate(pk_text=Cast("pk", CharField())).values("pk_text")


def admin_log_for_customer(customer: Customer, limit: int = TIMELINE) -> list[LogEntry]:
    """Admin change log entries of the customer and of its subscriptions, invoices, payments,
    orders and dunning cases, newest first. One query (content types are cached)."""
    ct = ContentType.objects.get_for_model
    owned = {
        Subscription: Subscription.objects.filter(customer=customer),
        Invoice: Invoice.objects.filter(customer=customer),
        Payment: Payment.objects.filter(customer=customer),
        Order: Order.objects.filter(customer=customer),
        DunningCase: DunningCase.objects.filter(customer=customer),
    }
    condition = Q(content_type=ct(Customer), object_id=str(customer.pk))
    for model, queryset in owned.items():
        condition |= Q(content_type=ct(model), object_id__in=_ids_as_text(queryset))
    return list(
        LogEntry.objects.filter(condition)
        .select_related("user", "content_type")
        .order_by("-action_time", "-pk")[:limit]
    )


def actor_display(actor: str) -> str:
    """ "user:5:alice" → "alice (staff user #5)"; other labels as they are."""
    kind, _, rest = actor.partition(":")
    if kind == "user" and rest:
        pk, _, name = rest.partition(":")
        return f"{name} (user #{pk})"
    if kind == "api_key" and rest:
        pk, _, name = rest.partition(":")
        return f"API key {name} (#{pk})"
    return actor


def customer_timeline(
    customer: Customer, events: list[BillingEvent], entries: list[LogEntry], limit: int = TIMELINE
) -> list[TimelineEntry]:
    """Billing events and admin log entries together, newest first."""
    timeline = [
        TimelineEntry(
            at=e.occurred_at,
            actor=actor_display(e.actor),
            what=e.kind,
            subject=f"{e.subject_type} #{e.subject_id}",
            source="event",
        )
        for e in events
    ]
    timeline += [
        TimelineEntry(
            at=entry.action_time,
            actor=f"{entry.user.get_username()} (user #{entry.user_id})",
            what={1: "added", 2: "changed", 3: "deleted"}.get(entry.action_flag, "changed"),
            subject=f"{entry.content_type.model} {entry.object_repr}",
            source="admin",
            detail=entry.get_change_message(),
        )
        for entry in entries
    ]
    timeline.sort(key=lambda t: t.at, reverse=True)
    return timeline[:limit]


def customer_360_get(*, customer: Customer, at: datetime) -> Customer360:
    """Everything about one customer for the console, in a fixed number of queries (about
    twenty, whatever the number of subscriptions, invoices, payments, orders or events)."""
    open_addons = Prefetch(
        "addons",
        queryset=SubscriptionAddOn.objects.filter(ended_at__isnull=True).select_related("addon"),
        to_attr="open_addons",
    )
    subs = list(
        Subscription.objects.filter(customer=customer)
        .select_related("plan", "scheduled_plan")
        .prefetch_related(open_addons)
        .order_by("-created_at", "-pk")
    )
    history: dict[str, list[BillingEvent]] = defaultdict(list)
    if subs:
        for event in BillingEvent.objects.filter(
            subject_type=Subscription._meta.label_lower,
            subject_id__in=[str(s.pk) for s in subs],
        ).order_by("occurred_at", "pk"):
            history[event.subject_id].append(event)
    views = [
        SubscriptionView(
            sub, subscription_mrr(sub, sub.open_addons), sub.open_addons, history[str(sub.pk)]
        )
        for sub in subs
    ]
    mrr: dict[str, Decimal] = defaultdict(Decimal)
    for view in views:
        if view.subscription.status in MRR_STATUSES:
            mrr[view.subscription.currency] += view.mrr
    invoices = Invoice.objects.filter(customer=customer)
    payments = Payment.objects.filter(customer=customer)
    open_due = (
        invoices.filter(status=InvoiceStatus.OPEN)
        .order_by()
        .values("currency")
        .annotate(n=Count("pk"), due=Sum("amount_due"))
        .order_by("currency")
    )
    events = list(BillingEvent.objects.filter(customer=customer).order_by("-pk")[:TIMELINE])
    return Customer360(
        customer=customer,
        at=at,
        contacts=list(customer.contacts.order_by("pk")),
        users=list(customer.users.select_related("user").order_by("pk")),
        subscriptions=views,
        mrr={cur: round_money(v, cur) for cur, v in sorted(mrr.items())},
        invoices=list(invoices.order_by("-created_at", "-pk")[:RECENT]),
        invoice_count=invoices.count(),
        payments=list(
            payments.select_related("invoice", "method").order_by("-created_at", "-pk")[:RECENT]
        ),
        payment_count=payments.count(),
        balances=customer_balances(customer),
        open_due=[
            CurrencyTotal(r["currency"], r["n"], round_money(Decimal(r["due"] or 0), r["currency"]))
            for r in open_due
        ],
        overdue=invoices_overdue(at=at, customer=customer),
        entitlements=customer_entitlements_get(customer=customer, at=at),
        orders=list(
            Order.objects.filter(customer=customer)
            .annotate(
                waiting_steps=Count("steps", filter=Q(steps__status=StepStatus.WAITING)),
                failed_steps=Count("steps", filter=Q(steps__status=StepStatus.FAILED)),
            )
            .order_by("-created_at", "-pk")[:RECENT]
        ),
        dunning_cases=list(
            DunningCase.objects.filter(customer=customer)
            .select_related("invoice", "campaign")
            .order_by("-started_at", "-pk")[:RECENT]
        ),
        drift_findings=list(
            DriftFinding.objects.filter(customer=customer, repaired_at__isnull=True)
            .select_related("run")
            .order_by("-run__started_at", "kind")[:RECENT]
        ),
        timeline=customer_timeline(customer, events, admin_log_for_customer(customer)),
    )
