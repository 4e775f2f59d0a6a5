"""The customer's subscriptions: change plan, quantity or add-ons with an exact proration
preview, cancel with a reason (cancelling now has a confirmation page), pause and resume.

Permissions (provisioning/roles.py):
- seeing the list and a subscription: `VIEW`;
- previewing and applying a change of plan, quantity or add-ons: `MANAGE_BILLING` (it
  changes what is billed; owners, admins and billing users);
- cancelling, pausing and resuming: `MANAGE_ACCOUNT` (they stop the service for the whole
  team; roles.py gives it to owners only, "cancel, transfer ownership").

A change is two steps. Preview (htmx updates the preview as the user picks; without JS the
form posts and the page comes back with the preview) calls `subscription_change(preview=True)`
and shows its exact lines. The Confirm form carries the previewed inputs and a fingerprint of
the lines shown; confirming previews again with those inputs and applies only when the lines
are still the same (else it shows the new preview to confirm), so what is applied is what
was seen. Pause is offered when the plan is pausable and the subscription active; resume
when it is paused; the service's refusal is shown otherwise.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_fsm import TransitionNotAllowed

from api.errors import DomainError
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.documents import money
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import Subscription, SubscriptionStatus, cancel_reason_label
from billing.subscriptions.services import (
    addons_open,
    subscription_cancel_undo,
    subscription_pause,
    subscription_resume,
)
from portal.access import owned_or_404, portal_view
from portal.confirm import CONFIRM_FIELD, CONFIRM_VALUE, confirmed, to_confirmation
from portal.forms_manage import (
    ChangePreview,
    SubscriptionCancelForm,
    SubscriptionChangeForm,
    service_error_add,
)
from portal.templatetags.portal_billing import local_day
from provisioning.roles import Permission
from provisioning.services.seat_changes import seats_change_check

S = SubscriptionStatus
CHANGEABLE = (S.ACTIVE, S.PAST_DUE, S.TRIALING, S.PENDING)
CANCELABLE = (S.PENDING, S.INCOMPLETE, S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED, S.SUSPENDED)


def _subscription(request: HttpRequest, pk: int) -> Subscription:
    queryset = Subscription.objects.select_related("plan", "scheduled_plan", "customer")
    return owned_or_404(queryset, request.portal, pk=pk)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _detail(
    request: HttpRequest,
    sub: Subscription,
    *,
    change_form: SubscriptionChangeForm | None = None,
    preview: ChangePreview | None = None,
    cancel_form: SubscriptionCancelForm | None = None,
    status: int = 200,
) -> HttpResponse:
    portal = request.portal
    context = {
        "title": f"Subscription: {sub.plan.name}",
        "sub": sub,
        "price": money(sub.plan.amount, sub.currency),
        "addons": list(addons_open(sub).values()),
        "cancel_reason": cancel_reason_label(sub.cancel_reason),
        "can_change": portal.can(Permission.MANAGE_BILLING) and sub.status in CHANGEABLE,
        "can_cancel": portal.can(Permission.MANAGE_ACCOUNT)
        and sub.status in CANCELABLE
        and not sub.cancel_at_period_end,
        "can_pause": portal.can(Permission.MANAGE_ACCOUNT)
        and sub.status == S.ACTIVE
        and sub.plan.pausable,
        "can_resume": portal.can(Permission.MANAGE_ACCOUNT) and sub.status == S.PAUSED,
        "can_keep": portal.can(Permission.MANAGE_ACCOUNT) and sub.cancel_at_period_end,
        "change_form": change_form or SubscriptionChangeForm(subscription=sub),
        "preview": preview,
        "cancel_form": cancel_form or SubscriptionCancelForm(subscription=sub),
    }
    return render(request, "portal/subscriptions/detail.html", context, status=status)


@require_GET
@portal_view(Permission.VIEW)
def subscription_list(request: HttpRequest) -> HttpResponse:
    subscriptions = Subscription.objects.filter(customer=request.portal.customer).select_related(
        "plan", "scheduled_plan"
    )
    return render(
        request,
        "portal/subscriptions/list.html",
        {"title": "Subscriptions", "subscriptions": subscriptions},
    )


@require_GET
@portal_view(Permission.VIEW)
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _subscription(request, pk))


def _preview(
    request: HttpRequest, sub: Subscription, form: SubscriptionChangeForm, at
) -> ChangePreview | None:
    """The exact lines of the change the valid `form` asks for, or None with its errors."""
    change = form.change_kwargs()
    try:
        seats_change_check(
            subscription=sub,
            at=at,
            plan=change["plan"],
            quantity=change["quantity"],
            addons=change["addons"],
        )
        result = subscription_change(
            subscription=sub, at=at, preview=True, actor=request.user, **change
        )
    except (ValidationError, DomainError) as error:
        service_error_add(form, error)
        return None
    return ChangePreview(result.proration_lines, sub.currency, change["when"])


@require_POST
@portal_view(Permission.MANAGE_BILLING)
def subscription_change_preview(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _subscription(request, pk)
    form = SubscriptionChangeForm(request.POST, subscription=sub)
    preview = _preview(request, sub, form, timezone.now()) if form.is_valid() else None
    if _is_htmx(request):  # htmx swaps 2xx responses only: the fragment carries the errors
        context = {"sub": sub, "change_form": form, "preview": preview}
        return render(request, "portal/subscriptions/_preview.html", context)
    return _detail(request, sub, change_form=form, preview=preview, status=200 if preview else 400)


@require_POST
@portal_view(Permission.MANAGE_BILLING)
def subscription_change_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _subscription(request, pk)
    form = SubscriptionChangeForm(request.POST, subscription=sub)
    at = timezone.now()
    preview = _preview(request, sub, form, at) if form.is_valid() else None
    if preview is None:
        return _detail(request, sub, change_form=form, status=400)
    if form.cleaned_data["fingerprint"] != preview.fingerprint:
        messages.warning(
            request,
            "The amounts changed since the preview you saw. Check the new preview and "
            "confirm again.",
        )
        return _detail(request, sub, change_form=form, preview=preview, status=409)
    try:
        result = subscription_change(
            subscription=sub, at=at, actor=request.user, **form.change_kwargs()
        )
    except (ValidationError, DomainError) as error:
        service_error_add(form, error)
        return _detail(request, sub, change_form=form, status=400)
    sub = result.subscription
    if preview.when == "period_end":
        on = local_day(sub.current_period_end, sub.customer)
        messages.success(
            request,
            f"Change scheduled: from {on} you will be on "
            f"{form.cleaned_data['plan'].name} × {form.cleaned_data['quantity']}.",
        )
    else:
        messages.success(
            request,
            f"Subscription changed: now on {sub.plan.name} × {sub.quantity}. "
            f"{preview.total_display} is added to your next invoice.",
        )
    return redirect("portal:subscription", pk=sub.pk)


def cancel_now_consequences(sub: Subscription) -> list[str]:
    """What cancelling `sub` now does, in the customer's words."""
    if sub.status == S.TRIALING:
        return [
            "Your trial ends today and the service stops now for your whole team.",
            "You won't be charged.",
            "This cannot be undone: to use the service again you will need a new subscription.",
        ]
    sentences = ["The subscription ends now and the service stops today for your whole team."]
    if sub.status in (S.ACTIVE, S.PAST_DUE, S.SUSPENDED) and sub.current_period_end:
        end = local_day(sub.current_period_end, sub.customer)
        sentences.append(
            f"Unused time up to {end} is credited, and any days used but not billed yet are "
            "charged, on your next invoice."
        )
    sentences.append(
        "Add-ons and usage end with it. Invoices already issued stay due."
        if sub.status != S.PENDING
        else "Nothing has been billed for it."
    )
    sentences.append(
        "This cannot be undone: to use the service again you will need a new subscription."
    )
    return sentences


def _cancel_confirmation(
    request: HttpRequest, sub: Subscription, form: SubscriptionCancelForm, status: int = 200
) -> HttpResponse:
    """The confirmation page of "cancel now": what happens, the reason and comment (which
    may still be changed), and Confirm."""
    context = {
        "title": f"Cancel {sub.plan.name} now?",
        "sub": sub,
        "form": form,
        "consequences": cancel_now_consequences(sub),
        "confirm_field": CONFIRM_FIELD,
        "confirm_value": CONFIRM_VALUE,
    }
    return render(request, "portal/subscriptions/cancel_confirm.html", context, status=status)


@require_http_methods(["GET", "POST"])
@portal_view(Permission.MANAGE_ACCOUNT)
def subscription_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel at the period end (it can be undone: "Keep my subscription"), or now, which
    has a confirmation step: GET (`?when=immediately&reason=…`) shows what cancelling now
    does; a POST of "now" without the confirmation is sent there (303)."""
    sub = _subscription(request, pk)
    if request.method == "GET":
        if sub.status not in CANCELABLE:
            messages.error(request, "This subscription cannot be canceled.")
            return redirect("portal:subscription", pk=sub.pk)
        form = SubscriptionCancelForm(subscription=sub)
        if "reason" in request.GET:  # from the subscription's page: what was chosen there
            data = {"reason": request.GET["reason"], "comment": request.GET.get("comment", "")}
            form = SubscriptionCancelForm({**data, "when": "immediately"}, subscription=sub)
            form.is_valid()  # a bad reason shows its error on the page
        return _cancel_confirmation(request, sub, form)
    form = SubscriptionCancelForm(request.POST, subscription=sub)
    if not form.is_valid():
        if request.POST.get("when") == "immediately" and confirmed(request):
            return _cancel_confirmation(request, sub, form, status=400)
        return _detail(request, sub, cancel_form=form, status=400)
    data = form.cleaned_data
    if data["when"] == "immediately" and not confirmed(request) and sub.status in CANCELABLE:
        query = urlencode({"reason": data["reason"], "comment": data["comment"]})
        return to_confirmation(f"{reverse('portal:subscription_cancel', args=[sub.pk])}?{query}")
    try:
        sub = subscription_cancel(
            subscription=sub,
            at=timezone.now(),
            when=data["when"],
            reason=data["reason"],
            comment=data["comment"],
            actor=request.user,
        )
    except TransitionNotAllowed:
        status = sub.get_status_display().lower()
        messages.error(request, f"This subscription is {status}: it cannot be canceled.")
        return _detail(request, sub, cancel_form=form, status=400)
    except (ValidationError, DomainError) as error:
        service_error_add(form, error)
        return _detail(request, sub, cancel_form=form, status=400)
    if sub.cancel_at_period_end and sub.status == S.TRIALING:
        on = local_day(sub.trial_end_at, sub.customer)
        messages.success(request, f"Your trial ends on {on}; you won't be charged.")
    elif sub.cancel_at_period_end:
        on = local_day(sub.current_period_end, sub.customer)
        messages.success(
            request,
            f"Your subscription will be canceled on {on}, at the end of the current period.",
        )
    else:
        messages.success(request, "Your subscription is canceled.")
    return redirect("portal:subscription", pk=sub.pk)


def _transition(request: HttpRequest, pk: int, service, verb: str, done: str) -> HttpResponse:
    sub = _subscription(request, pk)
    try:
        service(subscription=sub, at=timezone.now(), actor=request.user)
    except TransitionNotAllowed:
        messages.error(
            request,
            f"This subscription is {sub.get_status_display().lower()}: it cannot be {verb}.",
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("portal:subscription", pk=sub.pk)


@require_POST
@portal_view(Permission.MANAGE_ACCOUNT)
def subscription_pause_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(
        request,
        pk,
        subscription_pause,
        "paused",
        "Subscription paused: billing stops until you resume it.",
    )


@require_POST
@portal_view(Permission.MANAGE_ACCOUNT)
def subscription_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, subscription_resume, "resumed", "Subscription resumed.")


@require_POST
@portal_view(Permission.MANAGE_ACCOUNT)
def subscription_keep_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo a cancellation scheduled for the period end."""
    return _transition(
        request,
        pk,
        subscription_cancel_undo,
        "kept",
        "Your subscription is kept: it renews as before.",
    )
