"""The forms of the subscription console (billing/invoicing/admin/subscription_views.py):
change of plan, quantity or add-ons, a coupon, cancel now with a reason. They only collect
what a service takes; the service's own checks decide (its errors are put on the form by
`service_error_add`)."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from api.errors import DomainError
from billing.invoicing.models.credits import Coupon
from billing.invoicing.models.invoices import Invoice, InvoiceLine
from billing.invoicing.services.documents import money
from billing.subscriptions.models.subscriptions import CancelReason, Subscription
from catalog.models import AddOn, AddOnInterval, Plan

WHEN_CHANGE = [
    ("immediately", "Now: prorated from today"),
    ("period_end", "At the end of the current period (renewal)"),
]
PRORATION = [
    ("prorate", "Prorate: credit the unused part of the period, charge the rest on the new terms"),
    ("none", "No proration: the new terms apply from the part of the period not billed yet"),
]
CANCEL_PRORATION = [
    ("prorate", "Prorate: credit what was billed for the rest of the period"),
    ("none", "No proration: nothing is credited or charged"),
]
# Staff cancel on behalf of the customer (its reasons) or for their own (staff, non-payment).
STAFF_CANCEL_REASONS = [
    (CancelReason.STAFF.value, CancelReason.STAFF.label),
    (CancelReason.NONPAYMENT.value, CancelReason.NONPAYMENT.label),
    *[
        (reason.value, f"Customer: {reason.label}")
        for reason in CancelReason
        if reason not in (CancelReason.STAFF, CancelReason.NONPAYMENT)
    ],
]


def service_error_add(form: forms.Form, error: Exception) -> None:
    """A service's ValidationError or DomainError as errors of `form` (a field the form does
    not have → the form's own errors, named)."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            if name in form.fields:
                form.add_error(name, ValidationError(errors))
            else:
                label = "" if name == "__all__" else f"{name.replace('_', ' ').capitalize()}: "
                form.add_error(None, [f"{label}{message}" for e in errors for message in e])
    elif isinstance(error, ValidationError):
        form.add_error(None, error)
    elif isinstance(error, DomainError):
        name = error.field if error.field in form.fields else None
        form.add_error(name, ValidationError(error.message, code=error.code))
    else:
        raise TypeError(error)


def _every(interval: str, count: int = 1) -> str:
    return interval if count == 1 else f"{count} {interval}s"


class PlanChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, plan: Plan) -> str:
        every = _every(plan.interval, plan.interval_count)
        state = "" if plan.status == "active" else f" ({plan.get_status_display().lower()})"
        return f"{plan.name} [{plan.code}] — {money(plan.amount, plan.currency)} per {every}{state}"


class SubscriptionChangeForm(forms.Form):
    """Plan, quantity, timing, proration and one quantity field per add-on (0 = none)."""

    plan = PlanChoiceField(queryset=Plan.objects.none(), empty_label=None)
    quantity = forms.IntegerField(min_value=1, max_value=1_000_000)
    when = forms.ChoiceField(choices=WHEN_CHANGE, widget=forms.RadioSelect)
    proration = forms.ChoiceField(
        choices=PRORATION,
        widget=forms.RadioSelect,
        help_text="Only for a change made now; a change at the period end is not prorated.",
    )
    fingerprint = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, subscription: Subscription, current: dict, **kwargs):
        self.subscription = subscription
        self.current = {addon_id: row.quantity for addon_id, row in current.items()}
        initial = {
            "plan": subscription.plan_id,
            "quantity": subscription.quantity,
            "when": "immediately",
            "proration": "prorate",
        }
        super().__init__(*args, initial=initial, **kwargs)
        # Other plans in its currency (the service refuses one no longer offered, and says so).
        self.fields["plan"].queryset = Plan.objects.filter(
            Q(pk=subscription.plan_id) | Q(is_latest=True, currency=subscription.currency)
        ).order_by("amount", "name")
        self.addons = list(
            AddOn.objects.filter(
                Q(active=True, currency=subscription.currency) | Q(pk__in=list(self.current))
            ).order_by("name")
        )
        for addon in self.addons:
            every = "" if addon.interval == AddOnInterval.ONE_TIME else f" per {addon.interval}"
            self.fields[self.addon_field(addon)] = forms.IntegerField(
                required=False,
                min_value=0,
                max_value=1_000_000,
                initial=self.current.get(addon.pk, 0),
                label=f"Add-on {addon.name} ({money(addon.amount, addon.currency)}{every})",
                help_text="0: not included.",
            )

    @staticmethod
    def addon_field(addon: AddOn) -> str:
        return f"addon_{addon.pk}"

    def main_fields(self):
        return [self[name] for name in ("plan", "quantity", "when", "proration")]

    def addon_fields(self):
        return [self[self.addon_field(addon)] for addon in self.addons]

    def change_kwargs(self) -> dict:
        """The keyword arguments of billing.invoicing.services.changes.subscription_change;
        `addons` (the full set) only when one of them changes."""
        data = self.cleaned_data
        wanted = {}
        for addon in self.addons:
            quantity = data.get(self.addon_field(addon))
            wanted[addon] = self.current.get(addon.pk, 0) if quantity is None else quantity
        changed = any(wanted[addon] != self.current.get(addon.pk, 0) for addon in self.addons)
        addons = [{"addon": a, "quantity": q} for a, q in wanted.items() if q] if changed else None
        return {
            "plan": data["plan"],
            "quantity": data["quantity"],
            "when": data["when"],
            "proration": data["proration"],
            "addons": addons,
        }


@dataclass
class Renewal:
    """One recurring charge of the subscription's terms after the change."""

    description: str
    amount: Decimal
    every: str


@dataclass
class ChangePreview:
    """What a change bills: its proration lines (taxed on an unsaved invoice), when they are
    invoiced, and the recurring charges from the renewal on."""

    invoice: Invoice
    when: str
    next_invoice_at: datetime | None
    renewals: list[Renewal] = field(default_factory=list)

    @property
    def lines(self) -> list[InvoiceLine]:
        return self.invoice.preview_lines

    @property
    def currency(self) -> str:
        return self.invoice.currency

    def show(self, amount: Decimal) -> str:
        return money(amount, self.currency)

    @property
    def rows(self) -> list[dict]:
        return [
            {
                "line": line,
                "amount": self.show(line.amount),
                "tax": self.show(line.tax_amount or Decimal(0)),
            }
            for line in self.lines
        ]

    @property
    def subtotal(self) -> str:
        return self.show(self.invoice.subtotal)

    @property
    def tax(self) -> str:
        return self.show(self.invoice.tax)

    @property
    def total(self) -> str:
        return self.show(self.invoice.total)

    @property
    def renewal_rows(self) -> list[dict]:
        return [
            {"description": r.description, "amount": self.show(r.amount), "every": r.every}
            for r in self.renewals
        ]

    @property
    def renewal_total(self) -> str:
        return self.show(sum((r.amount for r in self.renewals), Decimal(0)))

    @property
    def fingerprint(self) -> str:
        """Stands for exactly these lines: the confirm step applies only the same ones."""
        parts = [self.when] + [
            f"{line.description}|{line.amount}|{line.period_start}|{line.period_end}"
            for line in self.lines
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def renewals_after(change: dict, subscription: Subscription, current: dict) -> list[Renewal]:
    """The recurring charges (before tax and usage) on the terms `change` leads to: the plan's
    base fee × quantity and each recurring add-on × its quantity, as the catalog prices them."""
    plan, quantity = change["plan"], change["quantity"]
    every = _every(plan.interval, plan.interval_count)
    rows = [Renewal(f"{plan.name} × {quantity}", plan.amount * quantity, every)]
    addons = change["addons"]
    if addons is None:
        addons = [{"addon": row.addon, "quantity": row.quantity} for row in current.values()]
    for item in addons:
        addon = item["addon"]
        if addon.interval != AddOnInterval.ONE_TIME and item["quantity"]:
            rows.append(
                Renewal(
                    f"{addon.name} × {item['quantity']}",
                    addon.amount * item["quantity"],
                    addon.interval,
                )
            )
    return rows


class CouponApplyForm(forms.Form):
    code = forms.CharField(max_length=100, label="Coupon code")
    scope = forms.ChoiceField(
        choices=[
            ("subscription", "This subscription only"),
            ("customer", "All of the customer's invoices"),
        ],
        initial="subscription",
        widget=forms.RadioSelect,
    )

    def clean_code(self) -> Coupon:
        code = self.cleaned_data["code"].strip()
        coupon = Coupon.objects.filter(code__iexact=code).first()
        if coupon is None:
            raise ValidationError(f"No coupon has the code “{code}”.", code="not_found")
        return coupon


class SubscriptionCancelForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Choose a reason…"), *STAFF_CANCEL_REASONS])
    comment = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept on the subscription with the reason.",
    )
    proration = forms.ChoiceField(
        choices=CANCEL_PRORATION, initial="prorate", widget=forms.RadioSelect
    )
