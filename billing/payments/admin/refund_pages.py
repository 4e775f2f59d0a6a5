"""Refunds in the payments console (mixed into `PaymentAdmin`): "Refund (all that is left)…"
from the list and a payment's "Refund…" page, for any part of what is left. Both confirm
first — the amount, what stays refundable after it, where it goes — with a reason kept on
the refund and its `payment.refunded` event; then `payment_refund` once per payment. A
refusal (checked again by the service) comes back on the form and changes nothing."""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from api.errors import DomainError, error_text
from billing.payments.models.payments import Payment, Refund, RefundStatus
from billing.payments.services.refunds import REFUNDABLE, payment_refund, payment_refundable
from catalog.money import format_amount
from catalog.validators import validate_money_places

REFUSED = (DomainError, TransitionNotAllowed, ValidationError)
REFUND_CONFIRM_TEMPLATE = "admin/billing/payment_refund_confirm.html"


def add_service_errors(form: forms.Form, exc: Exception) -> None:
    """A service's refusal on the form: field errors on their fields, the rest on top."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error_text(exc))


def refund_failure(refund: Refund) -> str | None:
    if refund.status == RefundStatus.FAILED:
        return refund.failure_message or "The gateway refused the refund."
    return None


class RefundForm(forms.Form):
    """A refund of part (or all) of what is left: checked here against what is left and the
    currency's decimals, so the confirmation shows only a refund the service will take (it
    checks again: a refund made meanwhile comes back as an error)."""

    amount = forms.DecimalField(max_digits=19, decimal_places=4)
    reason = forms.CharField(max_length=300, help_text="Kept on the refund and its event.")

    def __init__(self, *args, payment: Payment, left: Decimal | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.payment, self.left = payment, left
        if left is not None:
            self.fields["amount"].help_text = (
                f"At most {format_amount(left, payment.currency)} {payment.currency} "
                "(left to refund); less refunds part of the payment."
            )

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise ValidationError("Give an amount above 0.")
        try:
            validate_money_places(amount, self.payment.currency)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        if self.left is not None and amount > self.left:
            left = format_amount(self.left, self.payment.currency)
            raise ValidationError(f"At most {left} is left to refund.")
        return amount


class RefundReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Kept on each refund and its event.",
    )


class RefundPagesMixin:
    """For `PaymentAdmin` (its `per_row`, `form_page` and displays)."""

    @admin.action(permissions=["act"], description="Refund (all that is left)…")
    def refund_selected(self, request, queryset):
        """A confirmation page (what each payment pays back, a reason) first; then
        `payment_refund` per row."""
        posted = request.POST.get("post") == "yes"
        form = RefundReasonForm(request.POST if posted else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self.per_row(
                request,
                queryset,
                payment_refund,
                "Refunded",
                failure=refund_failure,
                reason=reason,
            )
            return None
        payments = list(queryset.select_related("customer", "method").order_by("pk"))
        rows = [
            {
                "payment": payment,
                "amount": self.amount_display(payment),
                "left": self.refundable(payment) if payment.status in REFUNDABLE else "",
                "method": self.method_label(payment),
                "refused": ""
                if payment.status in REFUNDABLE
                else f"not possible: the payment is {payment.get_status_display().lower()}",
            }
            for payment in payments
        ]
        context = {**self.admin_site.each_context(request), "opts": self.opts}
        context.update(title="Refund payments", form=form, rows=rows, payments=payments)
        return TemplateResponse(request, REFUND_CONFIRM_TEMPLATE, context)

    def refund_view(self, request, pk: int):
        if not self.has_act_permission(request):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("customer", "method"), pk=pk)
        left = payment_refundable(payment) if payment.status in REFUNDABLE else None
        form = RefundForm(
            request.POST or None, initial={"amount": left}, payment=payment, left=left
        )
        confirm = None
        if request.method == "POST" and left is None:
            form.add_error(
                None, f"Payment #{payment.pk} is {payment.status}; it cannot be refunded."
            )
        elif request.method == "POST" and form.is_valid() and "_confirm" not in request.POST:
            amount = form.cleaned_data["amount"]
            confirm = {
                "amount": f"{format_amount(amount, payment.currency)} {payment.currency}",
                "partial": amount < left,
                "left_after": f"{format_amount(left - amount, payment.currency)} "
                f"{payment.currency}",
                "to": self.method_label(payment),
                "reason": form.cleaned_data["reason"],
            }
        elif request.method == "POST" and form.is_valid():
            try:
                refund = payment_refund(
                    payment=payment,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    at=timezone.now(),
                    actor=request.user,
                )
            except REFUSED as exc:
                add_service_errors(form, exc)
            else:
                failed = refund_failure(refund)
                text = f"{refund}: {failed}" if failed else f"{refund} done."
                self.message_user(request, text, messages.ERROR if failed else messages.SUCCESS)
                return redirect("admin:billing_payment_change", payment.pk)
        return self.form_page(
            request, form, title=f"Refund payment #{pk}", payment=payment, confirm=confirm
        )
