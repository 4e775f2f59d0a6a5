"""The revenue page of the staff console (/admin/reports/revenue/): recognition, deferred
revenue, MRR and its movements, the trial balance and receivables ageing of one currency
over a range of months, with charts, CSV exports and "Post recognition now".

Each view is wrapped by `admin.site.admin_view` (staff login, CSRF) in reports/urls.py and
checks its own permission: the page and its exports need `reports.view_journalentry` (every
staff group has it); posting recognition needs `reports.add_journalentry` and closing a
month (the Month closes admin, reports/admin.py) `reports.add_monthclose` — finance only.

"Post recognition now" posts through the last complete month, not the current one: a
month's recognition is one entry per invoice for the whole month, dated its last day, so
posting the month still running would book revenue for days not yet served. The month in
progress is posted when it is over (by this button or by closing it).
"""

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from catalog.money import format_amount, round_money
from reports.consumer import CONSUMER
from reports.ledger.ageing import BUCKET_LABELS, BUCKETS, receivables_ageing, receivables_ageing_csv
from reports.ledger.closing import month_end, recognition_post
from reports.ledger.exports import (
    journal_csv,
    quickbooks_journal_csv,
    xero_batches,
    xero_manual_journal_csv,
)
from reports.ledger.selectors import entry_out, journal_entries, trial_balance
from reports.metrics.mrr import MONTHS_PER_YEAR
from reports.metrics.selectors import mrr_movements_report
from reports.models import EventCursor, JournalEntry, MonthClose, MrrSegment, RevenueSchedule
from reports.revenue.schedules import Month
from reports.revenue.selectors import (
    MAX_MONTHS,
    deferred_roll_forward,
    deferred_roll_forward_csv,
    month_before,
    months_between,
    recognition_report,
    recognition_report_csv,
    revenue_waterfall,
    revenue_waterfall_csv,
)
from reports.revenue_charts import Series, value_chart

VIEW_PERMISSION = "reports.view_journalentry"
POST_PERMISSION = "reports.add_journalentry"
CLOSE_PERMISSION = "reports.add_monthclose"
AGEING_PERMISSION = "billing.view_invoice"
EXPORT_LIMIT = 100_000
XERO_TAX_RATE = "Tax Exempt"
ZERO = Decimal(0)
MONTH_PATTERN = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")
MRR_CSV_COLUMNS = (
    "month",
    "currency",
    "start",
    "new",
    "expansion",
    "reactivation",
    "contraction",
    "churn",
    "voluntary_churn",
    "involuntary_churn",
    "end",
    "customers_at_start",
    "customers_at_end",
    "new_customers",
    "reactivated_customers",
    "churned_customers",
)
RATES = (
    ("customer_churn", "Customer churn", "customers churned ÷ paying customers at the start"),
    ("gross_mrr_churn", "Gross MRR churn", "(churn + contraction) ÷ start MRR"),
    (
        "net_mrr_churn",
        "Net MRR churn",
        "(churn + contraction − expansion − reactivation) ÷ start MRR",
    ),
    ("nrr", "Net revenue retention", "the starting customers' MRR at the end ÷ at the start"),
    ("grr", "Gross revenue retention", "(start − churn − contraction) ÷ start, on those customers"),
)


# -- Filters -------------------------------------------------------------------------------


class MonthField(forms.CharField):
    """A month as YYYY-MM (the browser's month picker sends that)."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"})

    def to_python(self, value):
        value = super().to_python(value).strip()
        if not value:
            return None
        if not MONTH_PATTERN.match(value):
            raise ValidationError("A month is written YYYY-MM (2026-01).", code="invalid")
        return Month.parse(value)


class RevenueFilterForm(forms.Form):
    """`?currency=&from=YYYY-MM&to=YYYY-MM&as_of=YYYY-MM-DD`, every one defaulted."""

    currency = forms.ChoiceField(help_text="Figures are never added across currencies.")
    first = MonthField(label="From")
    last = MonthField(label="To")
    as_of = forms.DateField(
        label="Ageing as of",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Days past due are counted to this day.",
    )

    def __init__(self, data, *, currencies: list[str]):
        super().__init__(data)
        self.fields["currency"].choices = [(code, code) for code in currencies]

    def add_prefix(self, field_name):
        return {"first": "from", "last": "to"}.get(field_name, field_name)

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if first and last:
            if last < first:
                self.add_error("last", "The last month is before the first.")
            elif len(months_between(first, last)) > MAX_MONTHS:
                self.add_error("last", f"At most {MAX_MONTHS} months at once.")
        return cleaned


def data_currencies() -> list[str]:
    """The currencies anything was booked, posted or counted in. Three queries."""
    found: set[str] = set()
    for model in (RevenueSchedule, JournalEntry, MrrSegment):
        found.update(model.objects.order_by().values_list("currency", flat=True).distinct())
    return sorted(found)


def filter_defaults(at: datetime, currencies: list[str]) -> dict[str, str]:
    """The twelve months to the current one (UTC), the instance's default currency or else
    the first with data, ageing as of today."""
    today = at.astimezone(UTC).date()
    last = Month.of(today)
    first = last
    for _ in range(11):
        first = month_before(first)
    default = settings.DEFAULT_CURRENCY
    currency = default if default in currencies or not currencies else currencies[0]
    return {"currency": currency, "from": str(first), "to": str(last), "as_of": str(today)}


def filter_form(request, at: datetime) -> RevenueFilterForm:
    currencies = data_currencies()
    data = filter_defaults(at, currencies)
    if settings.DEFAULT_CURRENCY not in currencies:
        currencies = sorted({*currencies, settings.DEFAULT_CURRENCY})
    data.update({key: value for key, value in request.GET.items() if value and key in data})
    return RevenueFilterForm(data, currencies=currencies)


def _encode(values: dict[str, str]) -> str:
    query = QueryDict(mutable=True)
    query.update(values)
    return query.urlencode()


# -- The page ------------------------------------------------------------------------------


def _percent(rate: Decimal | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f} %"


def _charts(months: list[str], recognition: dict, mrr: dict, currency: str) -> dict:
    rows = {row["month"]: row for row in recognition["months"]}
    moves = mrr["months"]

    def of(key: str, sign: int = 1) -> list[Decimal]:
        return [row[key] if sign > 0 else ZERO - row[key] for row in moves]  # no "-0.00"

    return {
        "mrr": value_chart(
            months, [Series("MRR at month end", "#1565c0", of("end"))], currency=currency
        ),
        "movements": value_chart(
            months,
            [
                Series("New", "#2e7d32", of("new")),
                Series("Expansion", "#7cb342", of("expansion")),
                Series("Reactivation", "#00838f", of("reactivation")),
                Series("Contraction", "#ef6c00", of("contraction", -1)),
                Series("Churn", "#c62828", of("churn", -1)),
            ],
            currency=currency,
            totals=True,
        ),
        "deferred": value_chart(
            months,
            [
                Series(
                    "Deferred revenue at month end",
                    "#6a1b9a",
                    [rows[month]["deferred_end"] for month in months],
                )
            ],
            currency=currency,
        ),
        "recognised": value_chart(
            months,
            [Series("Recognised", "#2e7d32", [rows[month]["recognized"] for month in months])],
            currency=currency,
        ),
    }


def _totals(rows: list[dict], keys: tuple[str, ...]) -> dict[str, Decimal]:
    return {key: sum((row[key] for row in rows), ZERO) for key in keys}


def waterfall_table(report: dict) -> dict:
    """The waterfall's rows with their cells in column order (templates cannot index)."""
    columns = report["months"]

    def line(label: str, row: dict) -> dict:
        return {
            "label": label,
            "billed": row["billed"],
            "cells": [row["recognized"].get(month) for month in columns],
            "reversed": row["reversed"],
            "recognized_to_date": row["recognized_to_date"],
            "remaining": row["remaining"],
        }

    return {
        "columns": columns,
        "through": report["through"],
        "rows": [line(row["booking_month"], row) for row in report["rows"]],
        "total": line("Total", report["totals"]),
    }


def revenue_reports(*, currency: str, first: Month, last: Month, as_of: date) -> dict[str, Any]:
    """Everything the page shows for one currency and range (reads only)."""
    months = [str(month) for month in months_between(first, last)]
    recognition = recognition_report(currency=currency, first=first, last=last)
    mrr = mrr_movements_report(first=months[0], last=months[-1], currency=currency)
    for row in mrr["months"]:
        row["arr"] = round_money(row["end"] * MONTHS_PER_YEAR, currency)
    trial = trial_balance(currency=currency, through=month_end(last.first_day))
    return {
        "months": months,
        "recognition": recognition,
        "recognition_totals": _totals(recognition["months"], ("billed", "recognized")),
        "waterfall": waterfall_table(revenue_waterfall(currency=currency, first=first, last=last)),
        "roll_forward": deferred_roll_forward(currency=currency, first=first, last=last),
        "mrr": mrr,
        "mrr_totals": _totals(mrr["months"], MOVEMENTS),
        "rates": [
            (label, _percent(mrr["rates"][key]), help_text) for key, label, help_text in RATES
        ],
        "trial_balance": trial,
        "trial_totals": _totals(trial, ("debit", "credit", "balance")),
        "ageing": receivables_ageing(as_of=as_of, currency=currency),
        "charts": _charts(months, recognition, mrr, currency),
    }


def last_complete_month(at: datetime) -> Month:
    return month_before(Month.of(at.astimezone(UTC).date()))


EXPORTS = (
    ("journal", "Journal entries (CSV)"),
    ("journal-xero", "Journal entries for Xero"),
    ("journal-quickbooks", "Journal entries for QuickBooks Online"),
    ("recognition", "Recognition per month"),
    ("waterfall", "Waterfall"),
    ("roll-forward", "Deferred revenue roll-forward"),
    ("mrr-movements", "MRR movements"),
    ("ageing", "Receivables ageing"),
)


@require_safe
def revenue_page(request):
    """Recognition, deferred revenue and MRR of one currency over a range of months."""
    user = request.user
    if not user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    at = timezone.now()
    form = filter_form(request, at)
    context = {
        **admin.site.each_context(request),
        "title": "Revenue",
        "subtitle": None,
        "opts": JournalEntry._meta,
        "form": form,
        "can_post": user.has_perm(POST_PERMISSION),
        "can_close": user.has_perm(CLOSE_PERMISSION),
        "can_ageing": user.has_perm(AGEING_PERMISSION),
        "post_through": last_complete_month(at),
        "closed": MonthClose.objects.order_by("-month").first(),
        "cursor": EventCursor.objects.filter(consumer=CONSUMER).first(),
        "buckets": [(key, BUCKET_LABELS[key]) for key in BUCKETS],
        "movements": MOVEMENTS,
    }
    if form.is_valid():
        data = form.cleaned_data
        query = _encode({key: form.data[key] for key in ("currency", "from", "to", "as_of")})
        context.update(
            revenue_reports(
                currency=data["currency"],
                first=data["first"],
                last=data["last"],
                as_of=data["as_of"],
            )
        )
        context.update(
            currency=data["currency"],
            query=query,
            exports=[
                (name, label, f"{reverse('reports:revenue_export', args=[name])}?{query}")
                for name, label in EXPORTS
                if name != "ageing" or context["can_ageing"]
            ],
        )
    return TemplateResponse(request, "admin/reports/revenue.html", context)


# -- Exports -------------------------------------------------------------------------------


def _file(content: str | bytes, name: str, content_type: str = "text/csv; charset=utf-8"):
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def mrr_movements_csv(report: dict) -> str:
    """`mrr_movements_report` as CSV, one row per month (the columns of MRR_CSV_COLUMNS;
    amounts in the currency's places). The rates are over the whole range: on the page."""
    currency = report["currency"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MRR_CSV_COLUMNS)
    for month in report["months"]:
        cells = [month["month"], currency]
        for key in MRR_CSV_COLUMNS[2:]:
            value = month[key]
            cells.append(str(value) if isinstance(value, int) else format_amount(value, currency))
        writer.writerow(cells)
    return out.getvalue()


def _journal_file(kind: str, request, currency: str, first: Month, last: Month, stem: str):
    rows = journal_entries(
        date_from=first.first_day, date_to=month_end(last.first_day), currency=currency
    )
    if rows.count() > EXPORT_LIMIT:
        return None
    rows = list(rows)
    entries = [entry_out(row) for row in rows]
    if kind == "journal-quickbooks":
        names = {row.source: row.customer.name for row in rows if row.customer}
        return _file(quickbooks_journal_csv(entries, names=names), f"{stem}-quickbooks.csv")
    if kind == "journal-xero":
        tax_rate = request.GET.get("tax_rate") or XERO_TAX_RATE
        batches = xero_batches(entries)
        if len(batches) <= 1:
            return _file(xero_manual_journal_csv(entries, tax_rate=tax_rate), f"{stem}-xero.csv")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for number, batch in enumerate(batches, start=1):
                text = xero_manual_journal_csv(batch, tax_rate=tax_rate)
                archive.writestr(f"{stem}-xero-{number:03d}.csv", text)
        return _file(buffer.getvalue(), f"{stem}-xero.zip", "application/zip")
    return _file(journal_csv(entries), f"{stem}.csv")


@require_safe
def revenue_export(request, report: str):
    """One of the page's reports as a file, for the page's filters (`EXPORTS`)."""
    if report not in dict(EXPORTS):
        raise Http404("No such export.")
    needed = [VIEW_PERMISSION] + ([AGEING_PERMISSION] if report == "ageing" else [])
    if not all(request.user.has_perm(perm) for perm in needed):
        raise PermissionDenied
    form = filter_form(request, timezone.now())
    page = reverse("reports:revenue")
    if not form.is_valid():
        return redirect(f"{page}?{request.GET.urlencode()}")
    data = form.cleaned_data
    currency, first, last = data["currency"], data["first"], data["last"]
    span = f"{currency}-{first}-{last}"
    if report.startswith("journal"):
        response = _journal_file(report, request, currency, first, last, f"journal-{span}")
        if response is None:
            messages.error(request, f"More than {EXPORT_LIMIT} entries: export fewer months.")
            return redirect(f"{page}?{request.GET.urlencode()}")
        return response
    if report == "recognition":
        text = recognition_report_csv(recognition_report(currency=currency, first=first, last=last))
    elif report == "waterfall":
        text = revenue_waterfall_csv(revenue_waterfall(currency=currency, first=first, last=last))
    elif report == "roll-forward":
        text = deferred_roll_forward_csv(
            deferred_roll_forward(currency=currency, first=first, last=last)
        )
    elif report == "mrr-movements":
        text = mrr_movements_csv(
            mrr_movements_report(first=str(first), last=str(last), currency=currency)
        )
    else:  # ageing
        text = receivables_ageing_csv(receivables_ageing(as_of=data["as_of"], currency=currency))
        span = f"{currency}-{data['as_of']}"
    return _file(text, f"{report}-{span}.csv")


# -- Post recognition now ------------------------------------------------------------------


@require_POST
def revenue_recognition_post(request):
    """Post the recognition the journal does not hold yet, through the last complete month
    (finance). Back to the page with the filters it was sent from."""
    if not request.user.has_perm(POST_PERMISSION):
        raise PermissionDenied
    at = timezone.now()
    through = last_complete_month(at)
    posted = recognition_post(through=through.first_day, at=at)
    if posted:
        messages.success(
            request,
            f"Posted {posted} recognition entr{'y' if posted == 1 else 'ies'} through {through}.",
        )
    else:
        messages.info(request, f"Nothing to post: recognition through {through} is posted.")
    query = QueryDict(request.POST.get("query", ""))
    kept = {key: query[key] for key in ("currency", "from", "to", "as_of") if query.get(key)}
    page = reverse("reports:revenue")
    return redirect(f"{page}?{_encode(kept)}" if kept else page)
