"""Read-only staff pages in the admin's chrome. Each is wrapped by `admin.site.admin_view`
(staff login) in reports/urls.py and checks its own view permission."""

from collections import defaultdict
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from billing.models import Invoice
from catalog.validators import validate_currency
from customers.models import Customer
from reports.selectors import customer_360_get
from reports.tax_report import COLUMNS, tax_report, tax_report_csv

# Section of the 360 page -> the permission that shows it (the page itself needs the first).
SECTION_PERMISSIONS = {
    "customer": "customers.view_customer",
    "subscriptions": "billing.view_subscription",
    "events": "billing.view_billingevent",
    "invoices": "billing.view_invoice",
    "payments": "billing.view_payment",
    "balance": "billing.view_balancetransaction",
    "dunning": "billing.view_dunningcase",
    "entitlements": "provisioning.view_provisionedentitlement",
    "orders": "provisioning.view_order",
    "drift": "provisioning.view_driftfinding",
}


@require_safe
def customer_360(request, pk: int):
    """One customer on one screen: profile, subscriptions with their history, invoices,
    payments, balance, usage against quotas, entitlements, orders, dunning, the timeline."""
    if not request.user.has_perm(SECTION_PERMISSIONS["customer"]):
        raise PermissionDenied
    customer = get_object_or_404(Customer, pk=pk)
    data = customer_360_get(customer=customer, at=timezone.now())
    can = {name: request.user.has_perm(perm) for name, perm in SECTION_PERMISSIONS.items()}
    context = {
        **admin.site.each_context(request),
        "title": f"Customer 360: {customer}",
        "subtitle": None,
        "opts": Customer._meta,
        "data": data,
        "customer": customer,
        "can": can,
    }
    return TemplateResponse(request, "admin/reports/customer_360.html", context)


# The tax report: the sums of invoices' and credit notes' tax, both needed to see it.
TAX_REPORT_PERMISSIONS = ("billing.view_invoice", "billing.view_creditnote")


class CurrencyField(forms.CharField):
    def to_python(self, value):
        return super().to_python(value).upper()


class TaxReportForm(forms.Form):
    """`?from=&to=&currency=` (all optional): the API's parameters and names."""

    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    currency = CurrencyField(
        required=False, max_length=3, validators=[validate_currency], help_text="e.g. EUR"
    )

    def add_prefix(self, field_name):
        return {"date_from": "from", "date_to": "to"}.get(field_name, field_name)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The last day is before the first.")
        return cleaned


def _tax_report_filename(data: dict) -> str:
    parts = ["tax-report"]
    parts += [str(data[key]) for key in ("date_from", "date_to", "currency") if data.get(key)]
    return "-".join(parts) + ".csv"


@require_safe
def tax_report_page(request):
    """Tax per jurisdiction, name and rate over a period of tax points (credit notes netted),
    with its totals per currency; `?format=csv` downloads the rows."""
    if not all(request.user.has_perm(perm) for perm in TAX_REPORT_PERMISSIONS):
        raise PermissionDenied
    form = TaxReportForm(request.GET)
    rows = []
    if form.is_valid():
        data = form.cleaned_data
        rows = tax_report(
            date_from=data["date_from"],
            date_to=data["date_to"],
            currency=data["currency"] or None,
        )
        if request.GET.get("format") == "csv":
            response = HttpResponse(tax_report_csv(rows), content_type="text/csv; charset=utf-8")
            filename = _tax_report_filename(data)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"taxable_amount": Decimal(0), "tax_amount": Decimal(0)}
    )
    for row in rows:
        totals[row["currency"]]["taxable_amount"] += row["taxable_amount"]
        totals[row["currency"]]["tax_amount"] += row["tax_amount"]
    query = request.GET.copy()
    query["format"] = "csv"
    context = {
        **admin.site.each_context(request),
        "title": "Tax report",
        "subtitle": None,
        "opts": Invoice._meta,
        "form": form,
        "rows": rows,
        "columns": COLUMNS,
        "totals": dict(totals),
        "csv_query": query.urlencode(),
    }
    return TemplateResponse(request, "admin/reports/tax_report.html", context)
