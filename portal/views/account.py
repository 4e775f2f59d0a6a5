"""The account at a glance, the plan's terms (read-only; any role may see them) and the
optional emails the customer wants (billing managers choose)."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from customers.forms_notices import NoticesOptedOutField
from customers.models import NON_ESSENTIAL_NOTICES, NoticeKind
from customers.notices import notices_opt_out_set
from portal.access import permission_refused, portal_view
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


class EmailsForm(forms.Form):
    notices_opted_out = NoticesOptedOutField(
        label="Emails you do not want",
        help_text="Receipts, invoices, failed payments, cancellations and account "
        "suspensions are always sent.",
    )


@require_http_methods(["GET", "POST"])
@portal_view(Permission.VIEW)
def emails(request):
    """Which optional emails the account gets: any role sees, billing managers change."""
    customer = request.portal.customer
    can_change = request.portal.can(Permission.MANAGE_BILLING)
    if request.method == "POST":
        if not can_change:
            return permission_refused(request, Permission.MANAGE_BILLING)
        form = EmailsForm(request.POST)
        if form.is_valid():
            notices_opt_out_set(customer=customer, kinds=form.cleaned_data["notices_opted_out"])
            messages.success(request, "Your email preferences are saved.")
            return redirect("portal:emails")
    else:
        form = EmailsForm(initial={"notices_opted_out": customer.notices_opted_out})
    essential = [k.label for k in NoticeKind if k not in NON_ESSENTIAL_NOTICES]
    return render(
        request,
        "portal/account/emails.html",
        {"title": "Emails", "form": form, "can_change": can_change, "essential": essential},
    )
