"""The admin header's search box: one query finds customers (name, email, external id),
invoices (number, payment reference) and payments (gateway reference, bank transfer
reference, the reference of a payment recorded by hand), and the customers of what it found.

Exact matches on indexed columns come first (external id, invoice number, payment
reference, gateway and bank references); then a case-insensitive "contains" on names, emails
and numbers fills each list up to `LIMIT`. Each kind is searched only for staff who may view
it (the view or the change permission, as the admin's lists); the page is staff only.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from billing.invoicing.services.references import invoice_numbers_in
from billing.models import Invoice, Payment
from customers.models import Customer

LIMIT = 10
MIN_CONTAINS_LENGTH = 3  # shorter text is matched exactly only ("US" is in half the names)


def may_view(user, model) -> bool:
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    )


@dataclass
class SearchResults:
    query: str
    customers: list[Customer] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)  # the kinds this user may see

    @property
    def empty(self) -> bool:
        return not (self.customers or self.invoices or self.payments)


def _first(limit: int, *querysets: QuerySet) -> list:
    """Rows of the querysets in order, each row once, at most `limit`."""
    found: dict[int, object] = {}
    for queryset in querysets:
        if len(found) >= limit:
            break
        for row in queryset[:limit]:
            found.setdefault(row.pk, row)
            if len(found) >= limit:
                break
    return list(found.values())


def _compact(text: str) -> str:
    return re.sub(r"\s", "", text).upper()


def invoice_search(query: str, limit: int = LIMIT) -> list[Invoice]:
    rows = Invoice.objects.select_related("customer")
    numbers = [query, *invoice_numbers_in(query)]
    exact = rows.filter(Q(number__in=numbers) | Q(payment_reference=_compact(query)))
    querysets = [exact]
    if len(query) >= MIN_CONTAINS_LENGTH:
        querysets.append(rows.filter(number__icontains=query).order_by("-created_at"))
    return _first(limit, *querysets)


def payment_search(query: str, limit: int = LIMIT) -> list[Payment]:
    rows = Payment.objects.select_related("customer", "invoice")
    exact = rows.filter(
        Q(gateway_reference=query) | Q(bank_transfer__bank_reference=query)
    ).order_by("-created_at")
    querysets = [exact]
    if len(query) >= MIN_CONTAINS_LENGTH:
        querysets.append(
            rows.filter(
                Q(gateway_reference__icontains=query)
                | Q(bank_transfer__bank_reference__icontains=query)
            ).order_by("-created_at")
        )
    return _first(limit, *querysets)


def customer_search(query: str, limit: int = LIMIT, also: Sequence[int] = ()) -> list[Customer]:
    """Customers by external id or email (exact), then those of `also` (ids: the customers of
    the invoices and payments found), then by name, email or external id containing it."""
    exact = Customer.objects.filter(Q(external_id=query) | Q(email__iexact=query))
    querysets = [exact, Customer.objects.filter(pk__in=list(also)).order_by("name")]
    if len(query) >= MIN_CONTAINS_LENGTH:
        querysets.append(
            Customer.objects.filter(
                Q(name__icontains=query)
                | Q(email__icontains=query)
                | Q(external_id__icontains=query)
            ).order_by("name", "pk")
        )
    return _first(limit, *querysets)


def staff_search(*, query: str, user, limit: int = LIMIT) -> SearchResults:
    query = query.strip()[:200]
    results = SearchResults(query=query)
    if not query:
        return results
    found_customers: list[int] = []
    if may_view(user, Invoice):
        results.searched.append("invoices")
        results.invoices = invoice_search(query, limit)
        found_customers += [invoice.customer_id for invoice in results.invoices]
    if may_view(user, Payment):
        results.searched.append("payments")
        results.payments = payment_search(query, limit)
        found_customers += [payment.customer_id for payment in results.payments]
    if may_view(user, Customer):
        results.searched.append("customers")
        results.customers = customer_search(query, limit, also=found_customers)
    return results


@require_safe
def admin_search(request):
    """/admin/reports/search/?q=…: the header search box's results."""
    results = staff_search(query=request.GET.get("q", ""), user=request.user)
    can_360 = may_view(request.user, Customer)
    context = {
        **admin.site.each_context(request),
        "title": f"Search: {results.query}" if results.query else "Search",
        "subtitle": None,
        "results": results,
        "can_360": can_360,
        "limit": LIMIT,
        "list_urls": {
            "customers": reverse("admin:customers_customer_changelist"),
            "invoices": reverse("admin:billing_invoice_changelist"),
            "payments": reverse("admin:billing_payment_changelist"),
        },
    }
    return TemplateResponse(request, "admin/reports/search.html", context)
