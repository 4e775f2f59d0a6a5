"""Template tags of the operations console: money and the staff dashboard on the admin index
(a date range, its figures each linked to the admin list it counts, and server-drawn SVG
charts with axes and values: reports/revenue_charts.py)."""

from datetime import date, datetime
from decimal import Decimal

from django import forms, template
from django.utils import timezone

from billing.invoicing.services.documents import money as money_text
from provisioning.models import DriftKind
from reports.dashboard import (
    MAX_DAYS,
    CurrencyAgeing,
    CurrencyRevenue,
    DateRange,
    admin_query,
    bill_run_failures,
    bill_run_latest,
    default_range,
    orders_not_progressing,
    payments_failed_in_range,
    payments_in_review,
    receivables_ageing_totals,
    revenue_in_range,
)
from reports.revenue_charts import Series, value_chart
from reports.selectors import churn_recent, drift_latest

register = template.Library()

# Dashboard block -> the view permission that shows it. MRR, ARR, movements and deferred
# revenue are the revenue reports' figures: they need the reports' view permission.
DASHBOARD_PERMISSIONS = {
    "churn": "billing.view_subscription",
    "payments": "billing.view_payment",
    "invoices": "billing.view_invoice",
    "orders": "provisioning.view_order",
    "drift": "provisioning.view_driftauditrun",
    "bill_runs": "billing.view_billrun",
    "revenue": "reports.view_journalentry",
}


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """`{{ invoice.total|money:invoice.currency }}` → "1,234.50 USD"."""
    if amount is None:
        return "-"
    return money_text(Decimal(amount), currency)


class DashboardRangeForm(forms.Form):
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD` of the dashboard: both days included, UTC."""

    first = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, *, today: date):
        super().__init__(data)
        self.today = today

    def add_prefix(self, field_name):
        return {"first": "from", "last": "to"}.get(field_name, field_name)

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if first and last:
            if last < first:
                raise forms.ValidationError("The range ends before it starts.")
            if last > self.today:
                raise forms.ValidationError("The range cannot end after today.")
            if (last - first).days + 1 > MAX_DAYS:
                raise forms.ValidationError(f"At most {MAX_DAYS} days at once.")
        return cleaned


def dashboard_range(request, now: datetime) -> tuple[DashboardRangeForm, DateRange]:
    """The range the request asks for, or the last 30 days (with the form's errors) when it
    asks for none or a bad one."""
    default = default_range(now)
    data = {"from": default.first.isoformat(), "to": default.last.isoformat()}
    asked = {key: request.GET[key] for key in data if request and request.GET.get(key)}
    form = DashboardRangeForm({**data, **asked}, today=default.last)
    if asked and form.is_valid():
        return form, DateRange(form.cleaned_data["first"], form.cleaned_data["last"])
    if asked:
        form.is_valid()  # the errors stay on the form; the figures use the defaults
    return form, default


AGEING_COLUMNS = [
    ("Current", ""),
    ("1–30", "days"),
    ("31–60", "days"),
    ("61–90", "days"),
    ("Over 90", "days"),
]


def ageing_chart(section: CurrencyAgeing):
    return value_chart(
        [bucket.label for bucket in section.buckets],
        [Series("Owed", "#c62828", [bucket.amount for bucket in section.buckets])],
        currency=section.currency,
        column_labels=AGEING_COLUMNS,
    )


def mrr_chart(revenue: CurrencyRevenue):
    months = [row["month"] for row in revenue.months]
    return value_chart(
        months,
        [Series("MRR at month end", "#1565c0", [row["end"] for row in revenue.months])],
        currency=revenue.currency,
    )


@register.inclusion_tag("admin/reports/dashboard.html", takes_context=True)
def staff_dashboard(context) -> dict:
    """The figures of a date range (`?from=&to=`, the last 30 days by default) for the admin
    index; each block only for staff who may view its data (a block the user may not see is
    not even computed)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"show": False}
    can = {name: user.has_perm(perm) for name, perm in DASHBOARD_PERMISSIONS.items()}
    now = timezone.now()
    form, period = dashboard_range(request, now)
    result: dict = {
        "show": any(can.values()),
        "can": can,
        "at": now,
        "form": form,
        "period": period,
        "as_of": period.end_at(now),
    }
    if can["revenue"]:
        revenue = revenue_in_range(period=period, now=now)
        result["revenue"] = [(row, mrr_chart(row)) for row in revenue]
        result["revenue_query"] = admin_query(**{"from": period.months[0], "to": period.months[-1]})
    if can["churn"]:
        result["churn"] = churn_recent(at=period.end, days=period.days)
    if can["payments"]:
        result["failed"] = payments_failed_in_range(period=period)
        result["review"] = payments_in_review()
    if can["invoices"]:
        ageing = receivables_ageing_totals(as_of=period.last)
        result["ageing"] = [(section, ageing_chart(section)) for section in ageing]
    if can["orders"]:
        result["stuck"] = orders_not_progressing(now=now)
    if can["drift"]:
        result["drift"] = drift_latest()
        result["drift_kinds"] = [(DriftKind(k).label, n) for k, n in result["drift"].by_kind]
    if can["bill_runs"]:
        result["bill_run_latest"] = bill_run_latest()
        result["bill_run_failures"] = bill_run_failures(period=period)
    result["can_find_customers"] = user.has_perm("customers.view_customer")
    return result
