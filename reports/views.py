"""Read-only staff pages in the admin's chrome. Each is wrapped by `admin.site.admin_view`
(staff login) in reports/urls.py and checks its own view permission."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from customers.models import Customer
from reports.selectors import customer_360_get

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
