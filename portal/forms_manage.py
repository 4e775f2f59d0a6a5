"""Forms of the portal's subscription, team, seats and API-key pages.

Forms only parse and label input; the services validate the business rules and
`service_error_add` turns their refusals into form errors (a refused POST saves nothing).
"""

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.db.models import Q

from api.errors import DomainError
from billing.invoicing.services.documents import money
from billing.models import (
    CUSTOMER_CANCEL_REASONS,
    InvoiceLine,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services import addons_open
from catalog.models import AddOn, Feature, Plan, PlanStatus
from customers.dates import customer_day
from customers.models import Customer, CustomerRole, CustomerUser
from provisioning.services.keys import SCOPES

# Why a customer cancels: Stripe's cancellation-feedback codes, which billing already stores
# in Subscription.cancel_reason (API and tests use "too_expensive"; dunning stores
# "nonpayment" with churn "involuntary", staff "staff" — neither is offered here).
WHEN_CHANGE = [
    ("immediately", "Now (prorated for the rest of the period)"),
    ("period_end", "At the end of the current period"),
]
WHEN_CANCEL = [
    ("period_end", "At the end of the current period"),
    ("immediately", "Immediately (unused time is credited)"),
]
OVERLAP_HOURS = [
    (0, "Stop the old key now"),
    (1, "1 hour"),
    (24, "24 hours"),
    (168, "7 days"),
    (720, "30 days"),
]


def service_error_add(form: forms.Form, error: Exception) -> None:
    """A service's ValidationError or DomainError as errors of `form` (unknown fields → the
    form's own errors)."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, ValidationError(errors))
    elif isinstance(error, ValidationError):
        form.add_error(None, error)
    elif isinstance(error, DomainError):
        field = error.field if error.field in form.fields else None
        form.add_error(field, ValidationError(error.message, code=error.code))
    else:
        raise TypeError(error)


class PortalForm(forms.Form):
    """No colon after labels; ids prefixed by `id_prefix` so two forms on a page never share
    an id (a label must point at its own input)."""

    id_prefix = "id"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


# Subscriptions
def plans_offered(sub: Subscription):
    """The plans `sub` may move to (current, offered, same currency), cheapest first."""
    return Plan.objects.filter(
        Q(pk=sub.plan_id) | Q(status=PlanStatus.ACTIVE, is_latest=True, currency=sub.currency)
    ).order_by("amount", "name")


def addons_offered(sub: Subscription, current: dict) -> list[AddOn]:
    """Add-ons offered in the subscription's currency, and those it has now."""
    return list(
        AddOn.objects.filter(
            Q(active=True, currency=sub.currency) | Q(pk__in=list(current))
        ).order_by("name")
    )


class PlanChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, plan: Plan) -> str:
        every = (
            plan.interval if plan.interval_count == 1 else f"{plan.interval_count} {plan.interval}s"
        )
        return f"{plan.name} — {money(plan.amount, plan.currency)} per {every}"


class SubscriptionChangeForm(PortalForm):
    """Plan, quantity, timing and the add-ons (one quantity field each; 0 = none)."""

    id_prefix = "change"

    plan = PlanChoiceField(queryset=Plan.objects.none(), empty_label=None, label="Plan")
    quantity = forms.IntegerField(min_value=1, max_value=100_000, label="Quantity (seats)")
    when = forms.ChoiceField(choices=WHEN_CHANGE, label="When", widget=forms.RadioSelect)
    fingerprint = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, subscription: Subscription, **kwargs):
        self.subscription = subscription
        current = addons_open(subscription)
        self.current = {addon_id: row.quantity for addon_id, row in current.items()}
        initial = {
            "plan": subscription.plan_id,
            "quantity": subscription.quantity,
            "when": "immediately",
        }
        super().__init__(*args, initial=initial | kwargs.pop("initial", {}), **kwargs)
        self.fields["plan"].queryset = plans_offered(subscription)
        self.addons = addons_offered(subscription, current)
        for addon in self.addons:
            row = current.get(addon.pk)
            every = "" if addon.interval == "one_time" else f" per {addon.interval}"
            self.fields[self.addon_field(addon)] = forms.IntegerField(
                required=False,
                min_value=0,
                max_value=100_000,
                initial=row.quantity if row else 0,
                label=f"{addon.name} ({money(addon.amount, addon.currency)}{every})",
                help_text="0 = not included; blank = keep as is",
            )

    @staticmethod
    def addon_field(addon: AddOn) -> str:
        return f"addon_{addon.pk}"

    def addon_fields(self):
        return [self[self.addon_field(addon)] for addon in self.addons]

    def change_kwargs(self) -> dict:
        """The keyword arguments of billing.invoicing.services.changes.subscription_change."""
        data = self.cleaned_data
        return {
            "plan": data["plan"],
            "quantity": data["quantity"],
            "when": data["when"],
            "addons": [
                {"addon": addon, "quantity": quantity}
                for addon in self.addons
                if (quantity := self._addon_quantity(addon))
            ],
        }

    def _addon_quantity(self, addon: AddOn) -> int:
        """The quantity asked for `addon` (blank: what it has now)."""
        quantity = self.cleaned_data.get(self.addon_field(addon))
        return self.current.get(addon.pk, 0) if quantity is None else quantity


@dataclass
class ChangePreview:
    """What a change would bill now (before tax), for the page."""

    lines: list[InvoiceLine]
    currency: str
    when: str

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def total_display(self) -> str:
        return money(self.total, self.currency)

    @property
    def rows(self) -> list[tuple[InvoiceLine, str]]:
        return [(line, money(line.amount, self.currency)) for line in self.lines]

    @property
    def fingerprint(self) -> str:
        """Stands for exactly these lines: the confirm step applies only the same ones."""
        parts = [self.when] + [
            f"{line.description}|{line.amount}|{line.period_start}|{line.period_end}"
            for line in self.lines
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


class SubscriptionCancelForm(PortalForm):
    id_prefix = "cancel"

    when = forms.ChoiceField(choices=WHEN_CANCEL, label="When", widget=forms.RadioSelect)
    reason = forms.ChoiceField(
        choices=[("", "Choose a reason…"), *CUSTOMER_CANCEL_REASONS], label="Reason"
    )
    comment = forms.CharField(
        required=False,
        max_length=2000,
        label="Comment (optional)",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, subscription: Subscription | None = None, **kwargs):
        super().__init__(*args, initial={"when": "period_end"}, **kwargs)
        if subscription is not None:
            self.fields["when"].choices = cancel_choices(subscription)


def cancel_choices(sub: Subscription) -> list[tuple[str, str]]:
    """What each choice does to this subscription, with the customer's day it happens."""
    if sub.status == SubscriptionStatus.TRIALING and sub.trial_end_at:
        on = customer_day(sub.trial_end_at, sub.customer)
        return [
            ("period_end", f"At the end of the trial: it ends on {on}; you won't be charged"),
            ("immediately", "Now: the trial ends today; you won't be charged"),
        ]
    if sub.current_period_end and sub.status != SubscriptionStatus.PENDING:
        on = customer_day(sub.current_period_end, sub.customer)
        return [("period_end", f"At the end of the current period, on {on}"), WHEN_CANCEL[1]]
    return WHEN_CANCEL


# Team and seats
def roles_grantable(by: CustomerUser) -> list[tuple[str, str]]:
    """Roles `by` may give: an owner any; others every role but owner."""
    return [
        (value, label)
        for value, label in CustomerRole.choices
        if by.role == CustomerRole.OWNER or value != CustomerRole.OWNER
    ]


class TeamMemberAddForm(PortalForm):
    id_prefix = "add"

    email = forms.EmailField(label="Email")
    role = forms.ChoiceField(choices=CustomerRole.choices, label="Role")

    def __init__(self, *args, by: CustomerUser, **kwargs):
        super().__init__(*args, initial={"role": CustomerRole.MEMBER}, **kwargs)
        self.fields["role"].choices = roles_grantable(by)


class TeamMemberRoleForm(PortalForm):
    id_prefix = "role"

    role = forms.ChoiceField(choices=CustomerRole.choices, label="Role")

    def __init__(self, *args, by: CustomerUser, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles_grantable(by)


class SeatAssignForm(PortalForm):
    id_prefix = "seat"

    feature = forms.ModelChoiceField(
        queryset=Feature.objects.none(), label="Seat", empty_label="Choose a seat…"
    )
    member = forms.ModelChoiceField(
        queryset=CustomerUser.objects.none(), label="Member", empty_label="Choose a member…"
    )

    def __init__(self, *args, customer: Customer, features: list[Feature], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["feature"].queryset = Feature.objects.filter(
            pk__in=[feature.pk for feature in features]
        ).order_by("code")
        self.fields["member"].queryset = (
            CustomerUser.objects.filter(customer=customer)
            .select_related("user")
            .order_by("user__email")
        )
        self.fields["member"].label_from_instance = lambda member: member.user.email


class PasswordSetEmailForm(PasswordResetForm):
    """Django's reset email, sent to one login that has no usable password yet (a new
    member) so it can set one (Django's own form skips such logins)."""

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__({"email": user.email}, *args, **kwargs)

    def get_users(self, email):
        return get_user_model()._default_manager.filter(pk=self.user.pk, is_active=True)


# API keys
class ServiceKeyCreateForm(PortalForm):
    id_prefix = "key"

    name = forms.CharField(max_length=100, label="Name")
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        label="Scopes",
        initial=["read"],
    )


class ServiceKeyRotateForm(PortalForm):
    id_prefix = "rotate"

    overlap_hours = forms.TypedChoiceField(
        choices=OVERLAP_HOURS,
        coerce=int,
        initial=24,
        label="Keep the old key working for",
    )
