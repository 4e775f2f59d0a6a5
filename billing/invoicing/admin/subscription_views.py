"""The subscription console: the staff pages of one subscription beside its change page, each
making one service call per subscription, for staff with the billing change permission
(the finance group; see reports/staff_groups.py).

- Change plan, quantity or add-ons: the first submit shows the exact lines of
  `subscription_change(preview=True)` (the service the API's `change` uses), taxed on an
  unsaved invoice, and the recurring charges from the renewal on; Confirm previews again with
  the same inputs and applies only when the lines are still the ones shown.
- Coupons: apply one by code (`discount_apply`), remove a discount (`discount_end`).
- Pause and resume: a confirmation page each.
- Cancel now: a confirmation page with a reason, a comment and the proration, from the
  change page's button and from the list action (which lists the selected rows).

A refusal (a ValidationError, a DomainError, a TransitionNotAllowed) is shown on the form or
as a message, and nothing changes.
"""

from decimal import Decimal

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from api.errors import DomainError, error_text
from billing.invoicing.admin.subscription_forms import (
    ChangePreview,
    CouponApplyForm,
    SubscriptionCancelForm,
    SubscriptionChangeForm,
    renewals_after,
    service_error_add,
)
from billing.invoicing.models.credits import Discount
from billing.invoicing.selectors import invoice_preview
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.discounts import discount_apply, discount_end
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from billing.subscriptions.services import addons_open, subscription_pause, subscription_resume

S = SubscriptionStatus
REFUSED = (ValidationError, DomainError, TransitionNotAllowed)
CHANGEABLE = (S.ACTIVE, S.PAST_DUE, S.TRIALING, S.PENDING)
CANCELABLE = (S.PENDING, S.INCOMPLETE, S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED, S.SUSPENDED)


class SubscriptionConsoleMixin:
    """For SubscriptionAdmin: the console's URLs and pages (its "Cancel now…" list action
    shows `cancel_confirmation` first)."""

    console_views = ("change_plan", "coupons", "pause", "resume", "cancel")

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                f"<path:object_id>/{name.replace('_', '-')}/",
                self.admin_site.admin_view(getattr(self, f"{name}_view")),
                name=f"{info}_{name}",
            )
            for name in self.console_views
        ]
        return [*urls, *super().get_urls()]

    # Helpers
    def console_subscription(self, request: HttpRequest, object_id: str) -> Subscription:
        queryset = Subscription.objects.select_related("customer", "plan", "scheduled_plan")
        sub = queryset.filter(pk=unquote(object_id)).first()
        if sub is None:
            raise Http404("No such subscription.")
        if not self.has_change_permission(request, sub):
            raise PermissionDenied
        return sub

    def console_context(self, request: HttpRequest, sub: Subscription | None, title: str):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "original": sub,
            "sub": sub,
        }

    def console_page(self, request, template: str, context: dict, status: int = 200):
        names = [f"admin/billing/subscription/{template}"]
        return TemplateResponse(request, names, context, status=status)

    def change_page(self, sub: Subscription):
        return redirect(reverse("admin:billing_subscription_change", args=[sub.pk]))

    # Change of plan, quantity or add-ons
    def _preview(self, request, sub, form, current, at) -> ChangePreview | None:
        change = form.change_kwargs()
        try:
            result = subscription_change(
                subscription=sub, at=at, preview=True, actor=request.user, **change
            )
        except (ValidationError, DomainError) as error:
            service_error_add(form, error)
            return None
        invoice = invoice_preview(
            customer=sub.customer, currency=sub.currency, lines=result.proration_lines, at=at
        )
        next_at = sub.trial_end_at if sub.status in (S.TRIALING, S.PENDING) else None
        return ChangePreview(
            invoice=invoice,
            when=change["when"],
            next_invoice_at=next_at or sub.current_period_end or sub.start_at,
            renewals=renewals_after(change, sub, current),
        )

    def change_plan_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        sub = self.console_subscription(request, object_id)
        current = addons_open(sub)
        preview, status = None, 200
        if request.method != "POST":
            form = SubscriptionChangeForm(subscription=sub, current=current)
        else:
            form = SubscriptionChangeForm(request.POST, subscription=sub, current=current)
            at = timezone.now()
            if form.is_valid():
                preview = self._preview(request, sub, form, current, at)
            status = 200 if preview else 400
            if preview is not None and "_confirm" in request.POST:
                if form.cleaned_data["fingerprint"] != preview.fingerprint:
                    messages.warning(
                        request,
                        "The amounts changed since the preview you saw: check the new "
                        "preview and confirm again.",
                    )
                    status = 409
                else:
                    return self._change_apply(request, sub, form, preview, at)
        context = {
            **self.console_context(request, sub, f"Change plan, quantity or add-ons: {sub}"),
            "form": form,
            "preview": preview,
            "addons": list(current.values()),
        }
        return self.console_page(request, "change_plan.html", context, status)

    def _change_apply(self, request, sub, form, preview: ChangePreview, at) -> HttpResponse:
        try:
            result = subscription_change(
                subscription=sub, at=at, actor=request.user, **form.change_kwargs()
            )
        except (ValidationError, DomainError) as error:
            service_error_add(form, error)
            context = {
                **self.console_context(request, sub, f"Change plan, quantity or add-ons: {sub}"),
                "form": form,
                "preview": None,
                "addons": list(addons_open(sub).values()),
            }
            return self.console_page(request, "change_plan.html", context, 400)
        new = result.subscription
        data = form.cleaned_data
        if preview.when == "period_end":
            text = (
                f"Change scheduled for {new.current_period_end:%Y-%m-%d}: "
                f"{data['plan'].name} × {data['quantity']}."
            )
        else:
            total = preview.show(sum((ln.amount for ln in preview.lines), Decimal(0)))
            text = (
                f"Changed: now on {new.plan.name} × {new.quantity}; {total} (before tax) "
                "added to the customer's next invoice."
            )
        self.log_change(request, new, f"{text} (subscription console)")
        self.message_user(request, text, messages.SUCCESS)
        return self.change_page(new)

    # Coupons and discounts
    def coupons_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        sub = self.console_subscription(request, object_id)
        form, status = CouponApplyForm(), 200
        if request.method == "POST" and "_remove" in request.POST:
            discount = self._discounts(sub).filter(pk=request.POST.get("discount")).first()
            if discount is None:
                self.message_user(request, "No such discount here.", messages.ERROR)
                return redirect(request.path)
            try:
                discount_end(discount=discount, at=timezone.now(), actor=request.user)
            except REFUSED as exc:
                self.message_user(request, f"Not removed: {error_text(exc)}", messages.ERROR)
            else:
                text = f"Discount {discount.coupon.code} removed."
                self.log_change(request, sub, text)
                self.message_user(request, text, messages.SUCCESS)
            return redirect(request.path)
        if request.method == "POST":
            form = CouponApplyForm(request.POST)
            if form.is_valid():
                coupon = form.cleaned_data["code"]
                scoped = form.cleaned_data["scope"] == "subscription"
                try:
                    discount_apply(
                        coupon=coupon,
                        customer=sub.customer,
                        subscription=sub if scoped else None,
                        at=timezone.now(),
                        actor=request.user,
                    )
                except REFUSED as exc:
                    if isinstance(exc, TransitionNotAllowed):
                        exc = ValidationError(str(exc))
                    # The service names its own fields: the coupon is the form's code.
                    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
                        exc = ValidationError(
                            {
                                ("code" if name == "coupon" else name): errors
                                for name, errors in exc.error_dict.items()
                            }
                        )
                    service_error_add(form, exc)
                else:
                    text = f"Coupon {coupon.code} applied."
                    self.log_change(request, sub, text)
                    self.message_user(request, text, messages.SUCCESS)
                    return redirect(request.path)
            status = 400
        context = {
            **self.console_context(request, sub, f"Coupons and discounts: {sub}"),
            "form": form,
            "discounts": self._discounts(sub).select_related("coupon").order_by("pk"),
        }
        return self.console_page(request, "coupons.html", context, status)

    @staticmethod
    def _discounts(sub: Subscription):
        """The discounts in force on this subscription: its own and the customer's."""
        return Discount.objects.filter(customer_id=sub.customer_id, end_at__isnull=True).filter(
            subscription__isnull=True
        ) | Discount.objects.filter(subscription=sub, end_at__isnull=True)

    # Pause and resume
    def _transition_view(self, request, object_id, *, service, verb, done) -> HttpResponse:
        sub = self.console_subscription(request, object_id)
        if request.method == "POST":
            try:
                service(subscription=sub, at=timezone.now(), actor=request.user)
            except TransitionNotAllowed:
                status = sub.get_status_display().lower()
                self.message_user(
                    request, f"Not {verb}: the subscription is {status}.", messages.ERROR
                )
            except REFUSED as exc:
                self.message_user(request, f"Not {verb}: {error_text(exc)}", messages.ERROR)
            else:
                self.log_change(request, sub, f"{done} (subscription console).")
                self.message_user(request, f"{done}.", messages.SUCCESS)
            return self.change_page(sub)
        context = {
            **self.console_context(request, sub, f"{verb.capitalize()} {sub}?"),
            "verb": verb,
        }
        return self.console_page(request, "transition_confirm.html", context)

    def pause_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._transition_view(
            request, object_id, service=subscription_pause, verb="paused", done="Paused"
        )

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._transition_view(
            request, object_id, service=subscription_resume, verb="resumed", done="Resumed"
        )

    # Cancel now
    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's "Cancel now…": the list action on this one row."""
        sub = self.console_subscription(request, object_id)
        response = self.cancel_now(request, Subscription.objects.filter(pk=sub.pk))
        return response or self.change_page(sub)

    def cancel_confirmation(self, request, queryset, action: str | None) -> dict | HttpResponse:
        """The confirmation page of canceling the rows of `queryset` now (the response), or,
        once confirmed with a valid form, its data: the caller cancels the rows."""
        form, status = SubscriptionCancelForm(), 200
        if request.method == "POST" and "_confirm" in request.POST:
            form = SubscriptionCancelForm(request.POST)
            if form.is_valid():
                return form.cleaned_data
            status = 400
        rows = list(queryset.select_related("customer", "plan").order_by("pk"))
        title = "Cancel this subscription now?" if len(rows) == 1 else "Cancel these now?"
        context = {
            **self.console_context(request, rows[0] if len(rows) == 1 else None, title),
            "form": form,
            "rows": rows,
            "action": action,
            "action_checkbox_name": "_selected_action",
        }
        return self.console_page(request, "cancel_confirm.html", context, status)

    # The change page's buttons
    def console_buttons(self, request, sub: Subscription) -> dict:
        may = self.has_change_permission(request, sub)
        return {
            "console_change": may and sub.status in CHANGEABLE,
            "console_coupons": may and sub.status not in (S.CANCELED, S.EXPIRED),
            "console_pause": may and sub.status == S.ACTIVE,
            "console_resume": may and sub.status == S.PAUSED,
            "console_cancel": may and sub.status in CANCELABLE,
        }
