"""The account at a glance, and the plan's terms (read-only; any role may see them)."""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from portal.access import portal_view
from portal.selectors_account import account_overview, customer_plan_terms
from provisioning.roles import Permission


@require_GET
@portal_view(Permission.VIEW)
def overview(request):
    return render(
        request,
        "portal/account/overview.html",
        {
            "title": "Overview",
            "overview": account_overview(customer=request.portal.customer, at=timezone.now()),
            "can_pay": request.portal.can(Permission.MANAGE_BILLING),
        },
    )


@require_GET
@portal_view(Permission.VIEW)
def terms(request):
    return render(
        request,
        "portal/account/terms.html",
        {
            "title": "Plan terms",
            "plans": customer_plan_terms(customer=request.portal.customer, at=timezone.now()),
        },
    )
