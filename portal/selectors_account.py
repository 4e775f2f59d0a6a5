"""Reads behind the portal's account pages: the account at a glance, the plan's terms, the
customer's billing documents. Only reads, composed from the selectors of billing and
provisioning; every query is scoped to the one customer passed in."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from billing.invoicing.selectors import subscription_upcoming_invoice
from billing.invoicing.services.documents import money, period_label, unit_price
from billing.models import (
    CreditNote,
    DunningCase,
    DunningStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentMethodStatus,
    PaymentStatus,
    Subscription,
    SubscriptionAddOn,
    SubscriptionStatus,
)
from billing.payments.services.incomplete import incomplete_hours
from catalog.models import AddOn, Charge, Entitlement, FeatureKind, Plan, ServiceLevel
from customers.models import Customer
from provisioning.selectors import EntitlementUsage, customer_entitlement_list

S = SubscriptionStatus
#: Subscriptions the portal shows: everything not ended.
SHOWN_STATUSES = [S.PENDING, S.INCOMPLETE, S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED, S.SUSPENDED]
NEAR_PERCENT = Decimal(80)
FULL_PERCENT = Decimal(100)
HUNDRED = Decimal(100)


# Usage against limits
@dataclass(frozen=True)
class LimitUsage:
    """One entitlement with how much of its limit is used (quota and seats features)."""

    entitlement: EntitlementUsage
    percent: Decimal | None  # None: unlimited, or on/off
    level: str  # "ok", "near" (≥ 80 %), "over" (≥ 100 %), "" when there is no bar

    @property
    def feature(self):
        return self.entitlement.feature

    @property
    def bar_width(self) -> int:
        """The bar's filled part, 0..100 (a use over the limit fills it)."""
        if self.percent is None:
            return 0
        return int(min(self.percent, HUNDRED))


def usage_percent(used: Decimal | None, limit: int | None) -> Decimal | None:
    """`used` as a percentage of `limit`, to one decimal place; None when unlimited. A limit of
    0 is 100 % used as soon as it exists (nothing may be used)."""
    if used is None or limit is None:
        return None
    if limit == 0:
        return HUNDRED
    return (used * HUNDRED / Decimal(limit)).quantize(Decimal("0.1"))


def usage_level(percent: Decimal | None) -> str:
    if percent is None:
        return ""
    if percent >= FULL_PERCENT:
        return "over"
    if percent >= NEAR_PERCENT:
        return "near"
    return "ok"


def limit_usages(entitlements: list[EntitlementUsage]) -> list[LimitUsage]:
    """The enabled quota and seats entitlements, with their use of the limit."""
    result = []
    for row in entitlements:
        if row.feature.kind == FeatureKind.BOOLEAN or not row.enabled:
            continue
        percent = usage_percent(row.usage, row.limit)
        result.append(LimitUsage(row, percent, usage_level(percent)))
    return result


# Alerts
@dataclass(frozen=True)
class Alert:
    level: str  # "bad" or "warn"
    kind: str  # payment_failed, payment_action, invoice_overdue, dunning, quota_near, quota_over
    message: str
    invoice_id: int | None = None


def incomplete_hours_label() -> str:
    hours = int(incomplete_hours().total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def _open_invoices(customer: Customer) -> QuerySet[Invoice]:
    return Invoice.objects.filter(
        customer=customer, status=InvoiceStatus.OPEN, amount_due__gt=0
    ).order_by("due_at", "pk")


def account_alerts(*, customer: Customer, usages: list[LimitUsage], at: datetime) -> list[Alert]:
    """What the customer should act on: an open invoice whose last payment failed or needs
    authentication, an overdue open invoice, an active dunning case, a quota or seat limit
    80 % used or more. Most urgent first."""
    alerts: list[Alert] = []
    open_invoices = list(_open_invoices(customer))
    last_payment: dict[int, Payment] = {}
    for payment in Payment.objects.filter(invoice__in=open_invoices).order_by("created_at", "pk"):
        last_payment[payment.invoice_id] = payment
    dunning = set(
        DunningCase.objects.filter(customer=customer, status=DunningStatus.ACTIVE).values_list(
            "invoice_id", flat=True
        )
    )
    incomplete = {  # first invoices of new subscriptions whose first charge failed
        sub.first_invoice_id: sub
        for sub in Subscription.objects.filter(customer=customer, status=S.INCOMPLETE)
        .select_related("plan")
        .order_by("pk")
    }
    for invoice in open_invoices:
        due = money(invoice.amount_due, invoice.currency)
        payment = last_payment.get(invoice.pk)
        in_dunning = invoice.pk in dunning
        starts = ""
        if invoice.pk in incomplete:
            starts = (
                f" Your {incomplete[invoice.pk].plan.name} subscription starts once it is "
                f"paid; unpaid, it lapses {incomplete_hours_label()} after it was issued."
            )
        if payment is not None and payment.status == PaymentStatus.FAILED:
            reason = payment.failure_message or payment.failure_code
            retrying = (
                " We will retry it; pay now or add a card to avoid a suspension."
                if in_dunning
                else starts
            )
            alerts.append(
                Alert(
                    "bad",
                    "payment_failed",
                    f"The payment of invoice {invoice.number} ({due}) failed: {reason}{retrying}",
                    invoice.pk,
                )
            )
            continue
        if payment is not None and payment.status == PaymentStatus.REQUIRES_ACTION:
            alerts.append(
                Alert(
                    "warn",
                    "payment_action",
                    f"The payment of invoice {invoice.number} ({due}) waits for you to "
                    f"authenticate it with your bank.{starts}",
                    invoice.pk,
                )
            )
        if in_dunning:
            alerts.append(
                Alert(
                    "bad",
                    "dunning",
                    f"Invoice {invoice.number} ({due}) is being retried after a failed "
                    "payment; pay it or add a card to avoid a suspension.",
                    invoice.pk,
                )
            )
        elif invoice.due_at is not None and invoice.due_at < at:
            alerts.append(
                Alert(
                    "bad",
                    "invoice_overdue",
                    f"Invoice {invoice.number} ({due}) is overdue.",
                    invoice.pk,
                )
            )
    for usage in usages:
        if usage.level in ("near", "over"):
            row = usage.entitlement
            alerts.append(
                Alert(
                    "bad" if usage.level == "over" else "warn",
                    f"quota_{usage.level}",
                    f"{row.feature.name}: {_number(row.usage)} of {row.limit} used "
                    f"({usage.percent}%).",
                )
            )
    return alerts


def _number(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


# The account at a glance
@dataclass(frozen=True)
class PreviewLine:
    description: str
    period: str
    amount: str


@dataclass(frozen=True)
class SubscriptionSummary:
    subscription: Subscription
    period: str
    next_invoice_lines: list[PreviewLine]
    next_invoice_total: str
    next_invoice_period: str
    addons: list[SubscriptionAddOn]


@dataclass(frozen=True)
class AccountOverview:
    customer: Customer
    subscriptions: list[SubscriptionSummary]
    usages: list[LimitUsage]
    entitlements: list[EntitlementUsage]
    alerts: list[Alert]
    default_method: PaymentMethod | None
    open_invoice_count: int


def _preview_lines(lines: list[InvoiceLine], currency: str, tz: ZoneInfo) -> list[PreviewLine]:
    return [
        PreviewLine(
            line.description,
            period_label(line.period_start, line.period_end, tz),
            money(line.amount, currency),
        )
        for line in lines
    ]


def customer_subscriptions(customer: Customer) -> QuerySet[Subscription]:
    return (
        Subscription.objects.filter(customer=customer, status__in=SHOWN_STATUSES)
        .select_related("plan", "plan__product", "plan__service_level")
        .order_by("pk")
    )


def subscription_summary(*, sub: Subscription, at: datetime) -> SubscriptionSummary:
    tz = ZoneInfo(sub.customer.timezone)
    upcoming = subscription_upcoming_invoice(sub=sub)
    addons = list(
        SubscriptionAddOn.objects.filter(subscription=sub, started_at__lte=at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .select_related("addon")
        .order_by("pk")
    )
    return SubscriptionSummary(
        subscription=sub,
        period=period_label(sub.current_period_start, sub.current_period_end, tz),
        next_invoice_lines=_preview_lines(upcoming.preview_lines, upcoming.currency, tz),
        next_invoice_total=money(upcoming.total, upcoming.currency),
        next_invoice_period=period_label(upcoming.period_start, upcoming.period_end, tz),
        addons=addons,
    )


def account_overview(*, customer: Customer, at: datetime) -> AccountOverview:
    """Everything the overview page shows, at `at`."""
    entitlements = customer_entitlement_list(customer=customer, at=at)
    usages = limit_usages(entitlements)
    return AccountOverview(
        customer=customer,
        subscriptions=[
            subscription_summary(sub=sub, at=at) for sub in customer_subscriptions(customer)
        ],
        usages=usages,
        entitlements=entitlements,
        alerts=account_alerts(customer=customer, usages=usages, at=at),
        default_method=PaymentMethod.objects.filter(
            customer=customer, status=PaymentMethodStatus.ACTIVE, is_default=True
        ).first(),
        open_invoice_count=_open_invoices(customer).count(),
    )


# The plan's terms
@dataclass(frozen=True)
class PriceRow:
    label: str
    value: str


@dataclass(frozen=True)
class ChargeTerms:
    charge: Charge
    model_label: str
    rows: list[PriceRow]  # standard, package, percentage: label/value pairs
    tiers: list[PriceRow] = field(default_factory=list)  # graduated / volume: range → price


@dataclass(frozen=True)
class PolicyRow:
    feature_name: str
    kind: str
    value: str  # "Included", "Not included", "1,000 per period", "Unlimited", "2 seats"


@dataclass(frozen=True)
class AddOnTerms:
    addon: AddOn
    price: str
    policy: list[PolicyRow]
    on_subscription: int  # quantity on the subscription now (0: not added)


@dataclass(frozen=True)
class PlanTerms:
    subscription: Subscription
    plan: Plan
    base_price: str
    trial: str
    charges: list[ChargeTerms]
    policy: list[PolicyRow]
    addons: list[AddOnTerms]
    sla: ServiceLevel | None = None


def _interval(plan: Plan) -> str:
    unit = plan.interval
    if plan.interval_count == 1:
        return f"per {unit}"
    return f"every {plan.interval_count} {unit}s"


def _count(value: int) -> str:
    return f"{value:,}"


def policy_value(kind: str, enabled: bool, limit: int | None) -> str:
    if kind == FeatureKind.BOOLEAN or not enabled:
        return "Included" if enabled else "Not included"
    if limit is None:
        return "Unlimited"
    if kind == FeatureKind.SEATS:
        return f"{_count(limit)} seat{'s' if limit != 1 else ''}"
    return f"{_count(limit)} per billing period"


def _policy(rows, quantity: int = 1) -> list[PolicyRow]:
    """Each feature of `rows`; seats are per unit bought, so a seats limit shows as the
    subscription's total (× `quantity`), as provisioning counts it."""
    return [
        PolicyRow(
            row.feature.name,
            row.feature.get_kind_display(),
            _seats_value(row.enabled, row.limit, quantity)
            if row.feature.kind == FeatureKind.SEATS
            else policy_value(row.feature.kind, row.enabled, row.limit),
        )
        for row in rows
    ]


def _seats_value(enabled: bool, limit: int | None, quantity: int) -> str:
    total = policy_value(FeatureKind.SEATS, enabled, None if limit is None else limit * quantity)
    if enabled and limit is not None and limit != 1 and quantity != 1:
        return f"{total} ({_count(limit)} per unit × {quantity})"
    return total


def _price(value: str | None, currency: str) -> str:
    return money(Decimal(value or "0"), currency)


def _unit_price(value: str | None, currency: str) -> str:
    return unit_price(Decimal(value or "0"), currency)


def charge_terms(charge: Charge, currency: str) -> ChargeTerms:
    """A usage charge's prices, readable: per unit, tiers, packages or a percentage."""
    props, unit = charge.properties or {}, charge.metric.name
    rows: list[PriceRow] = []
    tiers: list[PriceRow] = []
    if charge.model == "standard":
        rows.append(PriceRow(f"Per {unit}", _unit_price(props.get("unit_amount"), currency)))
    elif charge.model in ("graduated", "volume"):
        start = 0
        for tier in props.get("tiers", []):
            up_to = tier.get("up_to")
            span = (
                f"{_count(start + 1)} and above"
                if up_to is None
                else (f"{_count(start + 1)} – {_count(up_to)}")
            )
            price = f"{_unit_price(tier.get('unit_amount'), currency)} each"
            if Decimal(tier.get("flat_amount") or "0"):
                price += f" + {_price(tier.get('flat_amount'), currency)} flat"
            tiers.append(PriceRow(span, price))
            start = up_to or start
    elif charge.model == "package":
        size = props.get("package_size", 1)
        rows.append(
            PriceRow(f"Per package of {_count(size)}", _price(props.get("amount"), currency))
        )
        if props.get("free_units"):
            rows.append(PriceRow("Free units", _count(props["free_units"])))
    elif charge.model == "percentage":
        rows.append(PriceRow("Rate", f"{Decimal(props.get('rate', '0')).normalize():f}%"))
        if Decimal(props.get("fixed_amount") or "0"):
            rows.append(PriceRow("Per event", _price(props["fixed_amount"], currency)))
        if props.get("free_events"):
            rows.append(PriceRow("Free events", _count(props["free_events"])))
        if props.get("per_event_min") is not None:
            rows.append(PriceRow("Minimum per event", _price(props["per_event_min"], currency)))
        if props.get("per_event_max") is not None:
            rows.append(PriceRow("Maximum per event", _price(props["per_event_max"], currency)))
    return ChargeTerms(charge, charge.get_model_display(), rows, tiers)


def plan_terms(*, sub: Subscription, at: datetime) -> PlanTerms:
    plan = sub.plan
    charges = [
        charge_terms(charge, plan.currency)
        for charge in Charge.objects.filter(plan=plan)
        .select_related("metric")
        .order_by("position", "pk")
    ]
    policy = _policy(
        Entitlement.objects.filter(plan=plan).select_related("feature").order_by("feature__code"),
        sub.quantity,
    )
    on_sub = dict(
        SubscriptionAddOn.objects.filter(subscription=sub, started_at__lte=at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .values_list("addon_id", "quantity")
    )
    addons = [
        AddOnTerms(
            addon,
            f"{money(addon.amount, addon.currency)} {addon.get_interval_display().lower()}",
            _policy(addon.entitlements.select_related("feature").order_by("feature__code")),
            on_sub.get(addon.pk, 0),
        )
        for addon in AddOn.objects.filter(
            Q(active=True, currency=plan.currency) | Q(pk__in=list(on_sub))
        ).order_by("code")
    ]
    quantity = f" × {sub.quantity}" if sub.quantity > 1 else ""
    return PlanTerms(
        subscription=sub,
        plan=plan,
        base_price=f"{money(plan.amount, plan.currency)} {_interval(plan)}{quantity}",
        trial=f"{plan.trial_days} days free" if plan.trial_days else "",
        charges=charges,
        policy=policy,
        addons=addons,
        sla=plan.service_level,
    )


def customer_plan_terms(*, customer: Customer, at: datetime) -> list[PlanTerms]:
    return [plan_terms(sub=sub, at=at) for sub in customer_subscriptions(customer)]


# Documents
def customer_invoices(customer: Customer) -> QuerySet[Invoice]:
    """The customer's invoices, drafts left out (they are not sent yet), newest first."""
    return (
        Invoice.objects.filter(customer=customer)
        .exclude(status=InvoiceStatus.DRAFT)
        .order_by("-issued_at", "-pk")
    )


def customer_credit_notes(customer: Customer) -> QuerySet[CreditNote]:
    return (
        CreditNote.objects.filter(customer=customer)
        .select_related("invoice")
        .order_by("-created_at", "-pk")
    )


def invoice_last_payments(invoices: list[Invoice]) -> dict[int, Payment]:
    """The latest payment of each invoice (for "failed: retry" and "requires action")."""
    last: dict[int, Payment] = {}
    for payment in Payment.objects.filter(invoice__in=invoices).order_by("created_at", "pk"):
        last[payment.invoice_id] = payment
    return last
