"""Template tags of the operations console: money, the staff dashboard on the admin index,
and small server-rendered SVG bar charts."""

from dataclasses import dataclass
from decimal import Decimal

from django import template
from django.utils import timezone

from billing.invoicing.services.documents import money as money_text
from provisioning.models import DriftKind
from reports.selectors import (
    DayCounts,
    bill_runs_recent,
    churn_recent,
    drift_latest,
    invoices_overdue,
    mrr_arr_by_currency,
    orders_stuck,
    payments_failed_counts,
    payments_per_day,
    subscription_moves_per_day,
)

register = template.Library()

# Dashboard block -> the view permission that shows it.
DASHBOARD_PERMISSIONS = {
    "mrr": "billing.view_subscription",
    "payments": "billing.view_payment",
    "invoices": "billing.view_invoice",
    "orders": "provisioning.view_order",
    "drift": "provisioning.view_driftauditrun",
    "bill_runs": "billing.view_billrun",
    "revenue": "reports.view_journalentry",
}

CHART_HEIGHT = 80
BAR_WIDTH = 10
BAR_GAP = 3


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """`{{ invoice.total|money:invoice.currency }}` → "1,234.50 USD"."""
    if amount is None:
        return "-"
    return money_text(Decimal(amount), currency)


@dataclass(frozen=True)
class Bar:
    x: int
    y_ok: int
    h_ok: int
    y_bad: int
    h_bad: int
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    total_ok: int
    total_bad: int
    first: str
    last: str


def stacked_bars(
    days: list[DayCounts],
    ok_label: str = "succeeded",
    bad_label: str = "failed",
    height: int = CHART_HEIGHT,
) -> Chart:
    """Geometry of a stacked bar chart (`ok` below, `bad` on top), scaled to the busiest
    day; integer pixels."""
    peak = max((d.ok + d.bad for d in days), default=0)
    scale = height / peak if peak else 0
    bars, step = [], BAR_WIDTH + BAR_GAP
    for i, d in enumerate(days):
        h_ok = round(d.ok * scale)
        h_bad = round(d.bad * scale)
        y_ok = height - h_ok
        bars.append(
            Bar(
                x=i * step,
                y_ok=y_ok,
                h_ok=h_ok,
                y_bad=y_ok - h_bad,
                h_bad=h_bad,
                label=f"{d.day:%Y-%m-%d}: {d.ok} {ok_label}, {d.bad} {bad_label}",
            )
        )
    return Chart(
        width=max(len(days) * step - BAR_GAP, 0),
        height=height,
        bars=bars,
        peak=peak,
        total_ok=sum(d.ok for d in days),
        total_bad=sum(d.bad for d in days),
        first=f"{days[0].day:%b %d}" if days else "",
        last=f"{days[-1].day:%b %d}" if days else "",
    )


@register.inclusion_tag("admin/reports/dashboard.html", takes_context=True)
def staff_dashboard(context) -> dict:
    """The figures of the day for the admin index; each block only for staff who may view
    its data (a block the user may not see is not even computed)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"show": False}
    can = {name: user.has_perm(perm) for name, perm in DASHBOARD_PERMISSIONS.items()}
    at = timezone.now()
    result: dict = {"show": any(can.values()), "can": can, "at": at}
    if can["mrr"]:
        result["mrr"] = mrr_arr_by_currency(at=at)
        result["churn"] = churn_recent(at=at)
        result["moves"] = stacked_bars(
            subscription_moves_per_day(at=at, days=30), "activated", "canceled"
        )
    if can["payments"]:
        result["failed"] = payments_failed_counts(at=at)
        result["chart"] = stacked_bars(payments_per_day(at=at, days=30))
    if can["invoices"]:
        result["overdue"] = invoices_overdue(at=at)
    if can["orders"]:
        result["stuck"] = orders_stuck()
    if can["drift"]:
        result["drift"] = drift_latest()
        result["drift_kinds"] = [(DriftKind(k).label, n) for k, n in result["drift"].by_kind]
    if can["bill_runs"]:
        result["bill_runs"] = bill_runs_recent(at=at)
    result["can_find_customers"] = user.has_perm("customers.view_customer")
    return result
